"""TimeVis' spatio-temporal complex (docs/methods/timevis.md), with each epoch's border points.

Node order: the selected samples of every epoch, epoch-major (node ``i·n + j`` is sample ``sel[j]`` at the
i-th fitted epoch), then the border points of epoch 0, of epoch 1, ... Edges:

* spatial, per epoch: the UMAP complex of the epoch's samples plus the boundary-wise complex of its border
  points (borders.py; border edges rescaled to ``border_share`` of the epoch's sampled weight and
  sample-sample edges across predicted classes down-weighted, both as in DVI: parametric.edge_set,
  layout.cross_prediction_weights);
* temporal: each sample node to the ``temporal_k`` nearest copies of the same sample at other epochs,
  membership exp(−max(0, d − ρ)/σ) with the node's own σ, ρ, fuzzy union.

Border points give the boundary-wise neighbourhoods that BNN@k measures a place in the projection; without
them the shared encoder places a run's border points far worse than per-epoch UMAP does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import graph as G


@dataclass
class SpatioTemporalComplex:
    heads: np.ndarray
    tails: np.ndarray
    weights: np.ndarray
    n: int  # selected samples per epoch
    borders: list  # [B_i, D] float32 per epoch (possibly 0 rows)

    @property
    def n_epochs(self) -> int:
        return len(self.borders)

    @property
    def n_nodes(self) -> int:
        return self.n * self.n_epochs + int(sum(len(B) for B in self.borders))

    def node_epoch(self) -> np.ndarray:
        """Epoch position (0..E-1) of every node."""
        E = self.n_epochs
        return np.concatenate([np.repeat(np.arange(E), self.n),
                               np.repeat(np.arange(E), [len(B) for B in self.borders])]).astype(np.int64)

    def epoch_nodes(self, i: int) -> np.ndarray:
        """Global ids of epoch i's nodes: its samples, then its border points."""
        E = self.n_epochs
        off = E * self.n + int(sum(len(B) for B in self.borders[:i]))
        return np.concatenate([np.arange(i * self.n, (i + 1) * self.n), off + np.arange(len(self.borders[i]))])

    def epoch_edges(self, i: int, node_epoch: np.ndarray | None = None):
        """Epoch i's spatial edges in local ids (positions in ``epoch_nodes(i)``)."""
        ne = self.node_epoch() if node_epoch is None else node_epoch
        sel = np.flatnonzero((ne[self.heads] == i) & (ne[self.tails] == i))
        local = np.full(self.n_nodes, -1, np.int64)
        ids = self.epoch_nodes(i)
        local[ids] = np.arange(len(ids))
        return local[self.heads[sel]], local[self.tails[sel]], self.weights[sel]

    # checkpoints ---------------------------------------------------------------------------------
    def save(self, ck, name: str) -> None:
        counts = np.array([len(B) for B in self.borders], np.int64)
        dim = next((B.shape[1] for B in self.borders if B.ndim == 2), 0)
        pts = np.concatenate(self.borders, 0) if counts.sum() else np.zeros((0, dim), np.float32)
        ck.save_npz(name, {"heads": self.heads, "tails": self.tails, "weights": self.weights,
                           "n": np.array(self.n), "border_counts": counts, "border_points": pts})

    @classmethod
    def load(cls, ck, name: str) -> "SpatioTemporalComplex | None":
        z = ck.load_npz(name)
        if "border_counts" not in z:  # a graph cached before border points: not this layout
            return None
        cuts = np.cumsum(z["border_counts"])[:-1]
        return cls(z["heads"], z["tails"], z["weights"], int(z["n"]), list(np.split(z["border_points"], cuts)))


def build(dynamics, epochs, reps, sel, *, n_neighbors: int, temporal_k: int, temporal_weight: float,
          prune_epochs: int, borders: bool, border_fraction: float, border_share: float,
          cross_pred_weight: float, seed: int, exact_knn_max: int | None, device: str, timer) -> SpatioTemporalComplex:
    from .layout import cross_prediction_weights
    from .parametric import epoch_complex

    E, n = len(reps), len(sel)
    sub = _Sub(dynamics, sel)
    per, bsets, sig_all, rho_all = [], [], [], []
    n_train = len(dynamics.train_index) if len(dynamics.train_index) else dynamics.n_samples
    n_b = int(n_train * border_fraction * n / max(dynamics.n_samples, 1)) if borders else 0
    for e, X in zip(epochs, reps):
        Xs = np.asarray(X[sel], np.float32)
        _, sig, rho, B, (h, t, w) = epoch_complex(Xs, dynamics, e, n_neighbors=n_neighbors, n_borders=n_b,
                                                  border_share=border_share, prune_epochs=prune_epochs, seed=seed,
                                                  exact_knn_max=exact_knn_max, device=device, timer=timer)
        sig_all.append(sig)
        rho_all.append(rho)
        w = cross_prediction_weights(sub, e, h, t, w, n, cross_pred_weight)
        per.append((h, t, w))
        bsets.append(np.zeros((0, Xs.shape[1]), np.float32) if B is None else np.asarray(B, np.float32))
    hs, ts, ws = [], [], []
    off = E * n
    for i, ((h, t, w), B) in enumerate(zip(per, bsets)):
        to_global = np.concatenate([np.arange(i * n, (i + 1) * n), off + np.arange(len(B))])
        hs.append(to_global[h])
        ts.append(to_global[t])
        ws.append(w)
        off += len(B)
    if E > 1 and temporal_k > 0:
        with timer("temporal_s"):
            ht, tt, wt = _temporal_edges(reps, sel, temporal_k, np.concatenate(sig_all), np.concatenate(rho_all),
                                         prune_epochs)
        hs.append(ht)
        ts.append(tt)
        ws.append(wt * temporal_weight)
    return SpatioTemporalComplex(np.concatenate(hs).astype(np.int64), np.concatenate(ts).astype(np.int64),
                                 np.concatenate(ws).astype(np.float32), n, bsets)


def _temporal_edges(reps, sel, k: int, sig, rho, prune_epochs: int):
    import torch

    E, n = len(reps), len(sel)
    kt = min(k, E - 1)
    R = torch.from_numpy(np.stack([np.asarray(X[sel], np.float32) for X in reps], 0))  # [E, n, D]
    D = torch.stack([(R - R[s]).norm(dim=2) for s in range(E)], 1)  # D[t, s, i]
    D[torch.arange(E), torch.arange(E)] = float("inf")
    d, s_idx = torch.topk(D, kt, dim=1, largest=False)  # [E, kt, n]
    d = d.permute(0, 2, 1).reshape(E * n, kt).numpy()
    s_idx = s_idx.permute(0, 2, 1).reshape(E * n, kt).numpy()
    node_i = np.tile(np.arange(n), E)
    cols = s_idx * n + node_i[:, None]
    m = G.membership(cols, d, sig, rho, n_rows=E * n, n_cols=E * n)
    return G.prune(G.fuzzy_union(m), prune_epochs)


class _Sub:
    """The prediction view of ``dynamics`` restricted to the selected samples (for cross_prediction_weights)."""

    def __init__(self, dyn, sel):
        self.dyn, self.sel = dyn, sel

    def prediction(self, e):
        p = self.dyn.prediction(e)
        return None if p is None else p[self.sel]

    def predicted_class(self, e):
        return np.asarray(self.dyn.predicted_class(e))[self.sel]

    def head(self, e):
        return self.dyn.head(e)

    def representation(self, e):
        return self.dyn.representation(e)[self.sel]
