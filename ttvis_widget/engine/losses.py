"""Losses of the parametric methods (docs/methods/building-blocks.md, "losses") that are not written out in
the stages themselves (layout.py): the low-dimensional similarity's (a, b), and the prediction-preserving KL
term (one epoch's head, or each node's own epoch head).

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


def prediction_kl(target_logp: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Mean KL(p ‖ q) over rows: p = exp(``target_logp``) the head's prediction on the original nodes, q =
    softmax(``logits``) its prediction on their reconstructions (the term that keeps PPR)."""
    logq = torch.log_softmax(logits.float(), 1)
    return (target_logp.exp() * (target_logp - logq)).sum(1).mean()


def epoch_heads_kl(dynamics, epochs, nodes: torch.Tensor, node_epoch: torch.Tensor, denormalize, lam: float,
                   device):
    """λ·KL(p_e(h) ‖ p_e(ĥ)) on reconstructed nodes, each against its own epoch's head p_e (nodes of several
    epochs: TimeVis, DynaVis). ``nodes``: the normalised nodes, ``node_epoch``: each one's position in
    ``epochs``, ``denormalize``: normalised -> raw representation. Returns ``loss(xr, ids)`` (``xr`` the
    normalised reconstructions of nodes ``ids``), or None when ``lam`` <= 0 or an epoch has no head."""
    if lam <= 0:
        return None
    heads = [dynamics.head(e) for e in epochs]
    if any(hd is None for hd in heads):
        return None
    mods = [hd.torch_module(device) for hd in heads]
    E = len(mods)
    with torch.no_grad():
        tlogp = None
        for i, m in enumerate(mods):  # one epoch's rows at a time (a denormalised copy of all of them was
            sel = torch.nonzero(node_epoch == i).squeeze(1)  # one more copy of every epoch)
            out = torch.log_softmax(m(denormalize(nodes[sel])), 1)
            if tlogp is None:
                tlogp = torch.empty(len(nodes), out.shape[1], device=nodes.device)
            tlogp[sel] = out
    stacked = _stacked_linear(mods)
    if stacked is not None:  # every head linear: all of them in one product, each row's block gathered
        W, bias = stacked

        def pred_loss_linear(xr, hidx):
            ep = node_epoch[hidx]
            every = torch.addmm(bias.view(-1), denormalize(xr).to(W.dtype), W.T).view(len(xr), E, -1)
            return lam * prediction_kl(tlogp[hidx], every[torch.arange(len(xr), device=xr.device), ep])

        return pred_loss_linear

    def pred_loss(xr, hidx):
        ep = node_epoch[hidx]
        order = torch.argsort(ep)  # one contiguous slice per epoch head
        counts = torch.bincount(ep, minlength=E).tolist()
        raw_r = denormalize(xr)[order]
        parts, s = [], 0
        for m, c in zip(mods, counts):
            if c:
                parts.append(m(raw_r[s:s + c]))
                s += c
        return lam * prediction_kl(tlogp[hidx[order]], torch.cat(parts, 0))

    return pred_loss


def _stacked_linear(mods):
    """(W [E·C, D], b [E, C]) of E heads that are each one Linear layer of the same shape, else None. A step's
    KL then costs one product of all E heads (E·C outputs per row, C per head) instead of E per-epoch calls on
    sorted slices."""
    from torch import nn

    lins = []
    for m in mods:
        if isinstance(m, nn.Sequential) and len(m) == 1:
            m = m[0]
        if not isinstance(m, nn.Linear) or m.bias is None:
            return None
        lins.append(m)
    if len({tuple(m.weight.shape) for m in lins}) != 1:
        return None
    with torch.no_grad():
        return torch.cat([m.weight for m in lins], 0).clone(), torch.stack([m.bias for m in lins]).clone()
