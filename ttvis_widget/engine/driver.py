"""The one fit loop of every method (``drive``): which epochs are left to fit, the restoring of those
finished before (resume, and extension of a run by new epochs), persistence of each finished epoch's
embedding, timings, the per-epoch callback, the provisional preview channel and a clean stop between epochs.

A method (base.Projector) only fits: ``fit_epoch`` for one epoch (``per_epoch`` methods, fitted in turn) or
``fit_all`` for every epoch at once, and reports each finished epoch with ``FitContext.epoch_done`` after
saving its own state. What a store holds finished is never refitted: a store with epochs 1..k finished fits
1..k+m by restoring 1..k (``restore_epoch``) and fitting k+1..k+m (methods that fit all epochs at once refit
everything when any epoch is missing).

Preview: a method whose epoch's positions are known before the epoch is finished (DVI: its encoder is trained,
its decoder not yet) may hand them to ``FitContext.preview``, which only calls the caller's ``on_preview``:
nothing is written, and the epoch is finished only by ``epoch_done`` (whose embedding may differ).
"""
from __future__ import annotations

import time

from .checkpoints import Checkpoints
from .resources import release_memory


class FitStopped(Exception):
    """A fit stopped on request (``stop``) between epochs. Every epoch reported before it is saved; fitting
    the same run again resumes after them."""

    def __init__(self, done: list, remaining: list):
        super().__init__(f"fit stopped on request after epochs {done}; {remaining} remain (fit again to resume)")
        self.done = list(done)
        self.remaining = list(remaining)


class Timer:
    """Seconds spent in named parts: ``with timer("graph_s"): ...``; totals in ``timer.t``."""

    def __init__(self):
        self.t = {}

    def add(self, key, dt):
        self.t[key] = self.t.get(key, 0.0) + float(dt)

    class _Ctx:
        def __init__(self, timer, key):
            self.timer, self.key = timer, key

        def __enter__(self):
            self.t0 = time.perf_counter()
            return self

        def __exit__(self, *a):
            self.timer.add(self.key, time.perf_counter() - self.t0)

    def __call__(self, key):
        return Timer._Ctx(self, key)


class FitContext:
    """What a method sees while the driver fits it: ``dynamics``, ``epochs`` (all of the run, in order),
    ``done`` (finished in the store before this fit), ``todo`` (the rest), ``store`` (Checkpoints),
    ``timings`` (the run's; a method that fits all epochs at once sets the run-level totals itself)."""

    def __init__(self, projector, dynamics, epochs, store: Checkpoints, on_epoch=None, stop=None, on_preview=None):
        self.dynamics = dynamics
        self.epochs = list(epochs)
        self.store = store
        self.done = [e for e in self.epochs if projector.epoch_finished(store, e)]
        self.todo = [e for e in self.epochs if e not in self.done]
        self.timings = {"graph_s": 0.0, "jit_s": 0.0, "train_s": 0.0, "epochs": {}}
        self._on_epoch = on_epoch
        self._on_preview = on_preview
        self._stop = stop
        self._per_epoch = projector.per_epoch
        self._reported: list = []

    def stop_requested(self) -> bool:
        """Whether the caller asked the fit to stop (a method that fits all epochs at once checks it at its own
        checkpoints and raises ``self.stopped()`` there)."""
        return self._stop is not None and self._stop.is_set()

    def stopped(self) -> FitStopped:
        return FitStopped(self.done + self._reported, [e for e in self.todo if e not in self._reported])

    @property
    def previewing(self) -> bool:
        """Whether the caller listens to ``preview`` (a method skips computing a preview nobody asked for)."""
        return self._on_preview is not None

    def preview(self, epoch: int, embedding) -> None:
        """Provisional positions of ``epoch`` (not finished yet; nothing is saved): ``on_preview(epoch,
        embedding)``. Called before the epoch's ``epoch_done``, in epoch order, possibly more than once per epoch
        (each later stage's positions); the final embedding reported there may differ."""
        if self._on_preview is not None:
            self._on_preview(int(epoch), embedding)

    def epoch_done(self, epoch: int, embedding, info: dict) -> None:
        """Persist a finished epoch and report it. The method has saved its own state of the epoch; the
        embedding is written last (its file marks the epoch finished), then the timings, ``on_epoch`` and, with
        a stop requested and epochs left (``per_epoch`` methods), ``FitStopped``. ``info`` holds the epoch's
        seconds (``graph_s``, ``train_s``, ``jit_s``: summed into the run's unless ``info["shared"]``: an epoch
        of a fit of all epochs at once) and anything else worth keeping."""
        e = int(epoch)
        self.store.save_embedding(e, embedding)
        release_memory()  # the epoch's freed temporaries, or a long fit grows epoch by epoch
        if not info.get("shared"):
            for key in ("graph_s", "train_s", "jit_s"):
                self.timings[key] += float(info.get(key, 0.0))
        self.timings["epochs"][str(e)] = info
        self._reported.append(e)
        if self._on_epoch is not None:
            self._on_epoch(e, embedding, info)
        if self._per_epoch and self.stop_requested() and len(self._reported) < len(self.todo):
            raise self.stopped()


def drive(projector, dynamics, epochs=None, store: Checkpoints | None = None, on_epoch=None, stop=None,
          on_preview=None) -> dict:
    """Fit ``projector`` on ``epochs`` (default: all of ``dynamics``) with results in ``store`` (default: in
    memory); returns the run's timings (also ``projector.timings_``). Epochs finished in ``store`` are
    restored, the others fitted. ``stop``: anything with ``is_set()`` (threading.Event); once set, the fit
    ends at the next epoch boundary with ``FitStopped`` and leaves a resumable store. ``on_preview(epoch,
    embedding)``: an epoch's provisional positions, when the method has them before it finishes the epoch
    (``FitContext.preview``)."""
    store = store if store is not None else Checkpoints(None)
    ctx = FitContext(projector, dynamics, epochs or dynamics.epochs, store, on_epoch, stop, on_preview)
    projector.timings_ = ctx.timings
    projector.begin(ctx)
    if not projector.per_epoch and not ctx.todo:
        return ctx.timings
    with projector.fitting(ctx):
        if projector.per_epoch:
            for e in ctx.epochs:
                if e in ctx.done:
                    projector.restore_epoch(ctx, e)
                else:
                    projector.fit_epoch(ctx, e)
        else:
            projector.fit_all(ctx)
    return ctx.timings
