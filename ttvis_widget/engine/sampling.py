"""``fit_sample``: fit a parametric method on K samples, project all N with the fitted encoder.

A method that can place new points with its fitted model (``Projector.fits_a_sample``: DVI, TimeVis, and any
later ``ParametricMixin`` method) is fitted on ``SampledDynamics`` -- the same training dynamics restricted to
one fixed sample of K indices, so its graph, border points and training see K samples an epoch -- while its
run folder (``ProjectingCheckpoints``) stores every epoch's embedding of all N samples, projected through the
epoch's fitted encoder chunk by chunk (one epoch's representations at a time, read from their memory map).

The sample is stratified by label and by the predicted class at the run's last epoch (proportional shares, and
a floor per stratum so that rare confusions are in it), drawn with the run's seed, and the same for every epoch:
the temporal terms (DVI's ν_t and previous layout, TimeVis's temporal edges) compare the same samples from
epoch to epoch. Why, and what it costs: docs/methods/fit-sample.md.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from .checkpoints import Checkpoints

#: ``fit_sample="auto"`` samples above this many samples an epoch ...
AUTO_ABOVE = 200_000
#: ... and then fits on this many
AUTO_K = 50_000
#: rows projected at a time when all N samples are placed
PROJECT_CHUNK = 65_536
SAMPLE_FILE = "fit_sample.npy"


class FitSampleNotice(UserWarning):
    """``fit_sample="auto"`` chose to fit on a sample (N is far beyond what fits in reasonable time)."""


def resolve(fit_sample, cls, n_samples: int) -> int | None:
    """K samples to fit on, or None for all of them. ``fit_sample``: "auto" (sample ``AUTO_K`` when N exceeds
    ``AUTO_ABOVE`` and the method can project new points), None/0/False (all samples) or an int K >= 2.
    ValueError for anything else, or an explicit K for a method that cannot project the samples it did not
    see."""
    if fit_sample is None or fit_sample is False or (isinstance(fit_sample, (int, np.integer)) and fit_sample == 0):
        return None
    can = bool(getattr(cls, "fits_a_sample", False))
    if isinstance(fit_sample, str):
        if fit_sample != "auto":
            raise ValueError(f"fit_sample must be 'auto', None or an int >= 2; got {fit_sample!r}")
        if not can or n_samples <= AUTO_ABOVE:
            return None
        warnings.warn(FitSampleNotice(
            f"{n_samples:,} samples an epoch: fitting {getattr(cls, 'name', cls.__name__)} on a stratified sample "
            f"of {AUTO_K:,} and projecting all of them with its encoder (fit_sample=None fits on all; "
            "fit_sample=K chooses K)"), stacklevel=3)
        return AUTO_K
    if isinstance(fit_sample, bool) or not isinstance(fit_sample, (int, np.integer)) or fit_sample < 2:
        raise ValueError(f"fit_sample must be 'auto', None or an int >= 2; got {fit_sample!r}")
    if not can:
        from .registry import names, facts

        raise ValueError(f"fit_sample: method {getattr(cls, 'name', cls.__name__)!r} cannot project the samples "
                         f"it did not see; methods that can: {[m for m in names() if facts(m)['fit_sample']]}")
    return None if int(fit_sample) >= n_samples else int(fit_sample)


def choose_sample(dynamics, k: int, seed: int, epoch) -> np.ndarray:
    """K sorted sample indices, stratified by label and by the predicted class at ``epoch`` (either alone where
    the other is not recorded; uniform with neither). Each stratum gets at least min(its size, ⌈K / (10·S)⌉)
    of its S strata's share, the rest in proportion to size (largest remainders)."""
    n = int(dynamics.n_samples)
    rng = np.random.default_rng([int(seed), 0x5A4D])
    keys = []
    if dynamics.labels is not None:
        keys.append(np.asarray(dynamics.labels, np.int64))
    try:
        pc = dynamics.predicted_class(epoch)
    except Exception:  # noqa: BLE001 - no predictions recorded (or no head to compute them)
        pc = None
    if pc is not None:
        keys.append(np.asarray(pc, np.int64))
    if not keys:
        return np.sort(rng.choice(n, k, replace=False))
    key = keys[0] if len(keys) == 1 else keys[0] * (int(keys[1].max()) + 1) + keys[1]
    strata, inverse, sizes = np.unique(key, return_inverse=True, return_counts=True)
    floor = np.minimum(sizes, math.ceil(k / (10 * len(strata))))
    cap = sizes - floor
    rest = k - int(floor.sum())
    share = rest * cap / max(int(cap.sum()), 1)
    extra = np.minimum(np.floor(share).astype(np.int64), cap)
    short = rest - int(extra.sum())
    if short > 0:
        order = np.argsort(-(share - extra), kind="stable")
        order = order[extra[order] < cap[order]]
        extra[order[:short]] += 1
    take = floor + extra
    members = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    out = [rng.choice(members[bounds[s]:bounds[s + 1]], int(take[s]), replace=False) for s in range(len(strata))]
    return np.sort(np.concatenate(out)).astype(np.int64)


