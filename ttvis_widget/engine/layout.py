"""The stages of the parametric fits (docs/methods/building-blocks.md, "losses"): a non-parametric UMAP
layout in torch, then the visualization model fitted to it.

Why two steps: trained directly with the sampled-edge UMAP loss, the parametric encoder stays far below
umap-learn's neighbour preservation whatever its steps, width or batch, while the same loss optimised over
free 2-D positions matches umap-learn in seconds; what the encoder lacks is parameter updates, which a
regression on the finished layout gives it in many small, cheap steps (docs/methods/building-blocks.md,
"two stages").

* ``umap_layout``: free positions Y [n, 2] from ``init``; each step samples ``batch`` edges ∝ weight (with
  replacement, from systematic blocks like umap-learn's epochs_per_sample: graph.EdgeSampler) and
  ``negative_sample_rate`` tails per positive drawn **uniformly over all nodes** (umap-learn's rule; not a
  permutation of the batch's tails, which samples by degree). Loss: mean of −log q over positives and
  −log(1 − q) over negatives, q clamped to [1e-4, 1 − 1e-4]; Adam with a linear learning-rate decay to 0
  (umap-learn's SGD schedule).
* ``fit_encoder``: small-batch regression of the encoder on the layout (+ the pair term, + an optional
  temporal anchor); ``fit_decoder``: the decoder as the inverse of the frozen encoder (reconstruction +
  optional prediction KL), so decoder errors never pull the layout apart; ``fit_joint``: an optional short
  fine-tune of both.
"""
from __future__ import annotations

import numpy as np
import torch

from .optim import adam, make_optimizer, scale_lr
from .losses import EPS, prediction_kl
from .models import STAT_ROWS, encode_all
from .rng import seeded


def uniform_negatives(n_nodes: int, count: int, generator=None, device="cpu") -> torch.Tensor:
    """``count`` node ids drawn uniformly (with replacement) over all ``n_nodes`` nodes."""
    return torch.randint(0, int(n_nodes), (int(count),), generator=generator, device=device)


def cross_prediction_weights(dynamics, epoch, heads, tails, weights, n_samples: int, factor: float):
    """Edge weights with ``factor`` applied to sample-sample edges whose endpoints the subject model predicts
    differently (Trustvis' boundary edges in their simplest form). Such edges pull differently predicted
    points together; in the free layout that interleaves classes at a scale no decoder can resolve, so the
    round trip loses the prediction there (docs/methods/dvi.md). Nodes >= n_samples (border points) are left
    alone."""
    w = np.asarray(weights, np.float32)
    if factor == 1.0:
        return w
    pred = dynamics.predicted_class(epoch) if dynamics.prediction(epoch) is not None else None
    if pred is None:
        hd = dynamics.head(epoch)
        if hd is None:
            return w
        pred = hd(dynamics.representation(epoch)).argmax(1)
    pred = np.asarray(pred)
    h, t = np.asarray(heads), np.asarray(tails)
    both = (h < n_samples) & (t < n_samples)
    cross = np.zeros(len(h), bool)
    cross[both] = pred[h[both]] != pred[t[both]]
    return np.where(cross, w * np.float32(factor), w).astype(np.float32)


def pca_init(X: torch.Tensor, scale: float = 10.0, seed: int = 0) -> torch.Tensor:
    """First two principal components of X, scaled so that the largest |coordinate| is ``scale``.
    ``torch.pca_lowrank`` draws its random projection from torch's global generator: it runs on a fork of it
    seeded with ``seed``, so the fit depends on its own seed alone and the caller's random stream is left as
    it was."""
    Xc = X - X.mean(0)
    q = min(6, Xc.shape[1])
    with seeded(seed, Xc.device):
        _, _, V = torch.pca_lowrank(Xc, q=q, center=False, niter=4)
    Y = Xc @ V[:, :2]
    return Y / Y.abs().max().clamp_min(1e-12) * scale


def procrustes(Y: torch.Tensor, ref: torch.Tensor, n: int | None = None):
    """(R, shift) of the rigid motion (rotation or reflection, then translation) that best maps Y[:n] onto ref
    in the least-squares sense (orthogonal Procrustes); apply as ``Y @ R + shift``. Distances within Y, and so
    every neighbourhood, are unchanged."""
    n = len(ref) if n is None else n
    A = Y[:n].double()
    B = ref.to(A.device).double()
    ma, mb = A.mean(0), B.mean(0)
    U, _, Vt = torch.linalg.svd((A - ma).T @ (B - mb))
    R = U @ Vt
    return R.to(Y.dtype), (mb - ma @ R).to(Y.dtype)


