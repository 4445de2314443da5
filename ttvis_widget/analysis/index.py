"""Per-epoch search indices: exact nearest neighbours and similarity of a few queries against all samples.

``EpochIndex`` holds one epoch's representations as a torch tensor on the compute device (a GPU when
present) with their squared norms, built once per epoch (the one-off: read, copy, norms) and cached
(cache.py); a query then costs one matrix-vector product and a top-k, with no all-pairs graph. Euclidean
search goes through the package's one exact kNN (``engine/knn.py``); samples a query must not return are
excluded by giving them an infinite squared norm. ``PlaneIndex`` is a k-d tree of one epoch's 2-D positions.
"""
from __future__ import annotations

import numpy as np

from . import cache

#: a norm below this counts as zero for cosine similarity (the similarity of a zero vector is taken as 0)
_TINY = 1e-12


def resolve_device(device=None) -> str:
    from ..engine.device import resolve_device as _resolve

    return _resolve("auto" if device is None else device)


class EpochIndex:
    """One epoch's representations [N, D] on ``device`` for exact queries (see the module docstring)."""

    def __init__(self, reps: np.ndarray, device: str = "cpu"):
        import torch

        from ..engine.knn import _host_tensor

        x = _host_tensor(reps)  # a read-only memory map is copied here: this copy is the index
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.sq = (self.x * self.x).sum(1)
        norm = self.sq.sqrt()
        # 1/|x|, 0 for a zero row (its similarity is 0): a cosine query is one product and one multiply
        self.inv_norm = torch.where(norm > _TINY, 1.0 / norm.clamp_min(_TINY), torch.zeros_like(norm))
        self.n, self.dim = (int(s) for s in self.x.shape)

    @property
    def nbytes(self) -> int:
        return (self.n * self.dim + 2 * self.n) * 4

    def _queries(self, q):
        import torch

        q = np.array(np.atleast_2d(q), np.float32, order="C")  # a copy: rows of a memory map are read-only
        if q.shape[1] != self.dim:
            raise ValueError(f"query vectors have {q.shape[1]} dimensions; the representations have {self.dim}")
        return torch.from_numpy(q).to(self.device)

    def euclidean(self, q, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest rows to each query (Euclidean), never one of ``exclude``: (idx int64, dist float32)."""
        import torch

        from ..engine.knn import _knn_blocks, full_float32

        qt = self._queries(q)
        yy = self.sq
        if exclude is not None and len(exclude):
            yy = yy.clone()
            yy[torch.as_tensor(np.asarray(exclude, np.int64), device=self.device)] = float("inf")
        on_host = self.device.type == "cpu"
        idx = np.empty((len(qt), k), np.int64) if on_host else \
            torch.empty((len(qt), k), dtype=torch.int64, device=self.device)
        with torch.no_grad(), full_float32():
            _knn_blocks(qt, self.x, yy, None, k, len(qt), idx, None, on_host)
            it = torch.from_numpy(idx) if on_host else idx
            # the search ranks by |y|^2 - 2 x.y, which loses digits for close pairs (a duplicate comes out at
            # 1e-3, not 0): the k distances returned are recomputed directly, and the k re-sorted by them
            # index_select, not x[it]: advanced indexing with a 2-D index costs ~15 ms on the host here
            near = self.x.index_select(0, it.reshape(-1)).reshape(len(qt), k, self.dim)
            dist = torch.linalg.vector_norm(near - qt[:, None, :], dim=2)
            dist, order = torch.sort(dist, dim=1, stable=True)
            it = torch.gather(it, 1, order)
        return it.cpu().numpy(), dist.cpu().numpy()

    def cosine(self, q, k: int, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """The k rows of largest cosine similarity to each query, never one of ``exclude``: (idx, similarity).
        A zero row has similarity 0 with everything."""
        import torch

        from ..engine.knn import full_float32

        qt = self._queries(q)
        qn = qt.norm(dim=1, keepdim=True)
        if bool((qn <= _TINY).any()):
            raise ValueError("a query vector has zero norm: its cosine similarity is undefined "
                             "(use metric='euclidean')")
        with torch.no_grad(), full_float32():
            s = (qt / qn) @ self.x.T
            s.mul_(self.inv_norm)
            if exclude is not None and len(exclude):
                s[:, torch.as_tensor(np.asarray(exclude, np.int64), device=self.device)] = -float("inf")
            vals, idx = torch.topk(s, k, dim=1, largest=True, sorted=True)
        return idx.cpu().numpy(), vals.cpu().numpy()


def epoch_index(dynamics, epoch: int, device: str) -> EpochIndex:
    """The cached ``EpochIndex`` of ``epoch`` (built on first use)."""
    return cache.cached(dynamics, ("index", int(epoch), str(device)),
                        lambda: EpochIndex(dynamics.representation(epoch), device), lambda v: v.nbytes)


class PlaneIndex:
    """One epoch's 2-D positions in a k-d tree (exact kNN in float64)."""

    def __init__(self, xy: np.ndarray):
        from scipy.spatial import cKDTree

        self.xy = np.asarray(xy, np.float64)
        self.tree = cKDTree(self.xy)
        self.nbytes = int(self.xy.nbytes * 3)  # the points and the tree's copy and nodes, roughly

    def query(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest other points to point ``i`` (its own index dropped; if duplicates pushed it out of
        the k + 1 nearest, the farthest is dropped instead)."""
        kk = min(k + 1, len(self.xy))
        dist, idx = self.tree.query(self.xy[i], k=kk)
        idx = np.atleast_1d(np.asarray(idx, np.int64))
        dist = np.atleast_1d(np.asarray(dist, np.float64))
        own = np.flatnonzero(idx == i)
        drop = own[0] if len(own) else kk - 1
        keep = np.arange(kk) != drop
        return idx[keep][:k], dist[keep][:k].astype(np.float32)


def plane_index(run, epoch: int) -> PlaneIndex:
    """The cached ``PlaneIndex`` of a run's epoch."""
    return cache.cached(run, ("plane", int(epoch)), lambda: PlaneIndex(run.embedding(epoch)), lambda v: v.nbytes)
