"""Argument checks shared by the analysis functions, and the errors they raise.

The analysis functions are called by the widget with values that came from the browser, and by users from a
notebook: every epoch, sample index, ``k`` and query is checked here before any work, with an error that says
what is wrong and what would be accepted.
"""
from __future__ import annotations

import numpy as np


class AnalysisError(ValueError):
    """An analysis cannot be computed from these dynamics or these arguments (the message says why)."""


class EpochNotRecordedError(AnalysisError, KeyError):
    """An epoch that the dynamics (or the run) did not record. Also a KeyError, like ``dynamics.representation``'s."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""


def check_epoch(dynamics, epoch, what: str = "epoch") -> int:
    """``epoch`` as an int if ``dynamics`` recorded it, else EpochNotRecordedError listing the recorded ones."""
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"{what} must be an integer epoch number, got {epoch!r}")
    e = int(epoch)
    if e not in dynamics.epochs:
        raise EpochNotRecordedError(f"{what} {e} was not recorded in {dynamics.name!r}; recorded epochs: "
                                    f"{_short(dynamics.epochs)}")
    return e


def check_run_epoch(run, epoch: int) -> int:
    """``epoch`` must also be one of the run's epochs (a run may cover a subset of the recorded ones)."""
    if epoch not in [int(e) for e in run.epochs]:
        raise EpochNotRecordedError(f"epoch {epoch} is not part of the visualization run; its epochs: "
                                    f"{_short(run.epochs)}")
    return epoch


def check_index(dynamics, index, what: str = "index") -> int:
    """A sample index in [0, N) (numpy integers accepted; bools and floats refused)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{what} must be an integer sample index, got {index!r}")
    i = int(index)
    if not 0 <= i < dynamics.n_samples:
        raise IndexError(f"{what} {i} is out of range: {dynamics.name!r} has {dynamics.n_samples} samples")
    return i


def check_indices(dynamics, indices, what: str = "indices") -> np.ndarray:
    """A non-empty list of distinct sample indices, as sorted int64."""
    arr = np.asarray(indices)
    if arr.ndim != 1 or len(arr) == 0:
        raise ValueError(f"{what} must be a non-empty list of sample indices, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{what} must be integers, got dtype {arr.dtype}")
    arr = np.unique(arr.astype(np.int64))
    if arr[0] < 0 or arr[-1] >= dynamics.n_samples:
        bad = arr[(arr < 0) | (arr >= dynamics.n_samples)]
        raise IndexError(f"{what} {bad[:5].tolist()} out of range: {dynamics.name!r} has {dynamics.n_samples} samples")
    return arr


def check_k(k, available: int, what: str = "k") -> int:
    """A positive integer no larger than the number of candidates."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) < 1:
        raise ValueError(f"{what} must be a positive integer, got {k!r}")
    if int(k) > available:
        raise ValueError(f"{what}={int(k)} asked for but only {available} candidates exist")
    return int(k)


def check_threshold(name: str, value, low: float = 0.0, high: float = float("inf")) -> float:
    """A finite number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"threshold {name} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or not low <= v <= high:
        raise ValueError(f"threshold {name} must be in [{low}, {high}], got {value!r}")
    return v


def _short(items, n: int = 12) -> str:
    items = [int(e) for e in items]
    return str(items) if len(items) <= n else f"[{', '.join(map(str, items[:n]))}, ...] ({len(items)} in all)"
