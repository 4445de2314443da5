"""UMAP fuzzy simplicial sets from kNN lists, and the samplers of their edges (docs/methods/building-blocks.md:
"kNN graph", "fuzzy simplicial set", "edge sampling", "boundary complex"). The neighbours themselves: knn.py.

* ``fuzzy_simplicial_set``: the UMAP membership graph from precomputed neighbours. ``backend="umap"`` calls
  ``umap.umap_.fuzzy_simplicial_set`` (numba; first call JIT-compiles); ``backend="numpy"`` (default) is a
  vectorized transcription of the same algorithm (smooth_knn_dist: 64-step bisection, local connectivity 1,
  the 1e-3 minimum scale; memberships; fuzzy union) that needs no JIT -- results agree to floating-point
  precision (see tests).
* ``prune`` / ``EdgeSampler``: drop weights < max/n_epochs; sample edges with replacement ∝ weight (shuffled
  systematic blocks). ``PartnerSampler``: one graph neighbour per node.
* ``border_graph``: the boundary-wise complex of border points.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .knn import knn_exact

SMOOTH_K_TOLERANCE = 1e-5
MIN_K_DIST_SCALE = 1e-3


def smooth_knn_dist(dists: np.ndarray, k: float, n_iter: int = 64, local_connectivity: float = 1.0,
                    bandwidth: float = 1.0):
    """Vectorized umap.umap_.smooth_knn_dist: (sigmas [N], rhos [N]). Column 0 is assumed to be the point itself."""
    d = np.asarray(dists, np.float64)
    n, kk = d.shape
    target = np.log2(k) * bandwidth
    rho = np.zeros(n)
    nz = np.where(d > 0, d, np.inf)
    nz_sorted = np.sort(nz, 1)
    n_nz = (d > 0).sum(1)
    index = int(np.floor(local_connectivity))
    interp = local_connectivity - index
    has = n_nz >= local_connectivity
    if index > 0:
        lo_v = nz_sorted[:, index - 1]
        hi_v = nz_sorted[:, min(index, kk - 1)]
        r = lo_v + (interp * (hi_v - lo_v) if interp > 1e-5 else 0)
    else:
        r = interp * nz_sorted[:, 0]
    rho[has] = r[has]
    some = (~has) & (n_nz > 0)
    if some.any():
        rho[some] = np.where(d[some] > 0, d[some], -np.inf).max(1)

    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    mid = np.ones(n)
    active = np.ones(n, bool)
    dd = d[:, 1:] - rho[:, None]
    for _ in range(n_iter):
        psum = np.where(dd > 0, np.exp(-np.maximum(dd, 0) / mid[:, None]), 1.0).sum(1)
        done = np.abs(psum - target) < SMOOTH_K_TOLERANCE
        active &= ~done
        if not active.any():
            break
        gt = (psum > target) & active
        lt = (~(psum > target)) & active
        hi = np.where(gt, mid, hi)
        mid = np.where(gt, (lo + hi) / 2.0, mid)
        lo = np.where(lt, mid, lo)
        mid = np.where(lt, np.where(np.isinf(hi), mid * 2, (lo + hi) / 2.0), mid)
    sigma = mid
    mean_all = d.mean()
    mean_i = d.mean(1)
    sigma = np.where(rho > 0, np.maximum(sigma, MIN_K_DIST_SCALE * mean_i), np.maximum(sigma, MIN_K_DIST_SCALE * mean_all))
    return sigma.astype(np.float32), rho.astype(np.float32)


def membership(idx: np.ndarray, dists: np.ndarray, sigmas, rhos, n_rows: int | None = None, n_cols: int | None = None,
               self_rows: np.ndarray | None = None) -> sp.csr_matrix:
    """Directed memberships exp(-max(0, d - rho_i) / sigma_i) as a sparse [n_rows, n_cols] matrix.

    ``self_rows``: the node id of each row (default: the row number); entries pointing to it are zero.
    """
    n = idx.shape[0]
    rows = np.repeat(np.arange(n), idx.shape[1])
    cols = idx.ravel()
    dd = dists.astype(np.float64) - rhos[:, None]
    vals = np.where(dd <= 0, 1.0, np.exp(-np.maximum(dd, 0) / np.maximum(sigmas[:, None], 1e-12))).ravel()
    own = np.arange(n) if self_rows is None else self_rows
    vals[cols == np.repeat(own, idx.shape[1])] = 0.0
    vals[cols < 0] = 0.0
    cols = np.maximum(cols, 0)
    m = sp.coo_matrix((vals.astype(np.float32), (rows, cols)), shape=(n_rows or n, n_cols or n)).tocsr()
    m.eliminate_zeros()
    return m


def fuzzy_union(w: sp.spmatrix) -> sp.csr_matrix:
    wt = w.T.tocsr()
    out = (w + wt - w.multiply(wt)).tocsr()
    out.eliminate_zeros()
    return out


def fuzzy_simplicial_set(idx, dists, k: int | None = None, backend: str = "numpy", seed: int = 0):
    """UMAP fuzzy simplicial set from precomputed neighbours: (graph csr [N,N], sigmas, rhos)."""
    n = idx.shape[0]
    k = k or idx.shape[1]
    if backend == "umap":
        from umap.umap_ import fuzzy_simplicial_set as fss

        g, sigmas, rhos = fss(np.zeros((n, 1), np.float32), k, np.random.RandomState(seed), "euclidean",
                              knn_indices=idx, knn_dists=dists, return_dists=False)[:3]
        return g.tocsr(), np.asarray(sigmas, np.float32), np.asarray(rhos, np.float32)
    sigmas, rhos = smooth_knn_dist(dists, k)
    return fuzzy_union(membership(idx, dists, sigmas, rhos)), sigmas, rhos


def prune(graph: sp.spmatrix, n_epochs: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges (head, tail, weight) of a graph, dropping weights < max / n_epochs (umap-learn's rule)."""
    g = graph.tocoo()
    w = g.data
    if len(w) == 0:
        return g.row.astype(np.int64), g.col.astype(np.int64), w.astype(np.float32)
    keep = w >= w.max() / float(n_epochs)
    return g.row[keep].astype(np.int64), g.col[keep].astype(np.int64), w[keep].astype(np.float32)


