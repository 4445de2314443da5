"""DynaVis v2: a time-conditioned autoencoder trained on whole training trajectories (the method the original
tool's current version trains). docs/methods/dynavis.md.

Encoder f(h, τ) and decoder g(y, τ) are SiLU MLPs fed with a sinusoidal embedding of the time τ (the epoch's
place in the run, in [0, 1]), so one model projects every epoch and the positions of a sample move with
time. Representations are normalised per feature over all epochs by the median and IQR/1.349 ("robust").
A batch is ``batch`` samples' whole trajectories (every fitted epoch of each). Training:

1. the autoencoder on reconstruction (``ae_epochs`` passes over the samples; the decoder at twice the rate);
2. the encoder alone (``encoder_epochs`` passes; AdamW, cosine annealing to a tenth, gradients clipped), on
   reconstruction through the frozen decoder + s·λ_dir·L_dir + s·λ_rank·KL(p_high ‖ p_low), s warming up
   linearly over ``warmup_epochs`` passes: L_dir compares, for windows of 2, 4 and 8 epochs, the cosine
   between a step and the window's displacement in both spaces; p = softmax(−d/τ_T) over the other epochs
   of one trajectory (d: distances between its epochs, divided by their mean), τ_T annealed from
   ``rank_temperature`` to ``rank_temperature_end``.

Beyond the original (which writes positions only and assumes D = 512): the decoder is kept, so the run has an
inverse and territories, and with a recorded head it learns to keep the subject model's prediction
(λ_pred·KL between the head on a node and on its reconstruction, each node against its own epoch's head, in
stage 1 and in a last pass of the decoder alone on the final encoder, ``decoder_epochs``); widths do not
depend on D. Each pass is checkpointed (model, optimizer and generator): a stopped or killed fit resumes at
the pass it reached and ends as an uninterrupted one would.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from .base import Projector
from .checkpoints import cpu_state
from .device import amp_dtype
from .driver import Timer
from .losses import epoch_heads_kl
from .models import encode_all
from .parametric import ParametricMixin
from .params import check_range
from .resources import DEFAULT_THREADS, stack_rows, torch_threads
from .rng import generator_state, restore_generator, seeded


def _silu_mlp(widths) -> nn.Sequential:
    """Linear layers of ``widths`` with a SiLU between two (the original's activation; models.py's use ReLU)."""
    lin = [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])]
    return nn.Sequential(*[m for layer in lin[:-1] for m in (layer, nn.SiLU())], lin[-1])


class DynaVisModel(nn.Module):
    """f(h, τ): R^D × [0, 1] -> R^2 and g(y, τ): R^2 × [0, 1] -> R^D. Buffers: the robust normalisation
    (``center``, ``scale`` per feature) and the time embedding's frequencies. ``forward(h, t)`` / ``decode(y,
    t)`` take raw representations and a time (a float, or one per row)."""

    def __init__(self, dim: int, hidden=(128, 128, 128), time_dim: int = 32):
        super().__init__()
        self.dim, self.hidden, self.time_dim = int(dim), tuple(int(w) for w in hidden), int(time_dim)
        self.encoder = _silu_mlp((self.dim + self.time_dim, *self.hidden, 2))
        self.decoder = _silu_mlp((2 + self.time_dim, *self.hidden[::-1], self.dim))
        self.register_buffer("center", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(self.dim))
        # geometric frequencies from one cycle over the run to about one per epoch of a long run
        self.register_buffer("freq", 2 * math.pi * torch.logspace(0, 2, self.time_dim // 2))

    def embed_time(self, t, n: int, device) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32, device=device)
        t = t.expand(n) if t.dim() == 0 else t
        z = t[:, None] * self.freq
        return torch.cat([torch.sin(z), torch.cos(z)], 1)

    def encode_normalized(self, x, t):
        return self.encoder(torch.cat([x, self.embed_time(t, len(x), x.device).to(x.dtype)], 1))

    def decode_normalized(self, y, t):
        return self.decoder(torch.cat([y, self.embed_time(t, len(y), y.device).to(y.dtype)], 1))

    def normalize(self, h):
        return (h - self.center) / self.scale

    def denormalize(self, x):
        return x * self.scale + self.center

    def forward(self, h, t):
        return self.encode_normalized(self.normalize(h), t)

    def decode(self, y, t):
        return self.denormalize(self.decode_normalized(y, t))

    @torch.no_grad()
    def set_normalization(self, X: np.ndarray, seed: int, max_rows: int = 50000) -> None:
        """Median and IQR/1.349 per feature over (at most ``max_rows`` seeded random) rows of X; a feature
        whose IQR is empty (a ReLU unit that is mostly 0) is scaled by its standard deviation instead, a
        constant one by 1."""
        rows = np.random.default_rng(seed).choice(len(X), max_rows, replace=False) if len(X) > max_rows else None
        S = np.asarray(X if rows is None else X[np.sort(rows)], np.float64)
        q1, med, q3 = np.quantile(S, [0.25, 0.5, 0.75], axis=0)
        scale = (q3 - q1) / 1.349
        thin = scale < 1e-6 * max(float(scale.max()), 1e-12)
        scale[thin] = S[:, thin].std(0)
        scale[scale < 1e-8] = 1.0
        self.center.copy_(torch.from_numpy(med).float())
        self.scale.copy_(torch.from_numpy(scale).float())

    @classmethod
    def from_state_dict(cls, state: dict) -> "DynaVisModel":
        lin = sorted(int(k.split(".")[1]) for k in state if k.startswith("encoder.") and k.endswith(".weight"))
        hidden = [int(state[f"encoder.{i}.weight"].shape[0]) for i in lin[:-1]]
        m = cls(int(state["center"].shape[0]), hidden, 2 * int(state["freq"].shape[0]))
        m.load_state_dict(state)
        return m


def direction_loss(xh: torch.Tensor, y: torch.Tensor, windows=(2, 4, 8)) -> torch.Tensor:
    """Multi-scale direction consistency of trajectories ``xh`` [T, B, D] and ``y`` [T, B, 2]: for each window
    w, cos_hi = cos(step, w-step displacement) in the high-dimensional space and cos_lo the same in 2-D;
    mean of 0.7·(cos_hi − cos_lo)² + 0.3·(1 − cos_hi·cos_lo)³·a, a the step's length over the mean step
    length (large moves count more)."""
    dh, dl = xh[1:] - xh[:-1], y[1:] - y[:-1]
    amp = dh.norm(dim=2)
    amp = amp / amp.mean().clamp_min(1e-8)
    terms = []
    for w in windows:
        if len(xh) <= w:
            continue
        sh, sl = xh[w:] - xh[:-w], y[w:] - y[:-w]
        ch = nn.functional.cosine_similarity(dh[:len(sh)], sh, dim=2, eps=1e-8)
        cl = nn.functional.cosine_similarity(dl[:len(sl)], sl, dim=2, eps=1e-8)
        terms.append((0.7 * (ch - cl) ** 2 + 0.3 * (1 - ch * cl) ** 3 * amp[:len(sh)]).mean())
    return torch.stack(terms).mean() if terms else y.new_zeros(())


def rank_kl(xh: torch.Tensor, y: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(p_high ‖ p_low) over the epochs of each trajectory: p = softmax(−d/τ) over the other epochs, d the
    distances between a trajectory's epochs divided by their mean (so both spaces share one scale)."""
    def logp(z):
        d = torch.cdist(z.transpose(0, 1).float(), z.transpose(0, 1).float())  # [B, T, T]
        d = d / d.mean((1, 2), keepdim=True).clamp_min(1e-8)
        eye = torch.eye(d.shape[1], dtype=torch.bool, device=d.device)
        return torch.log_softmax((-d / temperature).masked_fill(eye, -1e9), 2)

    lp_h, lp_l = logp(xh), logp(y)
    return (lp_h.exp() * (lp_h - lp_l)).sum(2).mean()


