"""Nearest neighbours: the one exact kNN of the package (the engine's graphs and the metrics both use it) and
pynndescent above the size where exact search stops paying.

* ``knn_exact``: exact Euclidean kNN in blocks of query rows (torch: ``|y|^2 - 2 x.y`` by one fused addmm,
  then top-k; no JIT), each row's own index first (distance 0) as umap-learn expects, or excluded.
* ``exact_knn_lists``: the same search giving index lists only, self excluded by index (a duplicate of a
  point stays its neighbour), optionally also each row of a subset among that subset in the same pass; up
  to 3 dimensions (2-D embeddings) a k-d tree.
* ``knn``: ``knn_exact`` up to ``exact_limit`` rows, NNDescent above (its compilation timed apart).
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager

import numpy as np

EXACT_MAX = 20000
#: on a GPU exact search is matrix products with no JIT, where pynndescent would run on the host: exact up to
#: this many rows there
EXACT_MAX_CUDA = 200000

#: floats in one block of query-by-reference distances (16 MB): the block, top-k's working copy and the
#: product's buffers are the peak of a fit's graph stage, so the block is sized by the references, not fixed
BLOCK_FLOATS = 1 << 22
#: on a GPU a block may hold 2^27 floats (512 MB): fewer, larger matrix products, results kept on the device
BLOCK_FLOATS_CUDA = 1 << 27


def block_rows(n_ref: int, budget: int = BLOCK_FLOATS) -> int:
    """Query rows per block so that a block of distances to ``n_ref`` references holds ``budget`` floats."""
    return int(max(64, min(4096, budget // max(1, int(n_ref)))))


@contextmanager
def full_float32():
    """float32 matrix products at full precision in the block, whatever the caller chose: with
    ``torch.set_float32_matmul_precision("high")`` a GPU multiplies in TF32 (10-bit mantissas), and the close
    distances that a kNN ranks would tie or swap."""
    import torch

    prev = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(prev)


def _knn_blocks(Xt, Yt, yy, self_mask, k_eff: int, chunk: int, idx_out, d_out, on_host: bool, sub=None) -> None:
    """The search. ``self_mask``: None (Y is another set), ``-inf`` (each row's own index ranked first) or
    ``+inf`` (never chosen). ``d_out`` None: indices only. ``sub``: (position of each row in the subset or -1,
    subset ids as a tensor, k, output) for the subset's lists among the subset, from the same blocks."""
    import torch

    for s in range(0, len(Xt), chunk):
        xb = Xt[s:s + chunk]
        # ranking needs only |y|^2 - 2 x.y (one fused addmm); |x|^2 is added to the k kept values
        d2 = torch.addmm(yy[None, :], xb, Yt.T, beta=1.0, alpha=-2.0)
        if self_mask is not None:  # by index, whatever the round-off
            r = torch.arange(len(xb), device=xb.device)
            d2[r, r + s] = self_mask
        vals, idx = torch.topk(d2, k_eff, dim=1, largest=False)
        idx_out[s:s + chunk] = idx.numpy() if on_host else idx
        if d_out is not None:
            d = (vals + (xb * xb).sum(1, keepdim=True)).clamp_min(0).sqrt()
            if self_mask == -float("inf"):
                d[:, 0] = 0.0
            d_out[s:s + chunk] = d.numpy() if on_host else d
        if sub is not None:
            pos, sub_t, k, out_sub = sub
            p = pos[s:s + chunk]
            sel = np.flatnonzero(p >= 0)
            if len(sel):
                ds = d2[torch.from_numpy(sel)][:, sub_t]
                out_sub[p[sel]] = ds.topk(k, dim=1, largest=False, sorted=True).indices.numpy()


def knn_exact(X, k: int, Y=None, device: str = "cpu", chunk: int | None = None, exclude_self: bool = False):
    """Exact Euclidean kNN of the rows of X among the rows of Y (default X). Returns (idx int64, dist float32).

    With Y None, each row's own index comes first (distance 0) unless ``exclude_self``. ``chunk``: query rows
    per block (default ``block_rows``).
    """
    import torch

    Xt = torch.from_numpy(np.array(X, np.float32)).to(device)
    Yt = Xt if Y is None else torch.from_numpy(np.array(Y, np.float32)).to(device)
    on_host = Xt.device.type == "cpu"
    chunk = int(chunk or block_rows(len(Yt), BLOCK_FLOATS if on_host else BLOCK_FLOATS_CUDA))
    k_eff = min(k + (1 if (Y is None and exclude_self) else 0), len(Yt))
    yy = (Yt * Yt).sum(1)
    # on the host the blocks go straight into numpy; on a device they stay there until one transfer at the end
    idx_out = np.empty((len(Xt), k_eff), np.int64) if on_host else torch.empty((len(Xt), k_eff), dtype=torch.int64, device=Xt.device)
    d_out = np.empty((len(Xt), k_eff), np.float32) if on_host else torch.empty((len(Xt), k_eff), device=Xt.device)
    with full_float32():
        _knn_blocks(Xt, Yt, yy, -float("inf") if Y is None else None, k_eff, chunk, idx_out, d_out, on_host)
    if not on_host:
        idx_out, d_out = idx_out.cpu().numpy(), d_out.cpu().numpy()
    if Y is None and exclude_self:
        return idx_out[:, 1:], d_out[:, 1:]
    return idx_out, d_out


def _host_tensor(x):
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


def exact_knn_lists(x, k: int, subset=None, *, ref=None, exclude_self: bool | None = None, chunk: int | None = None):
    """Exact k-NN index lists (int64, sorted by distance) of every row of ``x`` among the rows of ``ref``
    (default ``x``, each row's own index excluded unless ``exclude_self=False``), and in the same pass of the
    rows in ``subset`` among the ``subset`` rows only (indices relative to ``subset``).

    Returns ``(lists [N, k], subset lists [len(subset), k] | None)``. Up to 3 dimensions a k-d tree is used.
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
    q = _host_tensor(x)
    r = q if same else _host_tensor(r_np)
    out_all = np.empty((len(x), k), np.int64)
    sub = out_sub = None
    if subset is not None:
        out_sub = np.empty((len(subset), k), np.int64)
        pos = np.full(len(x), -1, np.int64)
        pos[subset] = np.arange(len(subset))
        sub = (pos, torch.from_numpy(subset), k, out_sub)
    with torch.no_grad():
        _knn_blocks(q, r, (r * r).sum(1), float("inf") if exclude_self else None, k,
                    int(chunk or block_rows(len(r_np))), out_all, None, True, sub)
    return out_all, out_sub


def nndescent_params(n: int) -> dict:
    """The papers' NNDescent settings (``evaluate_proj_nn_perseverance_knn``) for N points."""
    return {"n_trees": 5 + int(round(math.sqrt(n) / 20.0)),
            "n_iters": max(5, int(round(math.log2(max(n, 2))))),
            "max_candidates": 60}


_NND_WARM = False


def nndescent_warmup() -> float:
    """Compile pynndescent's numba code once per process on a small problem; returns the seconds it took (0
    after the first call) so that fits report JIT time apart from fit time."""
    global _NND_WARM
    if _NND_WARM:
        return 0.0
    from pynndescent import NNDescent

    t0 = time.perf_counter()
    X = np.random.default_rng(0).normal(size=(512, 8)).astype(np.float32)
    NNDescent(X, n_neighbors=15, metric="euclidean", n_trees=4, n_iters=2, random_state=0, low_memory=True,
              verbose=False).neighbor_graph
    _NND_WARM = True
    return time.perf_counter() - t0


def exact_limit(device: str = "cpu", exact_max: int | None = None) -> int:
    """Most rows for which ``knn`` is exact: ``exact_max`` if given, else EXACT_MAX on the host and
    EXACT_MAX_CUDA on a CUDA device."""
    if exact_max is not None:
        return int(exact_max)
    return EXACT_MAX_CUDA if str(device).startswith("cuda") else EXACT_MAX


def knn(X, k: int = 15, exact_max: int | None = None, device: str = "cpu", seed: int = 0, timings: dict | None = None):
    """(idx [N,k], dist [N,k]) with the point itself in column 0. Exact (torch, on ``device``) up to
    ``exact_limit(device, exact_max)`` rows, else NNDescent with the papers' settings (at most 64 trees; its
    JIT compilation, the first time in a process, is added to ``timings["jit_s"]``, the search itself to
    ``timings["nndescent_s"]``)."""
    n = len(X)
    if n <= exact_limit(device, exact_max):
        return knn_exact(X, k, device=device)
    from pynndescent import NNDescent

    jit = nndescent_warmup()
    t0 = time.perf_counter()
    p = nndescent_params(n)
    nnd = NNDescent(np.asarray(X, np.float32), n_neighbors=k, metric="euclidean", n_trees=min(64, p["n_trees"]),
                    n_iters=p["n_iters"], max_candidates=p["max_candidates"], random_state=seed, low_memory=True,
                    verbose=False)
    idx, dist = nnd.neighbor_graph
    if timings is not None:
        timings["jit_s"] = timings.get("jit_s", 0.0) + jit
        timings["nndescent_s"] = timings.get("nndescent_s", 0.0) + time.perf_counter() - t0
    return idx.astype(np.int64), dist.astype(np.float32)