def neighbour_preserving_rate(idx_a: np.ndarray, idx_b: np.ndarray) -> np.ndarray:
    """Per-sample |kNN_a ∩ kNN_b| / k (self excluded if present in column 0 of both)."""
    a = idx_a[:, 1:] if (idx_a[:, 0] == np.arange(len(idx_a))).all() else idx_a
    b = idx_b[:, 1:] if (idx_b[:, 0] == np.arange(len(idx_b))).all() else idx_b
    out = np.zeros(len(a), np.float32)
    for s in range(0, len(a), 4096):
        out[s:s + 4096] = (a[s:s + 4096, :, None] == b[s:s + 4096, None, :]).any(2).sum(1) / a.shape[1]
    return out


def weight_cdf(weights, device="cpu"):
    """The normalised cumulative sum of ``weights`` (numpy or torch) as a float64 tensor on ``device``, summed
    on the host: a GPU's float scan adds in no fixed order, so its draws would differ from run to run."""
    import torch

    w = weights.detach().cpu() if torch.is_tensor(weights) else weights
    c = np.cumsum(np.asarray(w, np.float64))
    return torch.as_tensor(c / c[-1], device=device)


class EdgeSampler:
    """Draw edges with replacement, with probability ∝ weight (seedable).

    Draws come from shuffled blocks of ``block`` edges chosen by systematic sampling: with one uniform offset
    u, edge e appears floor(M·c_e + u) − floor(M·c_{e−1} + u) times in a block of M (c: the normalised
    cumulative weights), i.e. its expected count rounded up or down, as umap-learn's epochs_per_sample
    schedule visits edges. Each draw is still an unbiased sample ∝ weight, with less variance than
    independent draws, and a block costs one pass over the weights plus one permutation (far cheaper than a
    binary search of the cumulative weights per draw).
    """

    def __init__(self, heads, tails, weights, device="cpu", generator=None, block: int = 1 << 19):
        import torch

        self.heads = torch.as_tensor(heads, device=device)
        self.tails = torch.as_tensor(tails, device=device)
        self.cdf = weight_cdf(weights, device)
        self.generator = generator
        self.device = device
        self.block = int(block)
        self._buf = torch.empty(0, dtype=torch.long, device=device)
        self._pos = 0

    def __len__(self):
        return len(self.heads)

    def _refill(self, m: int) -> None:
        import torch

        u = torch.rand(1, generator=self.generator, dtype=torch.float64, device=self.device)
        ends = torch.floor(self.cdf * m + u).long()
        ends[-1] = m  # cdf[-1] == 1, so floor(m + u) == m: exact, not left to round-off
        counts = torch.diff(ends, prepend=ends.new_zeros(1))
        ids = torch.repeat_interleave(counts)  # edge e repeated counts[e] times
        perm = torch.randperm(m, generator=self.generator, device=self.device)
        self._buf, self._pos = ids.index_select(0, perm), 0

    def sample(self, n: int):
        if self._pos + n > len(self._buf):
            self._refill(max(self.block, int(n)))
        i = self._buf[self._pos:self._pos + n]
        self._pos += n
        return self.heads.index_select(0, i), self.tails.index_select(0, i)


