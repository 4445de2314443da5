"""The widget's fit controller: fits a run in a background thread (``BackgroundFit``) and, with ``live=True``,
follows a recording that a ``SummaryWriter`` is still writing; ``FittingRun`` is the ``VisRun`` face of a run
whose epochs are still arriving.

A thread, not a worker process: the run folder is the channel either way (each epoch's embedding file is
written last and atomically), the heavy parts of a fit (torch, numba) release the GIL, and a process would pay
its own torch import and data load (seconds) before the first epoch. The fit's torch threads are the method's
own (``num_threads``, min(2, cores)); in live mode, where the kernel also trains, the fit uses one.

Epochs are reported to the ``sink`` (the widget) in order, from this thread: ``_fit_epochs(epochs)`` (the
recorded epochs, growing in live mode), ``_fit_preview(epoch, again)`` (provisional positions, before the epoch is
finished: DVI's layout, then its encoder, has placed it; ``again``: replaces the previous preview),
``_fit_ready(epoch, changed)`` (its embedding is
final in the run folder; ``changed``: it differs from the epoch's preview, which was shown),
``_fit_progress(progress)``, ``_fit_finished(run)`` (a VisRun of every recorded epoch), ``_fit_withdrawn(epoch)`` (a
previewed epoch whose fit stopped or failed before it was finished) and ``_fit_failed(exc)``.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..engine.driver import FitStopped
from .fields import Int, Token
from .messages import message

POLL_S = 0.5  # how often live mode looks at the recording's manifest, and a follower at the run folder


class FittingRun:
    """What the widget shows while its run is fitted: ``epochs`` (all recorded), ``ready`` (fitted, in order),
    ``previewed`` (epoch -> provisional positions of an epoch not finished yet), ``embedding(e)`` of a ready
    epoch (from the run folder) or a previewed one; territories, inverse and metrics once the fit is
    complete (``final``, the VisRun)."""

    def __init__(self, dynamics, method: str, epochs, plan_=None):
        self.plan = None
        self.method = method
        self.params: dict = {}
        self.dynamics = dynamics
        self.epochs = list(epochs)
        self.path = None
        if plan_ is not None:
            self.set_plan(plan_)
        self.manifest: dict = {}
        self.ready: list[int] = []
        self.previewed: dict[int, np.ndarray] = {}
        self.final = None
        self._emb: dict[int, np.ndarray] = {}

    def embedding(self, epoch) -> np.ndarray:
        e = int(epoch)
        if self.final is not None and e in self.final.epochs:
            return self.final.embedding(e)
        if e not in self.ready and e in self.previewed:
            return self.previewed[e]
        if e not in self.ready:
            raise KeyError(f"epoch {e} is not fitted yet (the fit runs in the background: w.wait() blocks until it "
                           f"has caught up); fitted so far: {self.ready}")
        if e not in self._emb:
            self._emb[e] = np.asarray(self.plan.store.load_embedding(e), dtype=np.float32)
        return self._emb[e]

    @property
    def shown(self) -> list[int]:
        """Epochs the views may show: the fitted ones and the previewed ones."""
        return self.ready + [e for e in self.previewed if e not in self.ready]

    def embeddings(self) -> np.ndarray:
        return np.stack([self.embedding(e) for e in self.epochs], 0)

    def set_plan(self, plan_) -> None:
        self.plan, self.method, self.params = plan_, plan_.method, dict(plan_.params)
        self.dynamics, self.epochs, self.path = plan_.dynamics, list(plan_.epochs), plan_.path

    @property
    def bounds(self):
        if self.final is not None:
            return self.final.bounds
        from ..engine.run import global_bounds

        shown = self.shown
        return global_bounds(self.embedding(e) for e in shown) if shown else (0.0, 0.0, 1.0, 1.0)

    @property
    def has_inverse(self) -> bool:
        return self.final is not None and self.final.has_inverse

    def territory(self, epoch, resolution=None):
        return None if self.final is None else self.final.territory(epoch, resolution)

    def __getattr__(self, name):  # transform, inverse, metrics, border_points: the finished run's
        if name in ("transform", "inverse", "metrics", "border_points", "border_embedding"):
            final = self.__dict__.get("final")
            if final is None:
                raise RuntimeError(f"run.{name}() needs the finished fit: call w.wait() first")
            return getattr(final, name)
        raise AttributeError(name)


def _passive_openmp() -> None:
    """Idle OpenMP threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE) when torch has not started its
    pool yet: a fit thread beside a training loop (or the other's spinning threads) on shared cores otherwise
    stalls both. Read once by the OpenMP runtime at its start, so it is only set (never overridden) before torch
    is imported; notebooks/live.ipynb sets it itself in its first cell."""
    import os
    import sys

    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class BackgroundFit:
    """Fit ``source`` (a content path or a TrainingDynamics) with ``method`` and ``fit_params`` in a thread,
    reporting to ``sink``; ``live``: keep following the recording for new epochs until ``stop()``."""

    def __init__(self, source, method: str, fit_params: dict, live: bool, sink):
        _passive_openmp()
        from ..engine.api import plan

        self.source = source
        self.method = method
        self.params = dict(fit_params)
        self.params["progress"] = False
        self.live = bool(live)
        if self.live and not isinstance(source, (str, bytes)) and not hasattr(source, "__fspath__"):
            raise TypeError("live=True follows a content path that a SummaryWriter writes; got "
                            f"{type(source).__name__}")
        self.sink = sink
        from .. import load
        from ..engine import registry
        from ..engine.api import _select_epochs

        dyn = load(source)
        name = registry.canonical(method)
        epochs = _select_epochs(dyn, self.params.get("epochs"))
        # the plan (and so the run cache's answer) needs the method's class, whose import starts torch: seconds
        # in a fresh kernel. Planned here only when that is already paid, else first thing in the thread.
        mod = registry.METHODS[name].split(":")[0]
        self.plan = plan(dyn, method, **self._plan_params()) if f"ttvis_widget.engine{mod}" in sys.modules else None
        self.run = FittingRun(dyn, name, epochs, self.plan)
        if self.plan is not None:
            self._check_live()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._idle = threading.Event()  # set while caught up (nothing left to fit) or ended
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.perf_counter()
        self._epoch_s: list[float] = []
        self.epoch_info: dict[int, dict] = {}  # the fit's per-epoch figures (seconds of graph, training, ...)
        self.progress = {"state": "starting", "stage": "", "epochs_done": 0, "epochs_total": len(self.run.epochs),
                         "eta_s": None, "error": None}

    def _check_live(self) -> None:
        if self.live and not self.plan.estimator.per_epoch:
            from ..engine import registry

            per_epoch = [m for m in registry.names() if registry.method_class(m)[1].per_epoch]
            raise ValueError(f"live=True needs a method that fits epoch after epoch ({', '.join(per_epoch)}): "
                             f"{self.plan.method} fits all epochs at once, so every new epoch would refit (and move) "
                             "all the others; fit it once the training has ended")

    def _plan_params(self) -> dict:
        p = dict(self.params)
        if self.live:
            from ..engine import registry

            if "num_threads" in registry.method_class(self.method)[1]._param_names():
                p.setdefault("num_threads", 1)  # the kernel trains beside the fit
        return p

    # ---- control ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, daemon=True, name="ttvis-fit")
        self._thread.start()

    def stop(self) -> None:
        """Stop at the next epoch boundary (the run folder keeps every finished epoch: fitting again resumes)."""
        self._stop.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the fit has caught up with the recording (or ended); True when it has."""
        ok = self._idle.wait(timeout)
        if self.error is not None:
            raise self.error
        return ok

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the thread --------------------------------------------------------------------------------------
    def _report(self, **kw) -> None:
        self.progress = {**self.progress, **kw}
        self.sink._fit_progress(dict(self.progress))

    def _eta(self, left: int):
        if not self._epoch_s:
            return None
        recent = self._epoch_s[-5:]
        return float(np.mean(recent) * left)

    def _announce_finished(self) -> None:
        """Report the epochs the run folder already holds (a resumed or followed fit), in order."""
        for e in self.plan.epochs:
            if e in self.run.ready:
                continue
            if not self.plan.store.has_embedding(e):
                break
            self.run.ready.append(e)
            self.sink._fit_ready(e)

    def _main(self) -> None:
        try:
            if self.plan is None:
                from ..engine.api import plan

                self._report(stage=f"loading {self.method}")
                self.plan = plan(self.run.dynamics, self.method, **self._plan_params())
                self.run.set_plan(self.plan)
                self._check_live()
            if self._stop.is_set():  # stopped before anything started
                raise FitStopped([], list(self.plan.epochs))
            while True:
                self._fit_once()
                if not self.live or self._stop.is_set():
                    break
                self._idle.set()
                self._report(state="following", stage="waiting for new epochs", eta_s=None)
                if not self._wait_for_epochs():
                    break
                self._idle.clear()
            self._report(state="stopped" if self._stop.is_set() and self.run.final is None else "done", eta_s=None,
                         stage="")
        except FitStopped:
            self._withdraw_previews()
            self._report(state="stopped", stage=f"stopped after {len(self.run.ready)} epochs (fit again to resume)",
                         eta_s=None)
        except BaseException as exc:  # noqa: BLE001 - shown in the widget, re-raised by wait()
            self._withdraw_previews()
            self.error = exc
            self._report(state="error", stage="", error=f"{type(exc).__name__}: {exc}", eta_s=None)
            try:
                self.sink._fit_failed(exc)
            except Exception:  # noqa: BLE001
                pass
        finally:
            self._ended.set()
            self._idle.set()

    def _withdraw_previews(self) -> None:
        """The fit ended without finishing its previewed epochs: the views stop showing them."""
        for e in [e for e in self.run.previewed if e not in self.run.ready]:
            self.run.previewed.pop(e, None)
            try:
                self.sink._fit_withdrawn(e)
            except Exception:  # noqa: BLE001 - the fit's own outcome is what gets reported
                pass

    def _fit_once(self) -> None:
        from ..engine.api import fit

        p = self.plan
        self._announce_finished()
        total = len(p.epochs)
        self._report(state="fitting", epochs_done=len(self.run.ready), epochs_total=total,
                     stage=f"{p.method}: fitting epoch {p.epochs[min(len(self.run.ready), total - 1)]}",
                     eta_s=self._eta(total - len(self.run.ready)))
        last = [time.perf_counter()]

        def on_preview(e, emb):  # shown at once; the epoch is finished (and saved) only by on_epoch
            if e in self.run.ready:
                return
            again = int(e) in self.run.previewed  # a later stage's positions (DVI: layout, then encoder)
            self.run.previewed[int(e)] = np.asarray(emb, dtype=np.float32).copy()
            self.sink._fit_preview(int(e), again)
            self._report(stage=f"{p.method}: epoch {e} placed, {'decoder' if again else 'encoder'} training")

        def on_epoch(e, emb, info):
            self.epoch_info[int(e)] = {k: v for k, v in info.items() if isinstance(v, (int, float, str))}
            now = time.perf_counter()
            self._epoch_s.append(now - last[0])
            last[0] = now
            if e not in self.run.ready:
                shown = self.run.previewed.pop(int(e), None)
                self.run.ready.append(int(e))
                changed = shown is not None and not np.array_equal(shown, np.asarray(emb, dtype=np.float32))
                self.sink._fit_ready(int(e), changed)
            left = total - len(self.run.ready)
            nxt = next((x for x in p.epochs if x not in self.run.ready), None)
            self._report(epochs_done=len(self.run.ready), eta_s=self._eta(left),
                         stage=f"{p.method}: fitting epoch {nxt}" if nxt is not None else f"{p.method}: finishing")

        def waiting():  # another fit (kernel, widget) holds the run: show what it writes
            self._report(state="waiting", stage=f"another fit of this run is running ({p.store.folder.name}): "
                                                f"following it")
            self._announce_finished()
            self._report(epochs_done=len(self.run.ready))

        run = fit(p, callback=on_epoch, stop=self._stop, waiting=waiting, progress=False, on_preview=on_preview)
        self._announce_finished()
        self.run.final = run
        self.run.manifest = run.manifest
        self.sink._fit_finished(run)
        self._report(state="done", stage="", epochs_done=total, eta_s=0.0)

    def _wait_for_epochs(self) -> bool:
        """Live: poll the recording until it lists epochs beyond the plan's (True) or stop() (False). The
        recording's manifest is written last, so an epoch it lists is complete."""
        from .. import load
        from ..engine.api import plan

        from ..store.ttvis_layout import MANIFEST

        known = list(self.plan.epochs)
        marker = Path(self.source) / MANIFEST  # ours: rewritten last by every add_epoch (other layouts: load)
        seen = None
        while not self._stop.wait(POLL_S):
            try:
                if marker.exists():
                    stamp = marker.stat().st_mtime_ns, marker.stat().st_size
                    if stamp == seen:
                        continue
                    seen = stamp
                dyn = load(self.source)
            except Exception:  # noqa: BLE001 - a writer mid-update; the next poll reads it again
                continue
            if list(dyn.epochs) != known and len(dyn.epochs) > len(known):
                self.plan = plan(dyn, self.method, **self._plan_params())
                self.run.set_plan(self.plan)
                self.run.final = None
                self.sink._fit_epochs(list(self.plan.epochs), dyn)
                return True
        return False


def _last_epoch_index(w) -> int:
    return len(w.epochs) - 1


class BackgroundMixin:
    """The TimeTravelWidget's side of a background fit: starting it, the sink of its reports (called from the
    fit thread), the views' ``window`` and ``stop`` messages, and ``wait``/``stop``/``ready_epochs``."""

    def _start_background(self, source, method, live, fit_params) -> None:
        """Load and plan now (fast: no fitting); a cached complete run opens as before, anything else is fitted
        in a background thread whose epochs are streamed to the views as they come (background.py, live.py)."""
        from .live import Streams

        fit = BackgroundFit(source, method, fit_params, live, self)
        if fit.plan is not None and fit.plan.complete() and not live:
            self.run = fit.plan.load()
            return
        self._fit = fit
        self.run = fit.run
        self._streams = Streams(self)

    def _window_if_large(self) -> None:
        """A finished run too large for the browser (live.window_size) is streamed in windows too."""
        from . import live

        if self._streams is None and live.window_size(self.dynamics.n_samples, len(self.epochs), live.BROWSER_BUDGET):
            self._streams = live.Streams(self, bounds=self.run.bounds)

    @message("window", rid=Token(), center=Int(0, _last_epoch_index), direction=Int(-1, 1))
    def _on_window(self, rid, center, direction):
        """A windowed view's time moved (live.py): slide its window of epochs, prefetching ahead."""
        if self._streams is not None:
            self._streams.move(rid, center, direction)

    @message("held", rid=Token(), epoch=Int(0, _last_epoch_index))
    def _on_held(self, rid, epoch):
        """A windowed view received epoch index ``epoch`` (live.py flow control): the next one may go."""
        if self._streams is not None:
            self._streams.acknowledged(rid, epoch)

    @message("stop")
    def _on_stop(self):
        """The view's stop button: the background fit stops at the next epoch boundary (resumable)."""
        self.stop()

    # ---- the background fit (background.py calls these from its thread) ------------------------------
    @property
    def _complete(self) -> bool:
        if self._fit is None:
            return True
        r = self._fit.run
        return r.final is not None and len(r.ready) == len(self.epochs)

    def _ready_indices(self) -> list[int]:
        if self._fit is None:
            return list(range(len(self.epochs)))
        pos = {e: k for k, e in enumerate(self.epochs)}
        return sorted(pos[e] for e in self._fit.run.shown if e in pos)

    def _fit_preview(self, epoch: int, again: bool = False) -> None:
        """An epoch placed but not finished (background.py): sent to the views now, like a fitted one;
        ``again``: newer provisional positions of an epoch already previewed, which replace the shown ones."""
        k = self.epochs.index(int(epoch))
        if again:
            self._streams.epoch_replaced(k)
        else:
            self._streams.epoch_ready(k)

    def _fit_withdrawn(self, epoch: int) -> None:
        """A previewed epoch whose fit did not finish: the views drop it."""
        self._streams.epoch_withdrawn(self.epochs.index(int(epoch)))

    def _fit_ready(self, epoch: int, changed: bool = False) -> None:
        """An epoch finished; ``changed``: its previewed positions, already sent, differ: sent again."""
        k = self.epochs.index(int(epoch))
        if changed:
            self._streams.epoch_replaced(k)
        else:
            self._streams.epoch_ready(k)
        self.info = {**self.info, "ready": len(self._fit.run.ready)}

    def _fit_epochs(self, epochs, dynamics) -> None:
        with self._streams.lock:
            self.run = self._fit.run  # fitting again: new epochs
            self.dynamics = dynamics
            dynamics.persist_summaries = True
            self.epochs = [int(e) for e in epochs]
            self._payload = None
            self._streams.epochs_changed()
        self.info = {**self.info, "epochs": self.epochs}

    def _fit_finished(self, run) -> None:
        with self._streams.lock:
            self.run = run  # the finished VisRun: territories, inverse, metrics
            self._payload = None
            self._streams.set_bounds(run.bounds)  # the territories' frame
            self._streams.finished()
        self.info = {**self.info, "bounds": [float(b) for b in run.bounds], "ready": len(self.epochs)}
        for rid in list(self._streams.views):
            self._send_territories(rid, 0)

    def _fit_progress(self, progress: dict) -> None:
        self.progress = progress

    def _fit_failed(self, exc: BaseException) -> None:
        self.status = f"fit failed: {type(exc).__name__}: {exc}"

    @property
    def ready_epochs(self) -> list[int]:
        """The epochs fitted so far (all of ``epochs`` once the fit has caught up)."""
        return list(self.epochs) if self._fit is None else list(self._fit.run.ready)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background fit has caught up with the recording (every epoch recorded so far is
        fitted and sent); re-raises its error. True when caught up, False on timeout. An interrupt (Ctrl-C,
        the kernel's stop button) stops the fit, leaving a resumable run."""
        if self._fit is None:
            return True
        try:
            return self._fit.wait(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the background fit (and live following) at the next epoch boundary; what is fitted stays, and
        a new widget on the same path resumes after it."""
        if self._fit is not None:
            self._fit.stop()

