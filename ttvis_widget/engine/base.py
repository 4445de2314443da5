"""``Projector``: the base class of every projection method, and ``Timer``.

Methods follow the scikit-learn convention: all parameters are given to ``__init__`` and stored unchanged as
attributes; ``fit(dynamics, epochs)`` does the work; ``transform(epoch, reps)`` and ``inverse_transform(epoch,
xy)`` apply the fitted projection.
"""
from __future__ import annotations

import inspect
import time

import numpy as np

from .checkpoints import Checkpoints
from .device import resolve_device  # noqa: F401  re-exported: the demo recorder imports it from here
from .rng import generator_state, restore_generator  # noqa: F401  re-exported: older callers import them here


class Projector:
    """Base class of the projection methods."""

    name: str = "base"
    #: ``inverse_transform`` exists (2-D -> representation: territories, PPR)
    has_inverse: bool = False
    #: parameters that do not change the result and are left out of the cache key
    _volatile = ("device", "progress", "num_threads")

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False):
        self.seed = seed
        self.device = device
        self.progress = progress

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

    # interface --------------------------------------------------------------------------------
    def fit(self, dynamics, epochs=None, checkpoints: Checkpoints | None = None, on_epoch=None):
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


class Timer:
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
