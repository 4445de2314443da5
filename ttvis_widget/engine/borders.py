"""Border ("boundary") samples in REPRESENTATION space, made with the recorded classifier head.

Choice (differs from the original tool; docs/methods/building-blocks.md, "border points"): the original mixes
pairs of *inputs* and passes
the mix through the subject model's feature extractor. We only have representations and the head, so we mix
pairs of *representations*: for x1 predicted c1 we take c2 = its runner-up class and a partner x2 predicted c2,
drawn with probability ∝ 1 / (s_c2(x2) - s_c1(x2) + 1e-4) (partners already near the c1/c2 boundary are
favoured, as in the original). The mix weight λ of h(λ) = λ·x1 + (1-λ)·x2 is bisected (all candidates at once,
in torch) until the top-2 logits nearly tie; a candidate is kept when the normalised gap
(s1 - s2) / (s1 - s_min) < ``tol`` and the two leading classes are still {c1, c2}. The points lie exactly on
the head's decision boundary, which is what the projection must reserve space for; they are not guaranteed
to be representations of any real input. Deterministic for a seed.
"""
from __future__ import annotations

import numpy as np


def generate_border_points(dynamics, epoch, n: int | None = None, seed: int = 0, steps: int = 12,
                           tol: float = 0.1, oversample: float = 2.0, device: str = "cpu") -> np.ndarray | None:
    """float32 [B, D] border points of ``epoch`` (B ≤ n, default |train| // 10), or None without a head."""
    head = dynamics.head(epoch)
    if head is None:
        return None
    X = dynamics.representation(epoch)
    train = dynamics.train_index if len(dynamics.train_index) else np.arange(dynamics.n_samples)
    logits = dynamics.prediction(epoch)
    if logits is None:
        logits = head(X)
    return border_points_from(X, logits[train], head, n=n if n is not None else max(1, len(train) // 10),
                              seed=seed, steps=steps, tol=tol, oversample=oversample, device=device, rows=train)


def border_points_from(X, logits, head, n: int, seed: int = 0, steps: int = 12, tol: float = 0.1,
                       oversample: float = 2.0, device: str = "cpu", rows=None) -> np.ndarray:
    """Border points mixed from the rows of X (``rows``: those to draw from, default all; ``logits`` are
    theirs). Only the drawn endpoints are copied (``X[rows]`` was a copy of the whole training set)."""
    import torch

    rng = np.random.default_rng(seed)
    X = np.asarray(X, np.float32)
    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    logits = np.asarray(logits, np.float32)
    C = logits.shape[1]
    if C < 2 or n <= 0:
        return np.zeros((0, X.shape[1]), np.float32)
    pred = logits.argmax(1)
    order = np.argsort(-logits, 1)
    runner = order[:, 1]
    present = np.bincount(pred, minlength=C) > 0
    m = int(np.ceil(n * oversample))
    # first endpoints: uniform over samples whose runner-up class is predicted for someone
    ok1 = np.flatnonzero(present[runner])
    if len(ok1) == 0:
        return np.zeros((0, X.shape[1]), np.float32)
    i1 = rng.choice(ok1, size=m, replace=True)
    c1, c2 = pred[i1], runner[i1]
    i2 = np.empty(m, np.int64)
    for a, b in set(zip(c1.tolist(), c2.tolist())):
        sel = np.flatnonzero((c1 == a) & (c2 == b))
        pool = np.flatnonzero(pred == b)
        w = 1.0 / (logits[pool, b] - logits[pool, a] + 1e-4)
        i2[sel] = rng.choice(pool, size=len(sel), replace=True, p=w / w.sum())
    mod = head.torch_module(device)
    x1 = torch.from_numpy(np.asarray(X[rows[i1]], np.float32)).to(device)
    x2 = torch.from_numpy(np.asarray(X[rows[i2]], np.float32)).to(device)
    ar = torch.arange(m, device=device)
    tc1 = torch.from_numpy(c1).to(device)
    tc2 = torch.from_numpy(c2).to(device)
    lo = torch.zeros(m, 1, device=device)
    hi = torch.ones(m, 1, device=device)
    with torch.no_grad():
        for _ in range(steps):
            lam = (lo + hi) / 2
            s = mod(lam * x1 + (1 - lam) * x2)
            c1_wins = (s[ar, tc1] > s[ar, tc2])[:, None]
            hi = torch.where(c1_wins, lam, hi)
            lo = torch.where(c1_wins, lo, lam)
        lam = (lo + hi) / 2
        pts = lam * x1 + (1 - lam) * x2
        s = mod(pts)
        top2 = s.topk(2, 1)
        gap = (top2.values[:, 0] - top2.values[:, 1]) / (top2.values[:, 0] - s.min(1).values).clamp_min(1e-8)
        pair = ((top2.indices[:, 0] == tc1) & (top2.indices[:, 1] == tc2)) | \
               ((top2.indices[:, 0] == tc2) & (top2.indices[:, 1] == tc1))
        keep = ((gap < tol) & pair).cpu().numpy()
    pts = pts.cpu().numpy()[keep][:n]
    return np.ascontiguousarray(pts, dtype=np.float32)
