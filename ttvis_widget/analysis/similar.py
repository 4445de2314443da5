"""Samples most similar to a query at one epoch: exact search over every representation, in torch (a GPU
when present), through the per-epoch index (index.py); no external vector database.

A query is a sample index, a list of indices (their centroid is searched; the listed samples are excluded)
or a vector (float, length D). Integers always mean indices: pass floats for a vector.
"""
from __future__ import annotations

import numpy as np

from .index import epoch_index, resolve_device
from .validate import check_epoch, check_index, check_indices, check_k

METRICS = ("cosine", "euclidean")


def _parse_query(dynamics, e: int, query) -> tuple[np.ndarray, np.ndarray]:
    """(query vector [1, D] float32, sample indices to exclude)."""
    if isinstance(query, (int, np.integer)) and not isinstance(query, bool):
        i = check_index(dynamics, query, "query")
        return np.asarray(dynamics.representation(e)[i:i + 1], np.float32), np.array([i], np.int64)
    arr = np.asarray(query)
    if arr.size == 0:
        raise ValueError("query is empty: pass a sample index, a non-empty list of indices or a vector")
    if arr.dtype == object or arr.ndim != 1 or arr.dtype == bool:
        raise TypeError("query must be a sample index, a list of sample indices or a vector of floats "
                        f"(got {type(query).__name__} of shape {arr.shape})")
    if np.issubdtype(arr.dtype, np.integer):
        rows = check_indices(dynamics, arr, "query indices")
        reps = np.asarray(dynamics.representation(e)[rows], np.float64)
        return reps.mean(0, keepdims=True).astype(np.float32), rows
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"a query vector must be floats, got dtype {arr.dtype}")
    if arr.shape[0] != dynamics.dim:
        raise ValueError(f"query vector has {arr.shape[0]} values; the representations have {dynamics.dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("query vector contains NaN or infinite values")
    return arr.astype(np.float32)[None, :], np.zeros(0, np.int64)


def similar(dynamics, epoch, query, k: int = 10, metric: str = "cosine", *, device=None):
    """The ``k`` samples most similar to ``query`` at ``epoch``, query samples excluded.

    Returns ``(indices int64 [k], scores float32 [k])``, most similar first: for ``metric="cosine"`` the
    cosine similarity (descending), for ``"euclidean"`` the distance (ascending).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    e = check_epoch(dynamics, epoch)
    q, exclude = _parse_query(dynamics, e, query)
    k = check_k(k, dynamics.n_samples - len(exclude))
    index = epoch_index(dynamics, e, resolve_device(device))
    search = index.cosine if metric == "cosine" else index.euclidean
    idx, scores = search(q, k, exclude=exclude)
    return idx[0], scores[0]
