"""Neighbour preservation NN@k (paper form and exact form) and boundary-neighbour preservation BNN@k.

* **Paper form** (DVI/TimeVis/DeepDebugger ``evaluate_proj_nn_perseverance_knn``): approximate NNDescent lists
  that include the point itself, overlap reported as a **count** in [~1, k].
* **Exact form** (= DynaVis NPR): exact lists, the point itself excluded, overlap / k as a **fraction** in [0, 1].
* **BNN@k**: exact search of the query points against a border set, in high-dim and in 2-D; a **count** in [0, k].
"""
from __future__ import annotations

import numpy as np

from .knn import exact_knn, nndescent_knn


def overlap_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row size of the intersection of two index lists ``[N, k]`` (entries within a row are distinct)."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"index lists have {a.shape[0]} and {b.shape[0]} rows")
    out = np.empty(a.shape[0], np.int64)
    step = max(1, 4_000_000 // max(1, a.shape[1] * b.shape[1]))
    for s in range(0, a.shape[0], step):
        out[s:s + step] = (a[s:s + step, :, None] == b[s:s + step, None, :]).any(2).sum(1)
    return out


def nn_exact_from_lists(high_idx: np.ndarray, low_idx: np.ndarray, k: int) -> float:
    """Exact-form NN@k from exact, self-excluded lists with at least k columns (sorted by distance)."""
    return float(overlap_counts(high_idx[:, :k], low_idx[:, :k]).mean() / k)


def nn_exact(high: np.ndarray, low: np.ndarray, k: int = 15) -> float:
    """Exact self-excluded neighbour preservation: mean |kNN_H(i) ∩ kNN_L(i)| / k, a fraction in [0, 1]."""
    return nn_exact_from_lists(exact_knn(high, k), exact_knn(low, k), k)


def nn_paper(high: np.ndarray, low: np.ndarray, k: int = 15, seed: int | None = 0) -> float:
    """The papers' NN@k: mean overlap count of self-inclusive NNDescent lists (n_neighbors = k), in [~1, k]."""
    return float(overlap_counts(nndescent_knn(high, k, seed), nndescent_knn(low, k, seed)).mean())


def bnn_from_lists(high_idx: np.ndarray, low_idx: np.ndarray, k: int) -> float:
    return float(overlap_counts(high_idx[:, :k], low_idx[:, :k]).mean())


def bnn(query_high: np.ndarray, border_high: np.ndarray, query_low: np.ndarray, border_low: np.ndarray,
        k: int = 15) -> float:
    """BNN@k = mean |NN_k(h_i; h(B)) ∩ NN_k(p_i; enc(B))| (exact search, a count in [0, k])."""
    return bnn_from_lists(exact_knn(query_high, k, border_high), exact_knn(query_low, k, border_low), k)
