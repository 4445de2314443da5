"""The shared training loop of the parametric methods (DVI, TimeVis): sampled edges -> UMAP CE + λ·recon (+ extra).

Large vectorized batches: each step draws ``batch`` edges ∝ weight, encodes both endpoints in one pass,
forms ``negative_sample_rate``·batch negatives inside the batch, and reconstructs both endpoints.
Early stopping on the mean loss of blocks of ``check_every`` steps (relative improvement < ``tol`` for
``patience`` blocks), after ``min_steps`` and before ``max_steps``.
"""
from __future__ import annotations

import numpy as np
import torch

from .optim import adam
from .losses import prediction_kl, reconstruction, umap_ce


def train_edges(model, X: torch.Tensor, sampler, *, a: float, b: float, max_steps: int, min_steps: int = 0,
                batch: int = 2048, lr: float = 1e-2, weight_decay: float = 1e-5, lambda_rec: float = 1.0,
                negative_sample_rate: int = 5, extra_loss=None, check_every: int = 20, tol: float = 2e-3,
                patience: int = 2, generator: torch.Generator | None = None, optimizer=None, start_step: int = 0,
                on_block=None, progress=None, head=None, lambda_pred: float = 0.0, target_logp=None,
                denormalize=None, pred_loss=None, cond=None, seg=None) -> dict:
    """Train ``model`` (VisModel) on nodes ``X`` (already normalised) and edges from ``sampler``.

    ``extra_loss()`` -> tensor added each step (DVI's temporal term). With ``head`` (torch module on raw
    representations), ``lambda_pred`` > 0 and ``target_logp`` (log-softmax of the head on every node), the
    loss also has λ_pred·KL(p(h) ‖ p(ĥ)) on the reconstructed head endpoints: the decoder must keep the
    subject model's prediction (what PPR measures and what territories show; Trustvis-style semantics).
    ``cond``: per-node condition ids of a conditioned decoder (models.Decoder); ``seg``: per-node segment ids of
    a segmented encoder (models.SegmentedEncoder). ``on_block(step, optimizer)`` is called
    after every block (checkpointing). Returns {"steps", "loss", "umap", "recon", "stopped_early"}.
    """
    opt = optimizer or adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    hist, block, block_u, block_r = [], [], [], []
    best = None
    bad = 0
    step = start_step
    stopped = False
    while step < max_steps:
        h, t = sampler.sample(batch)
        xh, xt = X[h], X[t]
        x = torch.cat([xh, xt], 0)
        y = model.encode_normalized(x, None if seg is None else torch.cat([seg[h], seg[t]]))
        lu = umap_ce(y[:batch], y[batch:], a, b, negative_sample_rate, generator)
        xr = model.decoder(y[:batch], None if cond is None else cond[h])  # reconstruct the head endpoints (tails are heads of other edges)
        lr_ = reconstruction(xh, xr)
        loss = lu + lambda_rec * lr_
        if head is not None and lambda_pred > 0:
            loss = loss + lambda_pred * prediction_kl(target_logp[h], head(denormalize(xr)))
        if pred_loss is not None:  # generic form: pred_loss(reconstructed normalised heads, head node ids)
            loss = loss + pred_loss(xr, h)
        if extra_loss is not None:
            loss = loss + extra_loss()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        block.append(float(loss.detach()))
        block_u.append(float(lu.detach()))
        block_r.append(float(lr_.detach()))
        if progress is not None:
            progress.update(1)
        if len(block) == check_every:
            cur = float(np.mean(block))
            hist.append((cur, float(np.mean(block_u)), float(np.mean(block_r))))
            block, block_u, block_r = [], [], []
            if best is None or cur < best * (1 - tol):
                best = cur if best is None else min(best, cur)
                bad = 0
            else:
                bad += 1
            if on_block is not None:
                on_block(step, opt)
            if step >= min_steps and bad >= patience:
                stopped = True
                break
    model.train(False)
    last = hist[-1] if hist else (float(np.mean(block or [np.nan])), float(np.mean(block_u or [np.nan])),
                                  float(np.mean(block_r or [np.nan])))
    return {"steps": step, "loss": last[0], "umap": last[1], "recon": last[2], "stopped_early": stopped,
            "optimizer": opt}
