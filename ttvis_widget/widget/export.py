"""Export of what a view shows: ``w.save_png(path, scale=2)`` and ``w.save_animation(path, epochs, seconds,
fps)`` (WebM, or GIF when the path ends in .gif), and the view's export buttons.

The browser renders (js/src/capture.js: the canvas as drawn, at ``scale``, with the legend; the animation
frame by frame at the widget's own time, recorded by MediaRecorder) and sends the bytes back. The kernel decides
every path (the browser never names one), accepts bytes only in answer to an export it asked for, bounds and
checks them (a PNG of the size it claims, a WebM whose container parses, PNG frames for a GIF), and writes the
file atomically.

Timing: the bytes arrive as a widget message, which the kernel handles between cells. So ``save_png`` returns
an :class:`ExportJob` at once; the file is written as soon as the view answers (after the current cell when
the kernel is busy). In a notebook, ``await w.save_png(...)`` waits for it inside the cell (ipykernel 7
handles widget messages while a cell awaits). Without a displayed view there is nobody to render: both calls
raise :class:`NoViewError`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
import re
import threading
import uuid
from pathlib import Path

from ..store.atomic import atomic_write_bytes
from .fields import Buffers, Choice, Flag, Int, Token
from .messages import MessageRefused, message
from .webm import WebMError, read_webm

MAX_SIDE = 16384            # px, either side of an exported image or video frame
SCALE = (0.25, 8.0)
MAX_PNG_BYTES = 256 << 20   # one PNG (a 16k x 16k RGBA image compresses far below this)
MAX_VIDEO_BYTES = 512 << 20
MAX_SECONDS = 600.0
FPS = (1, 60)
MAX_FRAMES = 3600
FRAMES_PER_MESSAGE = 16     # GIF frames travel as PNGs, this many per message
MAX_FRAMES_BYTES = 256 << 20  # one message of GIF frames
TIMEOUT_S = 120.0           # a PNG; an animation adds its own length
FAILURES = ("no_webgl", "no_mediarecorder", "too_large", "busy", "failed")

__all__ = ["ExportJob", "NoViewError", "ExportMixin", "default_name"]


class NoViewError(RuntimeError):
    """An export was asked of a widget that no browser view displays (the browser renders exports)."""


class ExportJob:
    """One export in flight. ``path`` (where it will be written), ``kind`` ("png" | "webm" | "gif"), ``done``,
    ``error`` (None or the reason), ``info`` (width, height, and for animations frames and duration_s).
    ``await job`` waits for it in a notebook cell and raises the error, if any; ``job.result(timeout)``
    blocks (from another thread only: the kernel's own thread must return to receive the bytes)."""

    def __init__(self, owner, kind: str, path: Path, request: dict, timeout: float):
        self.id = uuid.uuid4().hex[:16]
        self.kind, self.path, self.request = kind, Path(path), dict(request)
        self.info: dict = {}
        self.error: str | None = None
        self._owner = owner
        self._future: concurrent.futures.Future = concurrent.futures.Future()
        self._frames: list[bytes] = []
        self._timer = threading.Timer(timeout, self._timeout, args=(timeout,))
        self._timer.daemon = True

    @property
    def done(self) -> bool:
        return self._future.done()

    def _finish(self, error: str | None = None) -> None:
        self._timer.cancel()
        self._owner._exports.pop(self.id, None)
        self._frames = []
        if self._future.done():
            return
        self.error = error
        if error:
            self._future.set_exception(RuntimeError(f"export to {self.path} failed: {error}"))
        else:
            self._future.set_result(self.path)
        try:
            self._owner.send({"type": "export_done", "id": self.id, "ok": error is None,
                              "path": str(self.path), "message": error or f"saved {self.path.name}"})
        except Exception:  # noqa: BLE001 - a closed comm: the job still records the outcome
            pass

    def _timeout(self, seconds):
        self._finish(f"no view answered within {seconds:.0f} s (is the widget still displayed?)")

    def result(self, timeout: float | None = None) -> Path:
        return self._future.result(timeout)

    def __await__(self):
        return asyncio.wrap_future(self._future).__await__()

    def __repr__(self) -> str:
        state = "written" if self.done and not self.error else ("failed: " + self.error if self.error else "pending")
        return f"<ExportJob {self.kind} {str(self.path)!r} {state}>"


def default_name(widget, suffix: str) -> str:
    """``<dataset>-<method>-epoch<e>.<suffix>`` with anything but letters, digits, ``.``/``_``/``-`` replaced."""
    info = widget.info
    raw = f"{info.get('name') or 'ttvis'}-{info.get('method') or ''}-epoch{widget.epoch}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("_.") + suffix


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for i in range(2, 10_000):
        p = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not p.exists():
            return p
    raise FileExistsError(f"no free name next to {path}")


def _png_size(data: memoryview) -> tuple[int, int]:
    b = bytes(data[:24])
    if len(b) < 24 or b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        raise MessageRefused("buffers", "is not a PNG image")
    return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")


class ExportMixin:
    """The export half of :class:`TimeTravelWidget`: Python API, view bookkeeping and the export messages."""

    # ---- views that can render (a view announces itself with its stream request; says bye on close) -----
    def _view_opened(self, rid: str) -> None:
        views = self.__dict__.setdefault("_live_views", [])
        if rid in views:
            views.remove(rid)
        getattr(self, "_paced", {}).pop(rid, None)  # a closed view's stream is not waited for
        views.append(rid)
        del views[:-64]
        for job in list(self.__dict__.get("_exports", {}).values()):
            if job.request.get("target") is None:  # asked before any view existed: this one renders it
                job.request["target"] = rid
                self._send_export(job)

    @message("bye", rid=Token())
    def _on_bye(self, rid):
        """A view was closed (cell re-run, output cleared): it can no longer render exports."""
        views = self.__dict__.setdefault("_live_views", [])
        if rid in views:
            views.remove(rid)
        getattr(self, "_paced", {}).pop(rid, None)  # a closed view's stream is not waited for
        if getattr(self, "_streams", None) is not None:  # live/windowed streams stop feeding it (live.py)
            self._streams.close(rid)

    def _track_display(self) -> None:
        """Note when the widget is displayed, so an export asked in the next cell (before the view's first
        message arrives, as in Run All) waits for that view instead of failing. An instance attribute wrapping
        anywidget's own ``_repr_mimebundle_`` (the class keeps anywidget's, and with it Colab's support)."""
        base = self._repr_mimebundle_

        def repr_mimebundle(**kwargs):
            self._displayed = True
            return base(**kwargs)

        self._repr_mimebundle_ = repr_mimebundle

    @property
    def has_view(self) -> bool:
        """True when a browser view of this widget is open (or the widget was displayed and its view is due)."""
        return bool(self.__dict__.get("_live_views")) or bool(self.__dict__.get("_displayed"))

    # ---- Python API ------------------------------------------------------------------------------------
    def save_png(self, path=None, scale: float = 2.0, territory_opacity: float | None = None,
                 territory_extent: str | None = None) -> ExportJob:
        """Write the current view (points, territory, trails when shown, legend) as the browser renders it, at
        ``scale`` times the view's size, to ``path`` (default: ``<dataset>-<method>-epoch<e>.png`` in the
        kernel's working directory; relative paths are taken from there). ``territory_opacity`` (0..1) and
        ``territory_extent`` ("support" | "full") apply to this picture only (default: the widget's traits;
        the view keeps its own). Returns an :class:`ExportJob` (the file is written when the view answers;
        ``await`` it to wait in the cell). Raises :class:`NoViewError` when no view is displayed."""
        s = float(scale)
        if not SCALE[0] <= s <= SCALE[1]:
            raise ValueError(f"scale must be in [{SCALE[0]}, {SCALE[1]}], got {scale}")
        style = self.territory_overrides(territory_opacity, territory_extent)
        p = self._export_path(path, (".png",), ".png")
        return self._start_export("png", p, {"scale": s, **style}, TIMEOUT_S)

    def save_animation(self, path=None, epochs=None, seconds: float = 10.0, fps: int = 30) -> ExportJob:
        """Record the view travelling through ``epochs`` (None: all; or (first, last) recorded epochs) in
        ``seconds`` at ``fps`` frames per second, frames driven by the widget's own time (a slow machine makes
        the same frames), as WebM (MediaRecorder in the browser) or, when ``path`` ends in .gif, a GIF made with
        Pillow from the captured frames. Default path ``<dataset>-<method>-epoch<e>.webm`` in the kernel's
        working directory. Returns an :class:`ExportJob`; raises :class:`NoViewError` without a view."""
        p = self._export_path(path, (".webm", ".gif"), ".webm")
        kind = "gif" if p.suffix.lower() == ".gif" else "webm"
        req = self._animation_request(epochs, seconds, fps)
        return self._start_export(kind, p, req, TIMEOUT_S + 3 * req["seconds"])

    def _animation_request(self, epochs, seconds, fps) -> dict:
        secs = float(seconds)
        if not 0 < secs <= MAX_SECONDS:
            raise ValueError(f"seconds must be in (0, {MAX_SECONDS:.0f}], got {seconds}")
        if int(fps) != fps or not FPS[0] <= int(fps) <= FPS[1]:
            raise ValueError(f"fps must be an integer in [{FPS[0]}, {FPS[1]}], got {fps}")
        fps = int(fps)
        frames = max(2, int(round(secs * fps)))
        if frames > MAX_FRAMES:
            raise ValueError(f"{frames} frames ({secs} s x {fps} fps) exceed the limit of {MAX_FRAMES}")
        k0, k1 = self._epoch_span(epochs)
        return {"k0": k0, "k1": k1, "seconds": secs, "fps": fps, "frames": frames}

    def _epoch_span(self, epochs) -> tuple[int, int]:
        if epochs is None:
            return 0, len(self.epochs) - 1
        eps = [int(e) for e in epochs]
        bad = [e for e in eps if e not in self.epochs]
        if not eps or bad:
            raise ValueError(f"epochs must be recorded epochs (first, last); not recorded: {bad or 'none given'}; "
                             f"recorded: {self.epochs[0]}..{self.epochs[-1]}")
        k = sorted(self.epochs.index(e) for e in eps)
        if k[0] == k[-1]:
            raise ValueError("an animation needs two different epochs")
        return k[0], k[-1]

    def _export_path(self, path, suffixes, default_suffix) -> Path:
        if path is None:
            p = _unique(Path.cwd() / default_name(self, default_suffix))
        else:
            p = Path(os.fspath(path)).expanduser()
            if not p.is_absolute():
                p = Path.cwd() / p
            if p.suffix.lower() not in suffixes:
                raise ValueError(f"{p.name}: the file name must end in {' or '.join(suffixes)}")
        if p.is_dir():
            raise IsADirectoryError(f"{p} is a folder; give a file name")
        if not p.parent.is_dir():
            raise FileNotFoundError(f"folder {p.parent} does not exist")
        return p

    def _start_export(self, kind: str, path: Path, req: dict, timeout: float, target: str | None = None) -> ExportJob:
        if not self.has_view:
            raise NoViewError(f"save_{'png' if kind == 'png' else 'animation'}() needs the widget displayed: the "
                              "browser renders the image. Show the widget in a notebook cell first (put `w` on "
                              "the last line of a cell), then call it again.")
        exports = self.__dict__.setdefault("_exports", {})
        busy = [j for j in exports.values() if j.kind != "png"]
        if kind != "png" and busy:
            raise RuntimeError(f"an animation is already being recorded ({busy[0].path.name}); wait for it")
        views = self.__dict__.get("_live_views") or []
        target = target or (views[-1] if views else None)  # the latest view renders it; or the first to open
        job = ExportJob(self, kind, path, {**req, "target": target}, timeout)
        exports[job.id] = job
        job._timer.start()
        if target:
            self._send_export(job)
        return job

    def _send_export(self, job: ExportJob) -> None:
        r = job.request
        msg = {"type": "export", "id": job.id, "kind": "png" if job.kind == "png" else
               ("frames" if job.kind == "gif" else "webm"), "target": r["target"]}
        msg.update({k: v for k, v in r.items() if k != "target"})
        self.send(msg)

    # ---- what a view sends --------------------------------------------------------------------------
    @message("export_request", kind=Choice("png", "webm", "gif"), rid=Token())
    def _on_export_request(self, kind, rid):
        """A view's export button: the kernel names the file (working directory) and asks that view for it."""
        self._view_opened(rid)
        suffix = "." + kind
        p = self._export_path(None, (suffix,), suffix)
        if kind == "png":
            self._start_export("png", p, {"scale": 2.0}, TIMEOUT_S, target=rid)
        else:
            req = self._animation_request(None, min(10.0, max(2.0, len(self.epochs) / 2)), 30)
            self._start_export(kind, p, req, TIMEOUT_S + 3 * req["seconds"], target=rid)

    def _job(self, id_, kind) -> ExportJob:
        job = self.__dict__.get("_exports", {}).get(id_)
        if job is None:
            raise MessageRefused("id", "names no export the kernel asked for (or one already finished)")
        want = {"png": "png", "webm": "webm", "gif": "frames"}[job.kind]
        if kind != want:
            raise MessageRefused("kind", f"this export expects {want!r}, got {kind!r}")
        return job

    @message("export_data", id=Token(), kind=Choice("png", "webm", "frames"), width=Int(1, MAX_SIDE),
             height=Int(1, MAX_SIDE), seq=Int(0, MAX_FRAMES, optional=True, default=0),
             last=Flag(optional=True, default=True),
             buffers=Buffers(max_count=FRAMES_PER_MESSAGE, max_bytes=MAX_VIDEO_BYTES))
    def _on_export_data(self, id, kind, width, height, seq, last, buffers, rid=None):  # noqa: A002 - the field's name
        job = self._job(id, kind)
        if not buffers:
            raise MessageRefused("buffers", "carries no data")
        if kind == "png":
            if len(buffers) != 1 or buffers[0].nbytes > MAX_PNG_BYTES:
                raise MessageRefused("buffers", f"a PNG export is one buffer of at most {MAX_PNG_BYTES} bytes")
            self._check_png(buffers[0], width, height)
            atomic_write_bytes(job.path, bytes(buffers[0]))
            job.info = {"width": width, "height": height, "bytes": buffers[0].nbytes}
            job._finish()
        elif kind == "webm":
            if len(buffers) != 1:
                raise MessageRefused("buffers", "a WebM export is one buffer")
            data = bytes(buffers[0])
            try:
                info = read_webm(data)
            except WebMError as exc:
                raise MessageRefused("buffers", f"is not a readable WebM: {exc}") from None
            if info.frames == 0:
                raise MessageRefused("buffers", "the WebM holds no video frame")
            atomic_write_bytes(job.path, data)
            job.info = {"width": width, "height": height, "frames": info.frames, "bytes": len(data),
                        "duration_s": info.duration_s(job.request["fps"])}
            job._finish()
        else:
            self._add_frames(job, seq, buffers, width, height, last)

    def _check_png(self, buf, width, height) -> None:
        w, h = _png_size(buf)
        if (w, h) != (width, height):
            raise MessageRefused("buffers", f"the PNG is {w}x{h}, the message says {width}x{height}")
        from PIL import Image

        try:
            Image.open(io.BytesIO(bytes(buf))).verify()
        except Exception as exc:  # noqa: BLE001 - any decoder complaint is a refusal
            raise MessageRefused("buffers", f"the PNG does not decode: {type(exc).__name__}") from None

    def _add_frames(self, job: ExportJob, seq: int, buffers, width: int, height: int, last: bool) -> None:
        if seq != len(job._frames):
            raise MessageRefused("seq", f"expected frame {len(job._frames)}, got {seq}")
        if sum(b.nbytes for b in buffers) > MAX_FRAMES_BYTES or len(job._frames) + len(buffers) > job.request["frames"]:
            raise MessageRefused("buffers", "more frames or bytes than the animation asked for")
        for b in buffers:
            self._check_png(b, width, height)
            job._frames.append(bytes(b))
        if last:
            self._write_gif(job, width, height)

    def _write_gif(self, job: ExportJob, width: int, height: int) -> None:
        from PIL import Image

        frames = [Image.open(io.BytesIO(f)).convert("RGB") for f in job._frames]
        if not frames:
            raise MessageRefused("buffers", "no frames")
        # one palette for all frames, from a sample of up to 16 of them side by side (small copies), so colours
        # do not flicker between frames
        step = max(1, len(frames) // 16)
        sample = [f.resize((max(1, f.width // 4), max(1, f.height // 4))) for f in frames[::step][:16]]
        sheet = Image.new("RGB", (sum(x.width for x in sample), max(x.height for x in sample)), "white")
        x = 0
        for f in sample:
            sheet.paste(f, (x, 0))
            x += f.width
        pal = sheet.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
        frames = [f.quantize(palette=pal, dither=Image.Dither.NONE) for f in frames]
        out = io.BytesIO()
        ms = int(round(1000 / job.request["fps"]))
        frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0)
        atomic_write_bytes(job.path, out.getvalue())
        job.info = {"width": width, "height": height, "frames": len(frames), "bytes": out.tell(),
                    "duration_s": len(frames) * ms / 1000}
        job._finish()

    @message("export_failed", id=Token(), reason=Choice(*FAILURES))
    def _on_export_failed(self, id, reason, rid=None):  # noqa: A002
        job = self.__dict__.get("_exports", {}).get(id)
        if job is None:
            raise MessageRefused("id", "names no export in flight")
        text = {"no_webgl": "the view has no WebGL2 canvas to render",
                "no_mediarecorder": "this browser cannot record WebM (no MediaRecorder/captureStream)",
                "too_large": "the image is larger than this browser can render",
                "busy": "the view is already recording", "failed": "the view could not render it"}[reason]
        job._finish(text)
