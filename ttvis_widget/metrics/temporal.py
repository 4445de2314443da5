"""Temporal faithfulness over a sequence of evaluated epochs (the DVI and TimeVis papers' definitions).

* :func:`dvi_temporal` — DVI's per-sample Pearson r_i between the high-dim neighbour-preserving rate
  α_i^t = |N_k^{t-1}(i) ∩ N_k^t(i)| / k and the 2-D movement Δ_i^t = ‖p_i^t − p_i^{t−1}‖ over the T − 1
  transitions (NaN → 0, as in DVI). Desired sign: **negative**.
* :func:`temporal_rankings` — for each reference epoch t and sample i, the distances to the other epochs
  d^H_i(s) = ‖h_i^t − h_i^s‖ and d^L_i(s) = ‖p_i^t − p_i^s‖, giving
  - **tnn@k**: overlap count of the k closest epochs in each space (**s = t excluded**, like the later
    TimeVis/DeepDebugger code; the Jan-2022 code kept it);
  - **tr**: Spearman ρ(d^H_i, d^L_i) over all evaluated epochs s (s = t included, as "over all evaluated
    epochs" reads; ``include_self=False`` drops it), mean over samples;
  - **tlr**: the same restricted to the stage containing t (timeline cut into 3 contiguous, nearly equal chunks).
  tnn@k is NaN when k ≥ the number of other epochs (trivially k); tr/tlr are NaN with fewer than 2 epochs.
  A sample whose ρ is undefined (constant distances) counts as 0, like DVI's NaN → 0.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .neighbors import overlap_counts


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of a with the same row of b; 0 where either row is constant."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    num = (a * b).sum(1)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    tiny = 1e-12 * np.maximum(1.0, np.sqrt((a * a).sum(1).max(initial=0) * (b * b).sum(1).max(initial=0)))
    out = np.zeros(len(a))
    ok = den > tiny
    out[ok] = num[ok] / den[ok]
    return np.clip(out, -1.0, 1.0)


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ per row (average ranks for ties); 0 where a row is constant."""
    from scipy.stats import rankdata  # here: importing scipy.stats costs seconds, and ttvis_widget.fit imports us

    if a.shape[1] < 2:
        return np.full(len(a), np.nan)
    return rowwise_pearson(rankdata(a, axis=1), rankdata(b, axis=1))


def dvi_temporal(high_knn: Sequence[np.ndarray], low: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sample r_i = Pearson(α_i, Δ_i) over consecutive epochs.

    ``high_knn``: one k-NN index list [N, k] per epoch (in time order); ``low``: 2-D positions [N, 2] per epoch.
    Returns float [N] (0 where undefined); needs at least 2 epochs (3 for a non-trivial correlation).
    """
    T = len(high_knn)
    if T != len(low):
        raise ValueError(f"{T} neighbour lists but {len(low)} embeddings")
    if T < 2:
        raise ValueError("the DVI temporal correlation needs at least 2 epochs")
    k = high_knn[0].shape[1]
    alpha = np.stack([overlap_counts(high_knn[t - 1], high_knn[t]) / k for t in range(1, T)], 1)
    delta = np.stack([np.linalg.norm(np.asarray(low[t], np.float64) - np.asarray(low[t - 1], np.float64), axis=1)
                      for t in range(1, T)], 1)
    return rowwise_pearson(alpha, delta)


def stages(n_epochs: int, n_stages: int = 3) -> np.ndarray:
    """Stage number (0..n_stages-1) of each evaluated epoch: contiguous, nearly equal chunks."""
    out = np.empty(n_epochs, np.int64)
    for s, chunk in enumerate(np.array_split(np.arange(n_epochs), n_stages)):
        out[chunk] = s
    return out


def epoch_distances(seq: Sequence[np.ndarray], rows: np.ndarray | None = None) -> np.ndarray:
    """Distances between epochs per sample: float32 [T, T, N] with out[t, s, i] = ‖x_i^t − x_i^s‖."""
    T = len(seq)
    first = np.asarray(seq[0]) if rows is None else np.asarray(seq[0])[rows]
    n = len(first)
    out = np.zeros((T, T, n), np.float32)
    arrs = [np.asarray(x, np.float32) if rows is None else np.asarray(x, np.float32)[rows] for x in seq]
    for t in range(T):
        for s in range(t + 1, T):
            d = np.linalg.norm(arrs[t] - arrs[s], axis=1)
            out[t, s] = d
            out[s, t] = d
    return out


def temporal_rankings(high: Sequence[np.ndarray] | np.ndarray, low: Sequence[np.ndarray] | np.ndarray,
                      ks: Sequence[int] = (3, 5, 7), n_stages: int = 3, rows: np.ndarray | None = None,
                      dist_high: np.ndarray | None = None, dist_low: np.ndarray | None = None,
                      include_self: bool = True) -> dict:
    """tnn@k (s = t excluded), tr and tlr (s = t included unless ``include_self=False``) per reference epoch.

    ``high``/``low``: per-epoch arrays [N, D] / [N, 2] in time order (or precomputed ``dist_high``/``dist_low``
    from :func:`epoch_distances`); ``rows`` restricts to some samples. Returns a dict of float arrays [T]:
    ``tnn{k}`` (mean overlap count; NaN when fewer than k other epochs), ``tr``, ``tlr``, and ``stage`` [T].
    """
    dh = epoch_distances(high, rows) if dist_high is None else (dist_high if rows is None else dist_high[:, :, rows])
    dl = epoch_distances(low, rows) if dist_low is None else (dist_low if rows is None else dist_low[:, :, rows])
    T = dh.shape[0]
    st = stages(T, n_stages)
    out = {f"tnn{k}": np.full(T, np.nan) for k in ks}
    out["tr"] = np.full(T, np.nan)
    out["tlr"] = np.full(T, np.nan)
    out["stage"] = st
    if dh.shape[2] == 0:
        return out
    for t in range(T):
        others = np.array([s for s in range(T) if s != t])
        if len(others) == 0:
            continue
        h = dh[t, others].T  # [N, T-1]
        l = dl[t, others].T
        oh = np.argsort(h, axis=1, kind="stable")
        ol = np.argsort(l, axis=1, kind="stable")
        for k in ks:
            if k < len(others):
                out[f"tnn{k}"][t] = overlap_counts(oh[:, :k], ol[:, :k]).mean()
        cols = np.arange(T) if include_self else others
        h, l = dh[t, cols].T, dl[t, cols].T
        if len(cols) >= 2:
            out["tr"][t] = rowwise_spearman(h, l).mean()
        local = np.flatnonzero(st[cols] == st[t])
        if len(local) >= 2:
            out["tlr"][t] = rowwise_spearman(h[:, local], l[:, local]).mean()
    return out
