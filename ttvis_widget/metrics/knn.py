"""k-nearest-neighbour lists for the metrics: exact (the engine's one exact kNN, engine/knn.py) and the papers'
approximate NNDescent form.

Both return int64 index arrays ``[M, k]`` sorted by increasing distance.
"""
from __future__ import annotations

import numpy as np

from ..engine.knn import exact_knn_lists as exact_knn_with_subset
from ..engine.knn import nndescent_params

__all__ = ["exact_knn", "exact_knn_with_subset", "nndescent_knn", "nndescent_params"]


def exact_knn(query: np.ndarray, k: int, ref: np.ndarray | None = None, *, exclude_self: bool | None = None,
              chunk: int | None = None) -> np.ndarray:
    """Exact Euclidean k-NN of each ``query`` row among the rows of ``ref`` (default: ``query`` itself).

    ``exclude_self`` (default: True when ``ref`` is ``query``) removes row i from its own list by index, so
    duplicates of i still count as neighbours. Up to 3 dimensions a k-d tree is used; above, blocks of
    ``chunk`` query rows (default: engine.knn.block_rows, 16 MB of distances at a time).
    """
    return exact_knn_with_subset(query, k, None, ref=ref, exclude_self=exclude_self, chunk=chunk)[0]


def nndescent_knn(x: np.ndarray, k: int, seed: int | None = 0) -> np.ndarray:
    """The papers' approximate, self-inclusive k-NN lists (pynndescent, Euclidean): row i usually starts with i.

    The first call in a process JIT-compiles numba (tens of seconds); later calls are fast.
    """
    from pynndescent import NNDescent

    x = np.ascontiguousarray(x, dtype=np.float32)
    p = nndescent_params(len(x))
    index = NNDescent(x, n_neighbors=k, metric="euclidean", n_trees=p["n_trees"], n_iters=p["n_iters"],
                      max_candidates=p["max_candidates"], random_state=seed, verbose=False)
    return np.asarray(index.neighbor_graph[0], dtype=np.int64)
