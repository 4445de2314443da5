"""``Projector``: the base class of every projection method, and the contract between a method and the
driver (driver.py) that fits it.

Methods follow the scikit-learn convention: all parameters are given to ``__init__`` and stored unchanged as
attributes (``_keep``); ``fit(dynamics, epochs)`` does the work; ``transform(epoch, reps)`` and
``inverse_transform(epoch, xy)`` apply the fitted projection. A method implements the fitting of one epoch
(``fit_epoch``, with ``per_epoch = True``) or of all epochs at once (``fit_all``) and its own training state;
the driver owns everything around it (docs/CONTRACTS.md, "Adding a method").
"""
from __future__ import annotations

import contextlib
import inspect

import numpy as np

from .checkpoints import Checkpoints
from .device import resolve_device  # noqa: F401  re-exported: the demo recorder imports it from here
from .rng import generator_state, restore_generator  # noqa: F401  re-exported: older callers import them here


class Projector:
    """Base class of the projection methods."""

    name: str = "base"
    #: ``inverse_transform`` exists (2-D -> representation: territories, PPR)
    has_inverse: bool = False
    #: the inverse is cheap enough to score on every sample (the metrics subsample the others)
    fast_inverse: bool = False
    #: epochs are fitted in turn, each from the ones before (``fit_epoch``); False: all at once (``fit_all``)
    per_epoch: bool = True
    #: the fitted projection places samples it did not see (``transform``): ``fit(fit_sample=K)`` can fit it on K
    #: samples and project all of them (sampling.py)
    fits_a_sample: bool = False
    #: parameters that do not change the result and are left out of the cache key
    _volatile = ("device", "progress", "num_threads")

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False):
        self.seed = seed
        self.device = device
        self.progress = progress

    def _keep(self, args: dict) -> None:
        """Store every ``__init__`` argument in ``args`` (its ``locals()``) unchanged as an attribute."""
        for k in self._param_names():
            if k in args:
                setattr(self, k, args[k])

    # scikit-learn style parameters -------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        names = []
        for klass in cls.__mro__:
            if klass is object:
                continue
            sig = inspect.signature(klass.__init__)
            for p in sig.parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names:
                    names.append(p.name)
        return names

    def get_params(self) -> dict:
        return {n: getattr(self, n) for n in self._param_names() if hasattr(self, n)}

    def cache_params(self) -> dict:
        """Parameters that define the result (JSON-able), used for the run's hash and manifest."""
        return {k: _jsonable(v) for k, v in sorted(self.get_params().items()) if k not in self._volatile}

    # fitting -------------------------------------------------------------------------------------
    def fit(self, dynamics, epochs=None, checkpoints: Checkpoints | None = None, on_epoch=None, stop=None,
            on_preview=None):
        """Fit the projection of ``epochs`` (default all) of ``dynamics``; returns self. ``checkpoints``: the
        store of a run folder (finished epochs in it are restored, not refitted); ``on_epoch(epoch, embedding,
        info)`` after each finished epoch; ``stop`` (e.g. a threading.Event): once set, the fit stops at the
        next epoch boundary with ``driver.FitStopped``; ``on_preview(epoch, embedding)``: provisional positions
        of an epoch not finished yet (methods that have them). See driver.drive."""
        from .driver import drive

        drive(self, dynamics, epochs, checkpoints, on_epoch=on_epoch, stop=stop, on_preview=on_preview)
        return self

    # what a method implements (driver.py calls these) ------------------------------------------------
    def begin(self, ctx) -> None:
        """Before anything is fitted or restored: reset the fitted state."""
        self.epochs_ = list(ctx.epochs)
        self.dynamics_ = ctx.dynamics

    def epoch_finished(self, store: Checkpoints, epoch: int) -> bool:
        """Whether ``store`` holds ``epoch`` fitted (its embedding, and whatever the method needs of it)."""
        return store.has_embedding(epoch)

    @contextlib.contextmanager
    def fitting(self, ctx):
        """The block around the driver's calls (threads, worker pipelines, work left to finish at its end)."""
        yield

    def restore_epoch(self, ctx, epoch: int) -> None:
        """``epoch`` was finished by an earlier fit: take from ``ctx.store`` what the epochs after it need."""

    def fit_epoch(self, ctx, epoch: int) -> None:
        """Fit ``epoch`` (``per_epoch`` methods): save its state in ``ctx.store``, then report it with
        ``ctx.epoch_done(epoch, embedding, info)`` -- now, or during a later call, but in order."""
        raise NotImplementedError

    def fit_all(self, ctx) -> None:
        """Fit every epoch of ``ctx.epochs`` at once (methods with ``per_epoch = False``), then report each
        with ``ctx.epoch_done``."""
        raise NotImplementedError

    # applying a fitted projection ------------------------------------------------------------------
    def transform(self, epoch: int, reps) -> np.ndarray:
        raise NotImplementedError(f"{self.name} cannot project new points")

    def inverse_transform(self, epoch: int, xy) -> np.ndarray:
        raise NotImplementedError(f"{self.name} has no inverse projection (2-D -> representation)")

    def load(self, dynamics, epochs, checkpoints: Checkpoints) -> "Projector":
        """Restore a fitted projector from a finished run folder (no training)."""
        self.epochs_ = list(epochs)
        self.dynamics_ = dynamics
        return self

    #: filled by fit: {"graph_s": ..., "train_s": ..., "jit_s": ...} totals and per-epoch rows
    timings_: dict


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v
