"""k-nearest-neighbour lists: exact (chunked torch ``cdist`` + ``topk``, no JIT) and the papers' NNDescent.

Both return int64 index arrays ``[M, k]`` sorted by increasing distance.
"""
from __future__ import annotations

import math

import numpy as np

def _as_tensor(x):
    import torch

    x = np.ascontiguousarray(x, dtype=np.float32)
    if not x.flags.writeable:  # memory-mapped recordings are read-only; torch wants a writable buffer
        x = x.copy()
    return torch.from_numpy(x)


def _tree_knn(query, ref, k, exclude_self):
    """Exact k-NN in low dimensions (2-D embeddings) with a k-d tree."""
    from scipy.spatial import cKDTree

    ref64 = np.asarray(ref, np.float64)
    q64 = np.asarray(query, np.float64)
    kk = k + 1 if exclude_self else k
    _, idx = cKDTree(ref64).query(q64, k=kk, workers=-1)
    idx = np.asarray(idx, np.int64).reshape(len(q64), kk)
    if not exclude_self:
        return idx
    rows = np.arange(len(idx))
    is_self = idx == rows[:, None]
    # drop i itself; when duplicates pushed i out of the k + 1 nearest, drop the last one instead
    drop = np.where(is_self.any(1), is_self.argmax(1), kk - 1)
    keep = np.ones_like(idx, bool)
    keep[rows, drop] = False
    return idx[keep].reshape(len(idx), k)


def exact_knn(query: np.ndarray, k: int, ref: np.ndarray | None = None, *, exclude_self: bool | None = None,
              chunk: int | None = None) -> np.ndarray:
    """Exact Euclidean k-NN of each ``query`` row among the rows of ``ref`` (default: ``query`` itself).

    ``exclude_self`` (default: True when ``ref`` is ``query``) removes row i from its own list by index, so
    duplicates of i still count as neighbours. Up to 3 dimensions a k-d tree is used; above, chunked
    ``|r|^2 - 2 q.r`` (float32 matrix products, the ordering of squared distances) + ``topk``, with
    ``chunk x len(ref)`` floats in memory at a time (default: ``engine.graph.block_rows``, 16 MB).
    """
    return exact_knn_with_subset(query, k, None, ref=ref, exclude_self=exclude_self, chunk=chunk)[0]


def exact_knn_with_subset(x: np.ndarray, k: int, subset: np.ndarray | None, *, ref: np.ndarray | None = None,
                          exclude_self: bool | None = None, chunk: int | None = None):
    """Self-excluded exact k-NN of every row of ``x`` among all rows, and, in the same pass, of the rows in
    ``subset`` among the ``subset`` rows only (indices relative to ``subset``).

    Returns ``(lists_all [N, k], lists_subset [len(subset), k] | None)``. With ``ref``: queries against ref only.
    """
    import torch

    same = ref is None or ref is x
    if exclude_self is None:
        exclude_self = same
    if exclude_self and not same:
        raise ValueError("exclude_self needs ref to be the query set itself")
    if subset is not None and not same:
        raise ValueError("subset lists need ref to be the query set itself")
    x = np.asarray(x, np.float32)
    r_np = x if same else np.asarray(ref, np.float32)
    avail = len(r_np) - (1 if exclude_self else 0)
    if k > avail:
        raise ValueError(f"k={k} neighbours requested but only {avail} candidates")
    if subset is not None:
        subset = np.asarray(subset, np.int64)
        if k > len(subset) - 1:
            raise ValueError(f"k={k} neighbours requested but the subset has {len(subset)} points")
    if x.shape[1] <= 3:
        out_all = _tree_knn(x, r_np, k, exclude_self)
        out_sub = None if subset is None else _tree_knn(x[subset], x[subset], k, True)
        return out_all, out_sub
    from ..engine.graph import block_rows

    chunk = int(chunk or block_rows(len(r_np)))
    q = _as_tensor(x)
    r = q if same else _as_tensor(r_np)
    rn = (r * r).sum(1)
    out_all = np.empty((len(x), k), np.int64)
    out_sub = None
    if subset is not None:
        out_sub = np.empty((len(subset), k), np.int64)
        pos = np.full(len(x), -1, np.int64)
        pos[subset] = np.arange(len(subset))
        sub_t = torch.from_numpy(subset)
    with torch.no_grad():
        for s in range(0, len(x), chunk):
            qc = q[s:s + chunk]
            d = torch.addmm(rn[None, :], qc, r.T, beta=1.0, alpha=-2.0)  # |r|^2 - 2 q.r: same order as |q - r|
            if exclude_self:
                rows = torch.arange(qc.shape[0])
                d[rows, rows + s] = float("inf")
            out_all[s:s + chunk] = d.topk(k, dim=1, largest=False, sorted=True).indices.numpy()
            if subset is not None:
                p = pos[s:s + chunk]
                sel = np.flatnonzero(p >= 0)
                if len(sel):
                    ds = d[torch.from_numpy(sel)][:, sub_t]
                    out_sub[p[sel]] = ds.topk(k, dim=1, largest=False, sorted=True).indices.numpy()
    return out_all, out_sub


def nndescent_params(n: int) -> dict:
    """The papers' NNDescent settings (``evaluate_proj_nn_perseverance_knn``) for N points."""
    return {"n_trees": 5 + int(round(math.sqrt(n) / 20.0)),
            "n_iters": max(5, int(round(math.log2(max(n, 2))))),
            "max_candidates": 60}


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