class DynaVis(ParametricMixin, Projector):
    name = "dynavis"
    per_epoch = False

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, hidden=(128, 128, 128),
                 time_dim: int = 32, batch: int = 32, ae_epochs: int = 8, encoder_epochs: int = 8,
                 decoder_epochs: int = 4, warmup_epochs: int = 6, lr: float = 1e-3, encoder_lr: float = 5e-4,
                 weight_decay: float = 1e-4, grad_clip: float = 0.5, lambda_rec: float = 1.0,
                 lambda_dir: float = 1.0, lambda_rank: float = 1.0, lambda_pred: float = 3.0,
                 rank_temperature: float = 0.7, rank_temperature_end: float = 0.25, amp: bool = True,
                 num_threads: int | None = DEFAULT_THREADS):
        """``hidden``: widths of the encoder's hidden layers (reversed for the decoder); ``time_dim``: size of
        the time embedding. ``batch``: trajectories per step. Passes over the samples: ``ae_epochs`` (stage 1,
        at ``lr``, the decoder at 2·lr), ``encoder_epochs`` (stage 2, at ``encoder_lr``, ``grad_clip``),
        ``decoder_epochs`` (the decoder alone on the final encoder; 0: none), ``warmup_epochs`` (stage 2's
        warm-up of the temporal terms); AdamW with ``weight_decay``. Losses: ``lambda_rec``, ``lambda_dir``,
        ``lambda_rank`` (with ``rank_temperature`` annealed to ``rank_temperature_end``), ``lambda_pred`` (0:
        no prediction term). ``amp``: bfloat16 forward passes where native; ``num_threads``: torch CPU
        threads."""
        self._keep(locals())
        for name in ("batch", "time_dim"):
            check_range(name, getattr(self, name), lo=2)
        for name in ("ae_epochs", "encoder_epochs", "decoder_epochs", "warmup_epochs"):
            check_range(name, getattr(self, name), lo=0)
        check_range("rank_temperature", rank_temperature, lo=1e-6)
        check_range("rank_temperature_end", rank_temperature_end, lo=1e-6)
        if not hidden or any(int(w) < 1 for w in hidden):
            raise ValueError(f"hidden must be a non-empty sequence of positive widths, not {hidden!r}")

    # projection ----------------------------------------------------------------------------------------
    def _model_key(self, epoch):
        return None, "models/dynavis"

    def _load_model(self, state):
        return DynaVisModel.from_state_dict(state)

    def _time(self, epoch) -> float:
        """τ of ``epoch``: its index among the fitted epochs over (E − 1); an epoch between two fitted ones
        gets the time between theirs (linear in the epoch number), one outside the run the nearest end's."""
        eps = np.asarray(self.epochs_, np.float64)
        if len(eps) == 1:
            return 0.0
        return float(np.interp(float(epoch), eps, np.linspace(0.0, 1.0, len(eps))))

    _encoder_seg = _time
    _decoder_cond = _time

    # fitting -------------------------------------------------------------------------------------------
    def epoch_finished(self, store, epoch):
        return store.has_embedding(epoch) and store.has("models/dynavis")

    @contextlib.contextmanager
    def fitting(self, ctx):
        with torch_threads(self.num_threads, self.device_):
            yield

    def fit_all(self, ctx):
        dyn, eps, ck, dev = ctx.dynamics, self.epochs_, ctx.store, self.device_
        T, N = len(eps), dyn.n_samples
        timer = Timer()
        with timer("train_s"):
            X = stack_rows([dyn.representation(e) for e in eps], "cpu")  # epoch-major: row e_i·N + i
            with seeded(self.seed):
                model = DynaVisModel(dyn.dim, self.hidden, self.time_dim)
            model.set_normalization(X.numpy(), self.seed)
            model = model.to(dev)
            nodes = model.normalize(X.to(dev))
            del X
            node_epoch = torch.arange(T, device=dev).repeat_interleave(N)
            taus = torch.linspace(0.0, 1.0, T, device=dev) if T > 1 else torch.zeros(1, device=dev)
            pred = epoch_heads_kl(dyn, eps, nodes, node_epoch, model.denormalize, self.lambda_pred, dev)
            loss = self._train(ctx, model, nodes, taus, N, pred)
            ck.save_torch("models/dynavis", cpu_state(model))
        self.models_[None] = model.train(False)
        t = self.timings_
        t["train_s"] = timer.t["train_s"]
        t.update({"loss": loss, "passes": self.ae_epochs + self.encoder_epochs + self.decoder_epochs})
        for i, e in enumerate(eps):
            emb = encode_all(model, nodes[i * N:(i + 1) * N], taus[i].expand(N)).float().cpu().numpy()
            ctx.epoch_done(e, emb, {"train_s": t["train_s"] / T, "shared": True, "loss": loss})

    def _passes(self):
        """(stage, pass) of every training pass, in order."""
        return [(s, p) for s, n in ((1, self.ae_epochs), (2, self.encoder_epochs), (3, self.decoder_epochs))
                for p in range(n)]

    def _optimizers(self, model):
        dec_lr = 2 * self.lr
        return {1: torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": self.lr, "base_lr": self.lr},
                                      {"params": model.decoder.parameters(), "lr": dec_lr, "base_lr": dec_lr}],
                                     weight_decay=self.weight_decay),
                2: torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": self.encoder_lr,
                                       "base_lr": self.encoder_lr}], weight_decay=self.weight_decay),
                3: torch.optim.AdamW([{"params": model.decoder.parameters(), "lr": self.lr, "base_lr": self.lr}],
                                     weight_decay=self.weight_decay)}

    def _train(self, ctx, model, nodes, taus, N, pred):
        """The three stages, one pass over the samples at a time, checkpointed after each pass."""
        ck, dev = ctx.store, self.device_
        T = len(taus)
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        opts = self._optimizers(model)
        passes = self._passes()
        start, loss = 0, float("nan")
        if ck.has("state/dynavis_train"):
            st = ck.load_torch("state/dynavis_train")
            model.load_state_dict(st["model"])
            for k, o in opts.items():
                o.load_state_dict(st["optimizers"][str(k)])
            restore_generator(gen, st["generator"], self.seed + int(st["next"]))
            start, loss = int(st["next"]), float(st["loss"])
        amp = amp_dtype(dev, self.amp)
        ar = torch.arange(T, device=dev)[:, None] * N
        for i in range(start, len(passes)):
            stage, p = passes[i]
            model.encoder.requires_grad_(stage != 3)  # stage 2 trains the encoder alone, stage 3 the decoder
            model.decoder.requires_grad_(stage != 2)
            order = torch.randperm(N, generator=gen).to(dev)
            total = 0.0
            for s in range(0, N, self.batch):
                idx = order[s:s + self.batch]
                ids = (ar + idx[None, :]).reshape(-1)  # epoch-major: the trajectories of idx
                total += self._step(stage, p, s / N, model, opts[stage], nodes, ids, taus, len(idx), pred, amp)
            loss = total / max(1, math.ceil(N / self.batch))
            ck.save_torch("state/dynavis_train", {"model": cpu_state(model),
                                                  "optimizers": {str(k): o.state_dict() for k, o in opts.items()},
                                                  "generator": generator_state(gen), "next": i + 1, "loss": loss})
            if i + 1 < len(passes) and ctx.stop_requested():
                raise ctx.stopped()
        model.requires_grad_(True)
        return loss

    def _step(self, stage, p, frac, model, opt, nodes, ids, taus, B, pred, amp) -> float:
        """One step of ``stage`` (pass ``p``, ``frac`` of it done) on the trajectories of ``ids``."""
        T = len(taus)
        x = nodes.index_select(0, ids)
        t = taus.repeat_interleave(B)
        model.train()
        with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
            y = model.encode_normalized(x, t)
            xr = model.decode_normalized(y, t)
        y, xr = y.float(), xr.float()
        loss = self.lambda_rec * ((xr - x) ** 2).mean()
        if pred is not None:
            loss = loss + pred(xr, ids)
        if stage == 2:
            progress = (p + frac) / max(self.encoder_epochs, 1)
            s = min(1.0, (p + 1) / max(self.warmup_epochs, 1))
            temp = self.rank_temperature + (self.rank_temperature_end - self.rank_temperature) * progress
            xh, yl = x.view(T, B, -1), y.view(T, B, 2)
            loss = loss + s * (self.lambda_dir * direction_loss(xh, yl) + self.lambda_rank * rank_kl(xh, yl, temp))
            for g in opt.param_groups:  # cosine annealing to a tenth
                g["lr"] = g["base_lr"] * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if stage == 2:
            nn.utils.clip_grad_norm_(model.encoder.parameters(), self.grad_clip)
        opt.step()
        return float(loss.detach())