class PartnerSampler:
    """One random graph neighbour per node (seedable): ``partner(ids)`` draws, for each id, one of the nodes it
    shares an edge with, uniformly (either direction of the edge list); a node without edges is its own partner.
    Stored as CSR (rows sorted by node), so a draw is three gathers."""

    def __init__(self, heads, tails, n_nodes: int, device="cpu", generator=None):
        import torch

        h = torch.as_tensor(np.concatenate([np.asarray(heads), np.asarray(tails)]).astype(np.int64), device=device)
        t = torch.as_tensor(np.concatenate([np.asarray(tails), np.asarray(heads)]).astype(np.int64), device=device)
        order = torch.argsort(h, stable=True)
        self.indices = t.index_select(0, order)
        self.degree = torch.bincount(h, minlength=int(n_nodes))
        self.indptr = torch.cumsum(self.degree, 0) - self.degree  # start of each node's row
        self.generator = generator
        self.device = device

    def partner(self, ids):
        import torch

        d = self.degree.index_select(0, ids)
        u = torch.rand(len(ids), generator=self.generator, device=self.device)
        pos = self.indptr.index_select(0, ids) + torch.minimum((u * d).long(), (d - 1).clamp_min(0))
        out = self.indices.index_select(0, pos.clamp_max(max(len(self.indices) - 1, 0))) if len(self.indices) else ids
        return torch.where(d > 0, out, ids)


def border_graph(X: np.ndarray, B: np.ndarray, k: int = 15, device: str = "cpu") -> sp.csr_matrix:
    """Boundary-wise complex (docs/methods/building-blocks.md, "boundary complex"): every sample and every
    border point to its k nearest border points, UMAP memberships, fuzzy union. Nodes: 0..N-1 samples,
    N..N+|B|-1 border points."""
    n, nb = len(X), len(B)
    if nb < 2:
        return sp.csr_matrix((n + nb, n + nb), dtype=np.float32)
    kk = min(k, nb)
    # samples -> border points; column 0 is the sample itself (distance 0) as smooth_knn_dist expects
    i_s, d_s = knn_exact(X, kk - 1, Y=B, device=device)
    i_s = np.concatenate([np.arange(n)[:, None], i_s + n], 1)
    d_s = np.concatenate([np.zeros((n, 1), np.float32), d_s], 1)
    # border -> border (itself first)
    i_b, d_b = knn_exact(B, kk, device=device)
    i_b = i_b + n
    idx = np.concatenate([i_s, i_b], 0)
    dist = np.concatenate([d_s, d_b], 0)
    sig, rho = smooth_knn_dist(dist, kk)
    m = membership(idx, dist, sig, rho, n_rows=n + nb, n_cols=n + nb)
    return fuzzy_union(m)
