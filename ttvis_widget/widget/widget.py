"""``TimeTravelWidget``: an anywidget that scrubs a fitted visualization run through training time.

Synced traits are small (view state only). The per-epoch positions, predictions, confidences and territory
images travel as binary custom messages (see :mod:`.transport`) when a view asks for them, so they are never
part of the saved notebook state, and every new view of the same widget gets its own copy.

What a view sends is untrusted: custom messages are declared with ``@message`` next to their handlers and
browser-writable traits with ``browser=`` in their tags; :mod:`.messages` checks both before anything runs.
"""
from __future__ import annotations

import operator
import threading
from itertools import islice
from pathlib import Path

import anywidget
import numpy as np
import traitlets as t

from ..palette import class_colors_hex
from . import interrupt
from . import transport as tr
from .debugger import DebuggerMixin
from .background import BackgroundMixin
from .export import ExportMixin
from .fields import ClassIds, Choice, Epoch, Flag, Index, Indices, Number, Record, Token
from .messages import CheckedComm, MessageRouter, message
from .territory_style import TerritoryStyle

STATIC = Path(__file__).resolve().parent.parent / "static"
BUNDLE = STATIC / "widget.js"

_MISSING_BUNDLE_ESM = """
export default { render({ el }) {
  el.innerHTML = '<div class="ttvis-root ttvis-error" style="padding:12px;border:1px solid #c33;color:#c33;'
    + 'font-family:sans-serif">ttvis_widget: the front-end bundle was not built. Run '
    + '<code>cd js &amp;&amp; npm install &amp;&amp; npm run build</code> and restart the kernel.</div>';
} };
"""

FILTER_DEFAULTS = {"labels": None, "predictions": None, "split": "all", "correctness": "all"}
SPLITS = ("train", "test", "all")
CORRECTNESS = ("correct", "incorrect", "all")
POINT_SIZE = (0.5, 64.0)
SPEED = (0.05, 100.0)  # epochs per second
VIEW_TRAITS = ("epoch", "time", "selection", "color_by", "filters", "point_size", "show_territory",
               "territory_opacity", "territory_extent", "playing", "speed")


def _is_visrun(obj) -> bool:
    return all(hasattr(obj, a) for a in ("embeddings", "bounds", "epochs", "dynamics"))


def resolve_run(source=None, method: str = "dvi", run=None, **fit_params):
    """A VisRun from a VisRun, a content path or a TrainingDynamics (fitted or loaded from the run cache)."""
    if run is not None:
        if not _is_visrun(run):
            raise TypeError(f"run= must be a VisRun (from ttvis_widget.fit); got {type(run).__name__}")
        return run
    if source is None:
        raise TypeError("TimeTravelWidget needs a content path, a TrainingDynamics or a VisRun")
    if _is_visrun(source):
        return source
    import ttvis_widget

    fit_params.setdefault("progress", True)
    return ttvis_widget.fit(source, method=method, **fit_params)


def _last_epoch_index(w) -> int:
    """E-1"""
    return len(w.epochs) - 1