def umap_grad(Y: torch.Tensor, h: torch.Tensor, t: torch.Tensor, neg: torch.Tensor, *, a: float, b: float,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """Gradient wrt Y [n, 2] of the mean UMAP cross-entropy over the positive edges (h, t) and the negative
    pairs (h repeated ``len(neg) // len(h)`` times, neg): −log q on positives, −log(1 − q) on negatives,
    q = 1/(1 + a·d^{2b}) clamped to [EPS, 1 − EPS] (no gradient where clamped).

    Written out rather than left to autograd: the closed form needs no saved graph and fewer elementwise
    passes. The work is done on the transposed [2, n] layout (``umap_grad_t``)."""
    G = umap_grad_t(Y.T.contiguous(), h, t, neg, a=a, b=b).T
    return G.contiguous() if out is None else out.copy_(G)


def umap_grad_t(Yt: torch.Tensor, h: torch.Tensor, t: torch.Tensor, neg: torch.Tensor, *, a: float, b: float,
                out: torch.Tensor | None = None) -> torch.Tensor:
    """``umap_grad`` on positions stored as [2, n] (a row of x, a row of y), the gradient in the same layout.

    Why [2, n]: every elementwise pass then runs over long contiguous rows, and the gathers and the scatter
    (``index_select``, ``index_add_`` on the flat view) are several times cheaper than on [m, 2] rows."""
    n = Yt.shape[1]
    nb = len(h)
    nsr = len(neg) // max(nb, 1)
    scale = 1.0 / (nb * (1 + nsr))
    yh = Yt.index_select(1, h)
    dp = yh - Yt.index_select(1, t)
    d2 = (dp[0] * dp[0] + dp[1] * dp[1]).clamp_min(1e-12)
    p = d2 ** b
    den = 1 + a * p  # 1/q
    # d(−log q)/dy_h = 2ab·d2^(b−1)/(1 + a·d2^b) · (y_h − y_t)
    cp = torch.where(den > 1 / (1 - EPS), (2 * a * b * scale) * p / d2 / den, 0.0)
    dn = yh.repeat(1, nsr) - Yt.index_select(1, neg)  # column j·nb + i: negative j of head i
    d2n = (dn[0] * dn[0] + dn[1] * dn[1]).clamp_min(1e-12)
    denn = 1 + a * d2n ** b
    # d(−log(1 − q))/dy_h = −2b/(d2·(1 + a·d2^b)) · (y_h − y_n)
    cn = torch.where((denn > 1 / (1 - EPS)) & (denn < 1 / EPS), (-2 * b * scale) / (d2n * denn), 0.0)
    gp = dp * cp
    gn = dn * cn
    gh = gp + gn.view(2, nsr, nb).sum(1) if nsr else gp  # a head's negatives summed: heads scattered once
    rows = torch.cat([h, t, neg])
    G = torch.zeros_like(Yt) if out is None else out.zero_()
    G.view(-1).index_add_(0, torch.cat([rows, rows + n]), torch.cat([gh, -gp, -gn], 1).view(-1))
    return G


def umap_layout(heads, tails, weights, n_nodes: int, init: torch.Tensor, *, a: float, b: float, steps: int,
                batch: int = 8192, lr: float = 0.1, negative_sample_rate: int = 5, generator=None,
                device="cpu", n_frozen: int = 0) -> torch.Tensor:
    """Free 2-D positions [n_nodes, 2] minimising the UMAP cross-entropy on the weighted edge list (Adam on
    the closed-form gradient ``umap_grad``). The first ``n_frozen`` nodes keep their ``init`` positions (they
    still attract and repel the others): that places new nodes into a finished layout."""
    from .graph import EdgeSampler

    Yt = torch.nn.Parameter(init.detach().float().to(device).T.contiguous())  # [2, n]: see umap_grad_t
    if steps <= 0 or len(heads) == 0:
        return Yt.detach().T.contiguous()
    sampler = EdgeSampler(heads, tails, weights, device=device, generator=generator)
    opt = adam([Yt], lr=lr)
    nsr = int(negative_sample_rate)
    Yt.grad = torch.zeros_like(Yt)
    with torch.no_grad():
        for s in range(int(steps)):
            for g in opt.param_groups:
                g["lr"] = lr * (1.0 - s / steps)
            h, t = sampler.sample(batch)
            neg = uniform_negatives(n_nodes, nsr * batch, generator, device)
            umap_grad_t(Yt, h, t, neg, a=a, b=b, out=Yt.grad)
            if n_frozen:
                Yt.grad[:, :n_frozen] = 0.0  # Adam's moments stay 0 there, so those columns never move
            opt.step()
    return Yt.detach().T.contiguous()


def _optimizer(optimizer, module, lr: float, muon_lr: float):
    """A fit's ``optimizer`` argument: None or "adam" / "muon" (a new one for ``module``), or an optimizer
    object to continue (resume)."""
    if optimizer is None or isinstance(optimizer, str):
        return make_optimizer(module, optimizer or "adam", lr=lr, muon_lr=muon_lr)
    return optimizer


def _sampler(n, weights, device):
    if weights is None:
        return None
    from .graph import weight_cdf

    return weight_cdf(weights, device)


def _draw(n, batch, cdf, generator, device):
    if cdf is None:
        return torch.randint(0, n, (batch,), generator=generator, device=device)
    u = torch.rand(batch, generator=generator, dtype=torch.float64, device=device)
    return torch.searchsorted(cdf, u).clamp_max(n - 1)


def _next_batch(opt, lr: float, frac: float, nodes, batch: int, cdf, generator):
    """One step's start: the schedule's learning rate (``frac`` of each group's base), then ``batch`` node ids
    (uniform, or ∝ the weights of ``cdf``) and their rows."""
    scale_lr(opt, lr, frac)
    ids = _draw(len(nodes), batch, cdf, generator, nodes.device)
    return ids, nodes.index_select(0, ids)


def _autocast(device, amp):
    """Autocast to ``amp`` (a dtype, e.g. bfloat16) on ``device``'s type; a no-op when ``amp`` is None."""
    return torch.autocast(torch.device(device).type, dtype=amp, enabled=amp is not None)


class Anchor:
    """DVI's temporal term coef·‖θ − θ_ref‖², applied *decoupled* from Adam (like AdamW's weight decay): after
    each optimizer step θ ← θ − lr·2·coef·(θ − θ_ref), one fused foreach lerp.

    Why decoupled: added to the gradient, Adam normalises the term per parameter, so on parameters whose loss
    gradient is near zero even a tiny coef moves them at the full learning rate, which cost neighbour
    preservation (docs/methods/dvi.md). Decoupled, the pull is proportional to the drift and to coef, as the
    penalty's plain gradient step would be."""

    def __init__(self, params, refs, coef: float):
        self.params = [p for p in params]
        self.refs = [r.detach() for r in refs]
        self.coef = float(coef)

    @classmethod
    def for_prefix(cls, model, ref: dict, prefix: str, coef: float):
        named = [(n, p) for n, p in model.named_parameters() if n.startswith(prefix)]
        return cls([p for _, p in named], [ref[n] for n, _ in named], coef)

    @torch.no_grad()
    def pull(self, lr: float) -> None:
        w = min(1.0, 2.0 * float(lr) * self.coef)
        if w > 0:
            torch._foreach_lerp_(self.params, self.refs, w)

    @torch.no_grad()
    def value(self) -> float:
        return self.coef * float(sum(((p - r) ** 2).sum() for p, r in zip(self.params, self.refs)))


def _step(opt, loss, anchor: Anchor | None) -> None:
    """One optimizer step, then the decoupled temporal anchor (if any) at the step's learning rate."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if anchor is not None:
        anchor.pull(opt.param_groups[0]["lr"])


def _end_step(opt, loss, anchor, step: int, steps: int, tail: list, n_tail: int, value, on_step) -> None:
    """A fit's step: ``_step``, ``value`` kept in ``tail`` over the last ``n_tail`` steps, then ``on_step``."""
    _step(opt, loss, anchor)
    if step >= steps - n_tail:
        tail.append(float(value.detach()))
    if on_step is not None:
        on_step(step + 1, opt)


def _result(model, steps: int, opt, **tails) -> dict:
    """A fit's result: its steps, the mean of each tail of losses (NaN if empty), its optimizer (to resume)."""
    model.train(False)
    return {"steps": int(steps), **{k: float(np.mean(v)) if v else float("nan") for k, v in tails.items()},
            "optimizer": opt}


def fit_encoder(model, nodes: torch.Tensor, target: torch.Tensor, *, steps: int, batch: int = 256, lr: float = 1e-2,
                extra_loss=None, generator=None, weights=None, min_lr_frac: float = 0.05, on_step=None,
                optimizer=None, start_step: int = 0, anchor: Anchor | None = None, loss_weights=None,
                amp=None, encoder=None, pairs=None, pair_weight: float = 1.0, muon_lr: float = 0.02) -> dict:
    """Regression of ``model.encoder(nodes)`` (or of ``encoder``, e.g. one part of a segmented encoder) on the
    target positions (+ ``extra_loss()``), each node's squared error times ``loss_weights`` (default 1); forward
    pass under autocast to ``amp`` (e.g. bfloat16) if given.

    Many small steps matter more than large batches (the encoder follows the layout only as closely as its
    number of updates allows). Learning rate decaying linearly to ``min_lr_frac``·lr. ``optimizer``: None or
    "adam" (Adam at ``lr``), "muon" (optim.MuonAdam: Muon at ``muon_lr`` on the hidden-to-hidden weights, Adam
    at ``lr`` on the rest), or an optimizer object to continue (resume).

    ``pairs`` (graph.PartnerSampler): each of the ``batch`` drawn nodes brings one graph neighbour, and
    ``pair_weight``·‖(f(x_i) − f(x_j)) − (y_i − y_j)‖² fits the pair's relative position as well (weighted by
    both ends' ``loss_weights``). The plain squared error is dominated by coarse misplacements; the relative
    term is the neighbourhood's own arrangement, what NN@k measures, and reaches the same neighbour
    preservation in fewer row passes (benchmarks/tuning.py).
    """
    dev = nodes.device
    n = len(nodes)
    enc = model.encoder if encoder is None else encoder
    opt = _optimizer(optimizer, enc, lr, muon_lr)
    cdf = _sampler(n, weights, dev)
    if hasattr(enc, "forward_whitened"):
        # whitened once, in chunks, and stored in the autocast dtype when there is one: the first Linear would
        # cast every batch to it anyway (same values), and a bfloat16 copy is half an epoch's memory
        with torch.no_grad():
            xin = torch.empty((n, enc.input_width), dtype=amp or nodes.dtype, device=dev)
            for s in range(0, n, STAT_ROWS):
                xin[s:s + STAT_ROWS] = enc.whiten(nodes[s:s + STAT_ROWS])
        fwd = enc.forward_whitened
    else:
        xin, fwd = nodes, enc
    model.train()
    fits = []
    for step in range(start_step, int(steps)):
        scale_lr(opt, lr, max(min_lr_frac, 1.0 - step / steps))
        ids = _draw(n, batch, cdf, generator, dev)
        if pairs is not None:
            ids = torch.cat([ids, pairs.partner(ids)])
        with _autocast(dev, amp):
            y = fwd(xin.index_select(0, ids))
        y, tg = y.float(), target.index_select(0, ids)
        se = ((y - tg) ** 2).sum(1)
        lw = None if loss_weights is None else loss_weights.index_select(0, ids)
        lf = se.mean() if lw is None else (se * lw).mean()
        loss = lf
        if pairs is not None and pair_weight > 0:
            rel = (((y[:batch] - y[batch:]) - (tg[:batch] - tg[batch:])) ** 2).sum(1)
            loss = loss + pair_weight * (rel.mean() if lw is None else (rel * lw[:batch] * lw[batch:]).mean())
        if extra_loss is not None:
            loss = loss + extra_loss()
        _end_step(opt, loss, anchor, step, steps, fits, 100, lf, on_step)
    return _result(model, steps, opt, fit=fits)


def _decoder_extras(model, xr, ids, head, lambda_pred, target_logp, pred_loss, extra_loss):
    """Loss terms shared by the decoder and joint fits: KL(head(h) || head(decoded)) weighted by
    ``lambda_pred``, an optional per-sample prediction loss and an optional extra term (e.g. DVI's drift)."""
    loss = 0.0
    if head is not None and lambda_pred > 0:
        loss = loss + lambda_pred * prediction_kl(target_logp.index_select(0, ids), head(model.denormalize(xr)))
    if pred_loss is not None:
        loss = loss + pred_loss(xr, ids)
    if extra_loss is not None:
        loss = loss + extra_loss()
    return loss


def fit_decoder(model, nodes: torch.Tensor, *, steps: int, batch: int = 1024, lr: float = 1e-2,
                lambda_rec: float = 1.0, head=None, lambda_pred: float = 0.0, target_logp=None,
                pred_loss=None, generator=None, weights=None, extra_loss=None, optimizer=None,
                start_step: int = 0, on_step=None, anchor: Anchor | None = None, amp=None, cond=None,
                seg=None, muon_lr: float = 0.02) -> dict:
    """Train ``model.decoder`` as the inverse of the (frozen) encoder: reconstruction MSE of the normalised
    node from its 2-D position, + λ_pred·KL(p(h) ‖ p(ĥ)) with ``head`` (on raw representations) or the
    generic ``pred_loss(xr, ids)``. The encoder output is computed once (no gradient into the layout).
    ``cond``: per-node condition ids [n] for a conditioned decoder (models.Decoder); ``seg``: per-node
    segment ids [n] for a segmented encoder (models.SegmentedEncoder)."""
    dev = nodes.device
    n = len(nodes)
    with torch.no_grad():
        model.train(False)
        Y = encode_all(model, nodes, seg)
        if getattr(model.decoder, "needs_frame", False):  # Fourier features: their frame, set once
            model.decoder.set_frame(Y)
    opt = _optimizer(optimizer, model.decoder, lr, muon_lr)
    cdf = _sampler(n, weights, dev)
    model.train()
    recs = []
    for step in range(start_step, int(steps)):
        ids, x = _next_batch(opt, lr, max(0.05, 1.0 - step / steps), nodes, batch, cdf, generator)
        with _autocast(dev, amp):
            xr = model.decoder(Y.index_select(0, ids), None if cond is None else cond.index_select(0, ids))
        xr = xr.float()
        lrec = ((xr - x) ** 2).mean()
        loss = lambda_rec * lrec
        loss = loss + _decoder_extras(model, xr, ids, head, lambda_pred, target_logp, pred_loss, extra_loss)
        _end_step(opt, loss, anchor, step, steps, recs, 50, lrec, on_step)
    return _result(model, steps, opt, recon=recs)


def fit_joint(model, nodes: torch.Tensor, target: torch.Tensor, *, steps: int, batch: int = 512, lr: float = 2e-3,
              lambda_fit: float = 1.0, lambda_rec: float = 1.0, head=None, lambda_pred: float = 0.0,
              target_logp=None, pred_loss=None, generator=None, extra_loss=None, amp=None, cond=None,
              fit_weights=None, seg=None) -> dict:
    """Short joint fine-tune: encoder and decoder together on λ_fit·‖f(x) − target‖² + λ_rec·L_rec + the
    prediction KL, whose gradient now reaches the encoder. It moves the few points whose layout position
    decodes to the wrong class (interleaved classes in the free layout) to where the decoder keeps their
    prediction, at a small cost in neighbour preservation."""
    dev = nodes.device
    opt = adam(model.parameters(), lr=lr)
    model.train()
    for step in range(int(steps)):
        ids, x = _next_batch(opt, lr, max(0.05, 1.0 - step / steps), nodes, batch, None, generator)
        with _autocast(dev, amp):
            y = model.encode_normalized(x, None if seg is None else seg.index_select(0, ids))
            xr = model.decoder(y, None if cond is None else cond.index_select(0, ids))
        y, xr = y.float(), xr.float()
        se = ((y - target.index_select(0, ids)) ** 2).sum(1)
        fit = se.mean() if fit_weights is None else (se * fit_weights.index_select(0, ids)).mean()
        loss = lambda_fit * fit + lambda_rec * ((xr - x) ** 2).mean()
        loss = loss + _decoder_extras(model, xr, ids, head, lambda_pred, target_logp, pred_loss, extra_loss)
        _step(opt, loss, None)
    model.train(False)
    return {"steps": int(steps)}
