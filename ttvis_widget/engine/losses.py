"""Losses (algorithms.md §1.6–1.7): UMAP cross-entropy with negative sampling, reconstruction.

``find_ab_params`` is umap-learn's own least-squares fit (``umap.umap_.find_ab_params``) transcribed here so
that the engine need not import umap/numba; defaults (spread 1, min_dist 0.1) give a ≈ 1.577, b ≈ 0.895.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

EPS = 1e-4


@lru_cache(maxsize=16)
def find_ab_params(spread: float = 1.0, min_dist: float = 0.1) -> tuple[float, float]:
    from scipy.optimize import curve_fit

    def curve(x, a, b):
        return 1.0 / (1.0 + a * x ** (2 * b))

    xv = np.linspace(0, spread * 3, 300)
    yv = np.zeros(xv.shape)
    yv[xv < min_dist] = 1.0
    yv[xv >= min_dist] = np.exp(-(xv[xv >= min_dist] - min_dist) / spread)
    params, _ = curve_fit(curve, xv, yv)
    return float(params[0]), float(params[1])


def umap_ce(y_head: torch.Tensor, y_tail: torch.Tensor, a: float, b: float, negative_sample_rate: int = 5,
            generator: torch.Generator | None = None, repulsion: float = 1.0) -> torch.Tensor:
    """Mean binary cross-entropy over B positive pairs and ``negative_sample_rate``·B negative pairs.

    Negatives pair each head (repeated) with a random permutation of the repeated tails of the batch.
    """
    B = y_head.shape[0]
    d2 = ((y_head - y_tail) ** 2).sum(1)
    q_pos = 1.0 / (1.0 + a * (d2 + 1e-12) ** b)
    n = negative_sample_rate * B
    perm = torch.randint(0, B, (n,), generator=generator, device=y_head.device)
    yh = y_head.repeat(negative_sample_rate, 1)
    yt = y_tail[perm]
    d2n = ((yh - yt) ** 2).sum(1)
    q_neg = 1.0 / (1.0 + a * (d2n + 1e-12) ** b)
    att = -torch.log(q_pos.clamp(EPS, 1 - EPS)).sum()
    rep = -torch.log((1 - q_neg).clamp(EPS, 1 - EPS)).sum()
    return (att + repulsion * rep) / (B + n)


def reconstruction(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    return ((x - x_hat) ** 2).mean()


def prediction_kl(target_logp: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(p ‖ q) over rows: p = exp(``target_logp``) the head's prediction on the original nodes, q =
    softmax(``logits``) its prediction on their reconstructions (the term that keeps PPR)."""
    logq = torch.log_softmax(logits.float(), 1)
    return (target_logp.exp() * (target_logp - logq)).sum(1).mean()


def param_distance(model: torch.nn.Module, ref: dict, prefix: str = "") -> torch.Tensor:
    """‖θ − θ_ref‖² over the trainable parameters (whose names start with ``prefix``)."""
    tot = None
    for name, p in model.named_parameters():
        if not name.startswith(prefix):
            continue
        d = ((p - ref[name]) ** 2).sum()
        tot = d if tot is None else tot + d
    return tot
