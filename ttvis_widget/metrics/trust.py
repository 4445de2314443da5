"""Trustworthiness and continuity (Venna–Kaski, exact ranks, as ``sklearn.manifold.trustworthiness``).

:func:`trustworthiness` calls scikit-learn directly. :func:`trust_continuity` computes the same numbers for
several k at once (the N x N rank matrices are built once per space instead of once per call) and is checked
against scikit-learn in the tests. Both are quadratic in memory, so N above ``max_n`` is subsampled (without
replacement, seeded); the result says so in ``subsample``. Continuity = trustworthiness with the spaces swapped.
"""
from __future__ import annotations

import numpy as np


def subsample_index(n: int, max_n: int | None, seed: int) -> np.ndarray | None:
    """Sorted random subset of range(n) of size max_n (None when no subsampling is needed)."""
    if max_n is None or n <= max_n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=int(max_n), replace=False))


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int = 15) -> float:
    """scikit-learn's exact trustworthiness T(k) of the embedding ``low`` of ``high``."""
    from sklearn.manifold import trustworthiness as _tw

    return float(_tw(np.asarray(high, np.float32), np.asarray(low, np.float32), n_neighbors=k))


def continuity(high: np.ndarray, low: np.ndarray, k: int = 15) -> float:
    """C(k): trustworthiness with the two spaces swapped (scikit-learn)."""
    return trustworthiness(low, high, k)


def _order(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(neighbour order without self [n, n-1], rank matrix [n, n] with rank[i, j] = 1 + position of j)."""
    from sklearn.metrics import pairwise_distances

    x = np.asarray(x, np.float32)
    d = pairwise_distances(x)
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)
    n = len(x)
    rank = np.empty((n, n), np.int32)
    rank[np.arange(n)[:, None], order] = np.arange(1, n + 1, dtype=np.int32)[None, :]
    return order[:, :-1], rank


def _penalty(rank_ref: np.ndarray, knn_other: np.ndarray, k: int) -> float:
    n = len(rank_ref)
    r = rank_ref[np.arange(n)[:, None], knn_other[:, :k]].astype(np.int64) - k
    return 1.0 - float(r[r > 0].sum()) * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))


def trust_continuity(high: np.ndarray, low: np.ndarray, ks=(15,), max_n: int | None = 2000, seed: int = 0) -> dict:
    """{"trust{k}": T(k), "cont{k}": C(k), "subsample": None | {"n", "of", "seed"}} on a seeded subsample."""
    idx = subsample_index(len(high), max_n, seed)
    h, l = (high, low) if idx is None else (np.asarray(high)[idx], np.asarray(low)[idx])
    out = {}
    ok = [k for k in ks if k < len(h) / 2]  # scikit-learn's requirement
    if ok:
        order_h, rank_h = _order(h)
        order_l, rank_l = _order(l)
    for k in ks:
        if k in ok:
            out[f"trust{k}"] = _penalty(rank_h, order_l, k)
            out[f"cont{k}"] = _penalty(rank_l, order_h, k)
        else:
            out[f"trust{k}"] = out[f"cont{k}"] = float("nan")
    out["subsample"] = None if idx is None else {"n": int(len(idx)), "of": int(len(high)), "seed": int(seed)}
    return out