class TimeTravelWidget(BackgroundMixin, DebuggerMixin, ExportMixin, TerritoryStyle, CheckedComm, anywidget.AnyWidget):
    """Time-travelling scatterplot of a training run.

    ``TimeTravelWidget(content_path | TrainingDynamics | VisRun, method="dvi", run=None, **fit_params)``

    Synced (both ways): ``epoch`` (a recorded epoch number), ``time`` (position on the timeline in units of
    recorded epochs: 0 = first recorded epoch, fractional while scrubbing or playing), ``selection``
    (sample indices), ``hovered`` (-1 for none), ``color_by`` ("label" | "prediction"), ``filters``
    (``labels``/``predictions``: class ids or None, ``split``: "train"|"test"|"all", ``correctness``:
    "correct"|"incorrect"|"all"), ``point_size``, ``show_territory``, ``territory_opacity`` (0..1) and
    ``territory_extent`` ("support" | "full"; territory_style.py), ``playing``, ``speed`` (epochs/s).

    Debugger (``DebuggerMixin``, widget/debugger.py): ``events``, ``neighbors(i)``, ``similar(query)``,
    ``influence(i)``, ``vis_errors(epoch)``, ``top_predictions(i)``, ``prediction_history(i)``.
    """

    _esm = BUNDLE if BUNDLE.exists() else _MISSING_BUNDLE_ESM
    #: compute/send the territories of epochs after the first in a background thread, so the kernel stays
    #: free while a method computes them on first use (the first epoch's goes right after its positions)
    territories_in_background = True
    #: send everything after the first epoch from a background thread too (compare() sets it on its two
    #: widgets, so the second view's first epoch does not wait for the first view's whole stream)
    stream_in_background = False

    # ``browser=``: the check a view's update of the trait must pass (messages.py); traits without it are
    # read-only from the browser. The @validate methods below still normalize values set from Python.
    info = t.Dict().tag(sync=True)
    epoch = t.Int(0).tag(sync=True, browser=Epoch())
    time = t.Float(0.0).tag(sync=True, browser=Number(0.0, _last_epoch_index))
    selection = t.List(t.Int()).tag(sync=True, browser=Indices())
    hovered = t.Int(-1).tag(sync=True, browser=Index(allow_none_value=True))
    color_by = t.Enum(["label", "prediction"], default_value="label").tag(sync=True,
                                                                           browser=Choice("label", "prediction"))
    filters = t.Dict().tag(sync=True, browser=Record(
        labels=ClassIds(optional=True), predictions=ClassIds(optional=True), split=Choice(*SPLITS),
        correctness=Choice(*CORRECTNESS)))
    point_size = t.Float(4.0).tag(sync=True, browser=Number(*POINT_SIZE))
    show_territory = t.Bool(True).tag(sync=True, browser=Flag())
    playing = t.Bool(False).tag(sync=True, browser=Flag())
    speed = t.Float(2.0).tag(sync=True, browser=Number(*SPEED))
    status = t.Unicode("").tag(sync=True)
    #: the background fit (background.py): state, stage, epochs_done, epochs_total, eta_s, error; read-only
    progress = t.Dict().tag(sync=True)

    def __init__(self, source=None, method: str = "dvi", run=None, live: bool = False, background: bool = True,
                 **kwargs):
        """``live``: follow a recording that a SummaryWriter is still writing (new epochs are fitted and shown
        as they are recorded, until ``stop()``). ``background=False``: fit in the constructor (the old way)."""
        view = {k: kwargs.pop(k) for k in list(kwargs) if k in VIEW_TRAITS}
        self._fit = None
        self._streams = None
        if run is None and source is not None and not _is_visrun(source) and (background or live):
            self._start_background(source, method, live, kwargs)
        else:
            self.run = resolve_run(source, method=method, run=run, **kwargs)
        self.dynamics = self.run.dynamics
        self.dynamics.persist_summaries = True  # every reopening reads them from the results folder
        self.epochs = [int(e) for e in self.run.epochs]
        self._window_if_large()
        self._payload: tr.Payload | None = None
        self._territory_ok: bool | None = None
        self._class_count: int | None = None
        self._terr_lock = threading.RLock()
        self._terr_threads: list[threading.Thread] = []
        self._paced: dict[str, bool] = {}  # views whose stream waits for their first frame (_on_drawn)
        d = self.dynamics
        names = d.class_names or []
        info = {
            "name": str(getattr(d, "name", "")), "n": int(d.n_samples), "epochs": self.epochs,
            "method": str(getattr(self.run, "method", method)), "classes": list(names),
            "colors": class_colors_hex(len(names)), "media": d.media,
            "has_labels": d.labels is not None, "bounds": [float(b) for b in self.run.bounds],
            "n_train": int((d.split == 0).sum()), "n_test": int((d.split == 1).sum()),
        }
        super().__init__(info=info, epoch=self.epochs[0], filters=dict(FILTER_DEFAULTS))
        for k, v in view.items():
            setattr(self, k, v)
        self._debugger_init()
        self._messages = MessageRouter(self)
        self.on_msg(self._messages.dispatch)
        self._track_display()
        if self._fit is not None:
            self.progress = dict(self._fit.progress)
            self._fit.start()
            interrupt.watch(self._fit)  # the kernel's interrupt button stops it while no cell runs

    # ---- what a view sends: untrusted, checked by messages.CheckedComm ---------------------------------
    @property
    def class_count(self) -> int:
        """Class ids a view may name (in filters): the number of classes, or the wire's limit when unknown."""
        if self._class_count is None:
            c = len(self.info.get("classes") or []) or self.dynamics.n_classes
            self._class_count = int(c) if c else tr.NO_CLASS
        return self._class_count

    @message("request", rid=Token(), paced=Flag(optional=True, default=False))
    def _on_request(self, rid, paced=False):
        """A view renders and asks for its own data stream (it can render exports from now on: export.py).
        ``paced``: the view sends ``drawn`` after its first frame, and the rest of a ready run's stream waits for
        it (the browser handles a kernel's messages one after another before it paints: a whole stream sent at
        once delayed the first frame by seconds)."""
        self._view_opened(rid)
        if self._streams is not None:
            self._streams.open(rid)
            if self._complete and self._territory_ok is not False:
                self._in_background(self._send_territories, rid, 0)
        else:
            self._send_data(rid, paced)

    @message("drawn", rid=Token())
    def _on_drawn(self, rid):
        """A paced view drew its first frame: the rest of its stream follows (once; later ``drawn`` are ignored)."""
        if self._paced.pop(rid, False):
            self._send_rest(rid, islice(tr.chunk_messages(self.payload, rid), 1, None))

    @message("sample", index=Index())
    def _on_sample(self, index, rid=None):
        """A view hovers sample ``index`` and wants its image or text."""
        self._send_sample(index, rid)

    def _on_custom_msg(self, _widget, content, buffers):
        """The custom-message callback (kept for callers of the old name): see :meth:`MessageRouter.dispatch`."""
        self._messages.dispatch(self, content, buffers)

    # ---- trait validation and the epoch <-> time link ---------------------------------------------
    @t.validate("epoch")
    def _valid_epoch(self, proposal):
        e = int(proposal["value"])
        if hasattr(self, "epochs") and e not in self.epochs:
            raise t.TraitError(f"epoch {e} was not recorded; recorded epochs: {self.epochs}")
        return e

    @t.validate("time")
    def _valid_time(self, proposal):
        v = float(proposal["value"])
        if not np.isfinite(v):
            raise t.TraitError("time must be finite")
        hi = len(self.epochs) - 1 if hasattr(self, "epochs") else 0
        return min(max(v, 0.0), float(hi))

    @t.observe("epoch")
    def _epoch_changed(self, change):
        k = self.epochs.index(change["new"])
        if int(round(self.time)) != k:
            self.time = float(k)

    @t.observe("time")
    def _time_changed(self, change):
        e = self.epochs[int(round(change["new"]))]
        if e != self.epoch:
            self.epoch = e

    @t.validate("selection")
    def _valid_selection(self, proposal):
        sel = sorted({int(i) for i in proposal["value"]})
        if hasattr(self, "dynamics") and sel and (sel[0] < 0 or sel[-1] >= self.dynamics.n_samples):
            raise t.TraitError(f"selection indices must be in [0, {self.dynamics.n_samples})")
        return sel

    @t.validate("hovered")
    def _valid_hovered(self, proposal):
        i = int(proposal["value"])
        if hasattr(self, "dynamics") and not -1 <= i < self.dynamics.n_samples:
            raise t.TraitError(f"hovered must be -1 (none) or a sample index in [0, {self.dynamics.n_samples})")
        return i

    @t.validate("filters")
    def _valid_filters(self, proposal):
        f = dict(FILTER_DEFAULTS)
        given = dict(proposal["value"] or {})
        unknown = set(given) - set(FILTER_DEFAULTS)
        if unknown:
            raise t.TraitError(f"unknown filter keys {sorted(unknown)}; known: {sorted(FILTER_DEFAULTS)}")
        f.update(given)
        for key in ("labels", "predictions"):
            if f[key] is not None:
                try:  # integers only (numpy's too): a float or a string is an error, not a class id
                    f[key] = sorted({operator.index(c) for c in f[key]})
                except TypeError:
                    raise t.TraitError(f'filters["{key}"] must be a list of class ids (integers) or None') from None
        if f["split"] not in SPLITS:
            raise t.TraitError('filters["split"] must be "train", "test" or "all"')
        if f["correctness"] not in CORRECTNESS:
            raise t.TraitError('filters["correctness"] must be "correct", "incorrect" or "all"')
        return f

    @staticmethod
    def _clamped(name, value, lo_hi):
        v = float(value)
        if not np.isfinite(v):
            raise t.TraitError(f"{name} must be finite, got {v}")
        return float(min(max(v, lo_hi[0]), lo_hi[1]))

    @t.validate("point_size")
    def _valid_point_size(self, proposal):
        return self._clamped("point_size", proposal["value"], POINT_SIZE)

    @t.validate("speed")
    def _valid_speed(self, proposal):
        return self._clamped("speed", proposal["value"], SPEED)

    # ---- data for the front end -------------------------------------------------------------------
    @property
    def payload(self) -> tr.Payload:
        """Wire arrays, computed per epoch when first sent (so the first epoch goes out early)."""
        if self._payload is None:
            d = self.dynamics
            has_pred = d.prediction(self.epochs[0]) is not None
            eps = self.epochs
            self._payload = tr.build_payload(
                lambda k: self.run.embedding(eps[k]), self.run.bounds, eps, d.labels, d.split,
                predictions=(lambda k: d.predicted_class(eps[k])) if has_pred else None,
                confidence=(lambda k: d.confidence(eps[k])) if has_pred else None, n=d.n_samples)
        return self._payload

    def _territory_png(self, k: int) -> bytes | None:
        with self._terr_lock:
            p = self.payload
            if k in p.territories:
                return p.territories[k]
            if self._territory_ok is False or not hasattr(self.run, "territory"):
                return None
            try:
                terr = self.run.territory(self.epochs[k])
            except NotImplementedError:
                terr = None
            if terr is None:
                self._territory_ok = False
                return None
            self._territory_ok = True
            png = terr.png()
            p.territories[k] = png
            return png

    def _send_data(self, rid: str, paced: bool = False) -> None:
        """Answer one view's request: meta, the first epoch, its territory, the other epochs, ``done``;
        then the other epochs' territories. With ``territories_in_background`` (the default) the territories are
        sent from a background thread; with ``stream_in_background`` everything after the first epoch is too,
        so the next view's request (the second view of a comparison) is answered without waiting for this
        view's whole stream. ``paced``: what follows the first epoch's territory waits for the view's ``drawn``."""
        p = self.payload
        self.send(*tr.meta_message(p, rid))
        chunks = tr.chunk_messages(p, rid)
        self.send(*next(chunks))  # the first epoch first
        if paced:
            chunks.close()  # no prefetching threads kept waiting for a view that may never draw
        try:
            first = self._territory_png(0)
        except Exception as exc:  # noqa: BLE001 - territories are optional; points must still show
            self._territory_ok = False
            self.status = f"territories unavailable: {type(exc).__name__}: {exc}"
            first = None
        if first is not None:
            self.send(*next(tr.territory_messages(iter([(0, first)]), rid)))
        if paced:
            self._paced[rid] = True
        else:
            self._send_rest(rid, chunks)

    def _in_background(self, fn, *args) -> None:
        th = threading.Thread(target=fn, args=args, daemon=True, name=f"ttvis-stream-{args[0]}")
        self._terr_threads = [t for t in self._terr_threads if t.is_alive()] + [th]
        th.start()

    def _send_rest(self, rid: str, chunks) -> None:
        """The stream after the first epoch: here, or in a thread with ``stream_in_background``."""
        if self.stream_in_background:
            self._in_background(self._stream_rest, rid, chunks, True)
        else:
            self._stream_rest(rid, chunks, False)

    def _stream_rest(self, rid: str, chunks, in_thread: bool) -> None:
        for msg in chunks:
            self.send(*msg)
        self.send(*tr.done_message(rid))
        if self._territory_ok and len(self.epochs) > 1:
            if in_thread or not self.territories_in_background:
                self._send_territories(rid)
            else:
                self._in_background(self._send_territories, rid)

    def _send_territories(self, rid: str, first: int = 1) -> None:
        try:
            pairs = ((k, self._territory_png(k)) for k in range(first, len(self.epochs)))
            for msg in tr.territory_messages(((k, png) for k, png in pairs if png is not None), rid):
                self.send(*msg)
        except Exception as exc:  # noqa: BLE001 - report in the view instead of a thread traceback
            self.status = f"territories unavailable: {type(exc).__name__}: {exc}"

    def wait_for_territories(self, timeout: float | None = None) -> None:
        """Block until the background territory senders have finished (tests, scripts)."""
        for th in list(self._terr_threads):
            th.join(timeout)

    def _send_sample(self, i: int, rid=None) -> None:
        """Send sample ``i``'s image (PNG buffer) or text; a sample that cannot be read sends its error instead."""
        d = self.dynamics
        content = {"type": "sample", "index": i, "rid": rid, "media": d.media}
        bufs = []
        try:
            if d.media == "image":
                png = d.sample_image(i)
                if png is not None:
                    bufs = [png]
            elif d.media == "text":
                content["text"] = d.sample_text(i)
        except Exception as exc:  # a broken sample must not break the widget
            content["error"] = f"{type(exc).__name__}: {exc}"
        self.send(content, buffers=bufs)

    # ---- Python API -------------------------------------------------------------------------------
    def sample_info(self, i: int, epoch: int | None = None) -> dict:
        """Index, label, prediction, confidence, split and position of sample ``i`` at ``epoch`` (default: current)."""
        d = self.dynamics
        i = int(i)
        if not 0 <= i < d.n_samples:
            raise IndexError(f"sample {i} out of range [0, {d.n_samples})")
        e = self.epoch if epoch is None else int(epoch)
        names = d.class_names or []
        lab = None if d.labels is None else int(d.labels[i])
        pred = d.predicted_class(e)
        conf = d.confidence(e)
        out = {"index": i, "epoch": e, "label": lab, "label_name": names[lab] if lab is not None and lab < len(names) else None,
               "prediction": None if pred is None else int(pred[i]),
               "confidence": None if conf is None else float(conf[i]),
               "split": "test" if d.split[i] == 1 else "train",
               "xy": [float(v) for v in self.run.embedding(e)[i]]}
        out["prediction_name"] = (names[out["prediction"]] if out["prediction"] is not None
                                  and out["prediction"] < len(names) else None)
        return out

    def find(self, i: int) -> dict:
        """Centre every view on sample ``i``, mark it, and return :meth:`sample_info` for it."""
        info = self.sample_info(i)
        self.send({"type": "focus", "index": int(i)})
        return info

    def positions(self, epoch: int | None = None) -> np.ndarray:
        """float32 [N, 2] 2-D positions at ``epoch`` (default: the current one)."""
        return self.run.embedding(self.epoch if epoch is None else int(epoch))

    def chart(self, height: int = 320):
        """A plotly FigureWidget of the per-epoch training figures (and the run's faithfulness metrics when
        already computed), linked both ways: click an epoch to go there; a marker follows ``w.time`` (chart.py)."""
        from .chart import make_chart

        return make_chart(self, height=height)

    def play(self, speed: float | None = None) -> None:
        if speed is not None:
            self.speed = speed
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    def __repr__(self) -> str:
        i = self.info
        return (f"<TimeTravelWidget {i.get('name')!r} method={i.get('method')} N={i.get('n')} "
                f"epochs={len(self.epochs)} epoch={self.epoch} selected={len(self.selection)}>")