class SampledDynamics:
    """``dynamics`` restricted to the samples ``index`` (sorted): what the engine reads of a TrainingDynamics,
    with K rows. Per-epoch arrays are gathered when asked for; nothing of all epochs is held."""

    def __init__(self, dynamics, index: np.ndarray):
        self.full = dynamics
        self.index = np.asarray(index, np.int64)
        self.n_samples = len(self.index)
        self.epochs, self.dim, self.name = dynamics.epochs, dynamics.dim, dynamics.name
        self.classes, self.n_classes = getattr(dynamics, "classes", None), dynamics.n_classes
        self.labels = None if dynamics.labels is None else np.asarray(dynamics.labels)[self.index]
        self.split = np.asarray(dynamics.split)[self.index]
        self.train_index = np.flatnonzero(self.split == 0)
        self.test_index = np.flatnonzero(self.split == 1)

    def representation(self, epoch) -> np.ndarray:
        return np.ascontiguousarray(self.full.representation(epoch)[self.index], np.float32)

    def prediction(self, epoch):
        p = self.full.prediction(epoch)
        return None if p is None else np.asarray(p[self.index], np.float32)

    def predicted_class(self, epoch):
        p = self.full.predicted_class(epoch)
        return None if p is None else np.asarray(p)[self.index]

    def confidence(self, epoch):
        c = self.full.confidence(epoch)
        return None if c is None else np.asarray(c)[self.index]

    def head(self, epoch):
        return self.full.head(epoch)

    @property
    def output_dir(self):
        return self.full.output_dir

    def __repr__(self) -> str:
        return f"<SampledDynamics {self.n_samples} of {self.full.n_samples} samples of {self.full!r}>"


class ProjectingCheckpoints(Checkpoints):
    """A run folder whose method is fitted on a sample: an epoch's embedding handed over for the K samples is
    stored for all N, placed by ``projector.transform`` (the fitted samples keep their fitted positions)."""

    def __init__(self, folder, projector, dynamics, index: np.ndarray):
        super().__init__(folder)
        self.projector, self.dynamics, self.index = projector, dynamics, np.asarray(index, np.int64)
        self.last = None  # (epoch, full embedding) of the latest save, for the per-epoch callback

    def save_embedding(self, epoch: int, emb: np.ndarray) -> None:
        e = int(epoch)
        emb = np.asarray(emb, np.float32)
        if len(emb) == len(self.index):
            emb = project_all(self.projector, self.dynamics, e, fitted=(self.index, emb))
        super().save_embedding(e, emb)
        self.last = (e, emb)

    def full_embedding(self, epoch: int, emb: np.ndarray) -> np.ndarray:
        """The embedding of all N samples for the one the method reported (K rows)."""
        if self.last is not None and self.last[0] == int(epoch):
            return self.last[1]
        return self.load_embedding(epoch) if len(emb) == len(self.index) else emb


def project_all(projector, dynamics, epoch: int, fitted=None, chunk: int = PROJECT_CHUNK) -> np.ndarray:
    """float32 [N, 2]: every sample of ``epoch`` placed by ``projector.transform``, ``chunk`` rows at a time;
    ``fitted`` = (indices, positions) overrides the rows the fit placed itself."""
    reps = dynamics.representation(epoch)
    out = np.empty((dynamics.n_samples, 2), np.float32)
    for s in range(0, len(out), chunk):
        out[s:s + chunk] = projector.transform(epoch, np.asarray(reps[s:s + chunk], np.float32))
    if fitted is not None:
        out[fitted[0]] = fitted[1]
    return out


def sampled_store(path, projector, dynamics, k: int, seed: int, epochs):
    """(store, dynamics to fit) of a run folder fitted on ``k`` samples: the sample is the one the folder
    records (``fit_sample.npy``: a resumed fit goes on with the same samples), else chosen now (stratified at
    the run's last epoch) and recorded before anything is fitted."""
    from ..store.atomic import atomic_write_npy

    f = Path(path) / SAMPLE_FILE
    index = None
    if f.is_file():
        try:
            index = np.load(f, allow_pickle=False)
        except (OSError, ValueError):
            index = None
        ok = (index is not None and index.ndim == 1 and len(index) == k and index.dtype.kind == "i"
              and (len(index) == 0 or (index[0] >= 0 and index[-1] < dynamics.n_samples))
              and bool(np.all(np.diff(index) > 0)))
        if not ok:  # damaged: the epochs fitted on it cannot be trusted either
            raise ValueError(f"{f}: not the sample of {k} indices this run was fitted on; delete the run folder "
                             f"{path} to fit it again")
    if index is None:
        index = choose_sample(dynamics, k, seed, epochs[-1])
        atomic_write_npy(f, index)
    return ProjectingCheckpoints(path, projector, dynamics, index), SampledDynamics(dynamics, index)
