"""A sample's neighbours in the model's representation space versus on the screen, at one epoch.

``high``: its exact k nearest neighbours among the representations (Euclidean, itself excluded);
``low``: its k nearest neighbours among the run's 2-D positions; ``kept`` (in both), ``lost`` (high-D
neighbours the projection put elsewhere) and ``gained`` (2-D neighbours that are not high-D neighbours).
Both searches go through per-epoch indices built once and cached (index.py), so a hover costs one
matrix-vector product and one k-d tree query.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index import epoch_index, plane_index, resolve_device
from .validate import AnalysisError, check_epoch, check_index, check_k, check_run_epoch


@dataclass(frozen=True)
class Neighbors:
    """Neighbour lists of sample ``index`` at ``epoch`` (all int64, nearest first; see the module docstring)."""

    index: int
    epoch: int
    k: int
    high: np.ndarray
    high_distance: np.ndarray
    low: np.ndarray
    low_distance: np.ndarray
    kept: np.ndarray
    gained: np.ndarray
    lost: np.ndarray

    @property
    def preserved(self) -> float:
        """Fraction of the high-D neighbours that are also 2-D neighbours (len(kept) / k)."""
        return len(self.kept) / self.k


def _check_run(dynamics, run, epoch: int) -> None:
    if not hasattr(run, "embedding") or not hasattr(run, "epochs"):
        raise TypeError(f"run must be a VisRun (or have .epochs and .embedding(epoch)), got {type(run).__name__}")
    check_run_epoch(run, epoch)
    own = getattr(run, "dynamics", None)
    if own is not None and own is not dynamics and getattr(own, "n_samples", dynamics.n_samples) != dynamics.n_samples:
        raise AnalysisError(f"the run was fitted on {own.n_samples} samples but {dynamics.name!r} has "
                            f"{dynamics.n_samples}: they are not the same dynamics")


def neighbors(dynamics, run, epoch, index, k: int = 15, *, device=None) -> Neighbors:
    """High-D and 2-D k nearest neighbours of sample ``index`` at ``epoch`` (itself excluded), and how they
    agree. ``run``: the ``VisRun`` whose 2-D positions are compared. ``device``: where the high-D search
    runs (default: a CUDA GPU when present, else the CPU)."""
    e = check_epoch(dynamics, epoch)
    i = check_index(dynamics, index)
    _check_run(dynamics, run, e)
    k = check_k(k, dynamics.n_samples - 1)
    plane = plane_index(run, e)
    if plane.xy.shape != (dynamics.n_samples, 2):
        raise AnalysisError(f"the run's epoch {e} has positions of shape {plane.xy.shape}; expected "
                            f"({dynamics.n_samples}, 2)")
    q = np.asarray(dynamics.representation(e)[i:i + 1], np.float32)
    high, high_d = epoch_index(dynamics, e, resolve_device(device)).euclidean(q, k, exclude=[i])
    high, high_d = high[0], high_d[0]
    low, low_d = plane.query(i, k)
    in_low = np.isin(high, low)
    return Neighbors(i, e, k, high, high_d, low, low_d, kept=high[in_low], gained=low[~np.isin(low, high)],
                     lost=high[~in_low])
