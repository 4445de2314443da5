"""TimeVis (Temporality Spatialization, algorithms.md §4): ONE encoder/decoder trained once on a
spatio-temporal complex spanning all epochs, so every epoch shares one coordinate system.

Nodes are (epoch, sample) for every sample (no k-center subsampling by default: we learn from all samples;
``max_samples`` subsamples the nodes that enter the complex, the projection still covers everyone).
Spatial edges: the UMAP complex of each epoch (σ, ρ kept). Temporal edges: each node to the ``temporal_k``
nearest copies of the same sample at other epochs, membership exp(−max(0, d − ρ)/σ) with the node's own σ, ρ,
fuzzy union. L = L_umap + λ·L_rec (+ λ_pred·KL with each node's epoch head, as in DVI).

``mode="layout"`` (default): the UMAP loss is optimised over free positions of all (epoch, sample) nodes
(per-epoch layouts chained from one PCA start, then a joint pass with the temporal edges), and the one
encoder/decoder is fitted to those positions (layout.py; ``_train_layout``). ``mode="edges"``: the original
edge-sampled training of the autoencoder (``trainer.train_edges``), which stalled at NN@15 ≈ 0.16 on the
Fashion-MNIST demo.
Training state is checkpointed every ``checkpoint_every`` steps; a killed fit resumes from there.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from . import graph as G
from .base import DEFAULT_THREADS, Checkpoints, Projector, Timer, amp_dtype, resolve_device, torch_threads
from .dvi import ParametricMixin
from .layout import cross_prediction_weights, fit_decoder, fit_encoder, fit_joint, pca_init, umap_layout
from .losses import find_ab_params
from .models import VisModel, encode_numpy
from .trainer import train_edges


class TimeVis(ParametricMixin, Projector):
    name = "timevis"

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, n_neighbors: int = 15,
                 temporal_k: int = 3, hidden=None, lambda_rec: float = 1.0, lambda_pred: float = 1.0,
                 temporal_weight: float = 1.0, min_dist: float = 0.1, spread: float = 1.0,
                 negative_sample_rate: int = 5, batch: int = 2048, lr: float = 1e-2, steps_per_epoch: int = 150,
                 min_steps_per_epoch: int = 40, patience: int = 2, tol: float = 2e-3, prune_epochs: int = 200,
                 max_samples: int | None = None, checkpoint_every: int = 100, exact_knn_max: int = G.EXACT_MAX,
                 num_threads: int | None = DEFAULT_THREADS, mode: str = "layout", cross_pred_weight: float = 0.1,
                 layout_steps_first: int = 1000, layout_steps: int = 300, layout_joint_steps: int = 200,
                 layout_batch: int = 8192, encoder_steps: int = 8000, encoder_batch: int = 512,
                 encoder_lr: float = 2e-2, decoder_steps: int = 1500, decoder_batch: int = 1024,
                 joint_steps: int = 600, amp: bool = True):
        super().__init__(seed=seed, device=device, progress=progress)
        self.n_neighbors = n_neighbors
        self.temporal_k = temporal_k
        self.hidden = hidden
        self.lambda_rec = lambda_rec
        self.lambda_pred = lambda_pred
        self.temporal_weight = temporal_weight
        self.min_dist = min_dist
        self.spread = spread
        self.negative_sample_rate = negative_sample_rate
        self.batch = batch
        self.lr = lr
        self.steps_per_epoch = steps_per_epoch
        self.min_steps_per_epoch = min_steps_per_epoch
        self.patience = patience
        self.tol = tol
        self.prune_epochs = prune_epochs
        self.max_samples = max_samples
        self.checkpoint_every = checkpoint_every
        self.exact_knn_max = exact_knn_max
        self.num_threads = num_threads
        self.mode = mode
        self.cross_pred_weight = cross_pred_weight
        self.layout_steps_first = layout_steps_first
        self.layout_steps = layout_steps
        self.layout_joint_steps = layout_joint_steps
        self.layout_batch = layout_batch
        self.encoder_steps = encoder_steps
        self.encoder_batch = encoder_batch
        self.encoder_lr = encoder_lr
        self.decoder_steps = decoder_steps
        self.decoder_batch = decoder_batch
        self.joint_steps = joint_steps
        self.amp = amp

    def _model_key(self, epoch):
        return None, "models/timevis"  # one model projects every epoch

    # graph ----------------------------------------------------------------------------------------
    def _complex(self, reps, sel, dev, timer):
        E, n = len(reps), len(sel)
        blocks, sig_all, rho_all = [], [], []
        for t, X in enumerate(reps):
            with timer("knn_s"):
                idx, dist = G.knn(X[sel], self.n_neighbors, exact_max=self.exact_knn_max, device=dev, seed=self.seed,
                                  timings=timer.t)
            with timer("fuzzy_s"):
                g, sig, rho = G.fuzzy_simplicial_set(idx, dist, self.n_neighbors)
            blocks.append(g)
            sig_all.append(sig)
            rho_all.append(rho)
        spatial = sp.block_diag(blocks, format="csr")
        h, t_, w = G.prune(spatial, self.prune_epochs)
        if E > 1 and self.temporal_k > 0:
            with timer("temporal_s"):
                kt = min(self.temporal_k, E - 1)
                R = torch.from_numpy(np.stack([np.asarray(X[sel], np.float32) for X in reps], 0))  # [E, n, D]
                D = torch.stack([(R - R[s]).norm(dim=2) for s in range(E)], 1)  # D[t, s, i]
                D[torch.arange(E), torch.arange(E)] = float("inf")
                d, s_idx = torch.topk(D, kt, dim=1, largest=False)  # [E, kt, n]
                d = d.permute(0, 2, 1).reshape(E * n, kt).numpy()
                s_idx = s_idx.permute(0, 2, 1).reshape(E * n, kt).numpy()
                node_i = np.tile(np.arange(n), E)
                cols = s_idx * n + node_i[:, None]
                sig = np.concatenate(sig_all)
                rho = np.concatenate(rho_all)
                m = G.membership(cols, d, sig, rho, n_rows=E * n, n_cols=E * n)
                tg = G.fuzzy_union(m)
                ht, tt, wt = G.prune(tg, self.prune_epochs)
                wt = wt * self.temporal_weight
                h, t_, w = np.concatenate([h, ht]), np.concatenate([t_, tt]), np.concatenate([w, wt])
        return h, t_, w.astype(np.float32)

    def fit(self, dynamics, epochs=None, checkpoints: Checkpoints | None = None, on_epoch=None):
        with torch_threads(self.num_threads, resolve_device(self.device)):
            return self._fit(dynamics, epochs, checkpoints, on_epoch)

    def _fit(self, dynamics, epochs, checkpoints, on_epoch):
        ck = checkpoints or Checkpoints(None)
        self.ck_ = ck
        self.dynamics_ = dynamics
        self.epochs_ = eps = list(epochs or dynamics.epochs)
        self.device_ = dev = resolve_device(self.device)
        self.models_ = {}
        E, N = len(eps), dynamics.n_samples
        timer = Timer()
        self.timings_ = {"graph_s": 0.0, "jit_s": 0.0, "train_s": 0.0, "epochs": {}}
        if ck.has("models/timevis") and all(ck.has_embedding(e) for e in eps):
            return self
        rng = np.random.default_rng(self.seed)
        sel = np.arange(N) if not self.max_samples or self.max_samples >= N else \
            np.sort(rng.choice(N, self.max_samples, replace=False))
        n = len(sel)
        reps = [dynamics.representation(e) for e in eps]
        with timer("graph_s"):
            if ck.has_npz("state/timevis_graph"):
                z = ck.load_npz("state/timevis_graph")
                h, t, w = z["heads"], z["tails"], z["weights"]
            else:
                h, t, w = self._complex(reps, sel, dev, timer)
                ck.save_npz("state/timevis_graph", {"heads": h, "tails": t, "weights": w})
        a, b = find_ab_params(self.spread, self.min_dist)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = VisModel(dynamics.dim, self.hidden)
        model = model.to(dev)
        with timer("train_s"):
            allX = torch.from_numpy(np.concatenate([np.asarray(X[sel], np.float32) for X in reps], 0)).to(dev)
            model.set_normalization(allX)
            nodes = model.normalize(allX).contiguous()
            del allX
            gen = torch.Generator(device=dev).manual_seed(self.seed)
            opt = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=1e-5)
            start = 0
            pred_loss = self._pred_loss(dynamics, eps, model, nodes, n, dev)
            if self.mode == "layout":
                res = self._train_layout(dynamics, eps, model, nodes, n, sel, (h, t, w), a, b, gen, ck, pred_loss,
                                         dev, timer)
                ck.save_torch("models/timevis", {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        if self.mode == "layout":
            return self._finish(model, eps, reps, dev, ck, timer, res, h, E, n, on_epoch)
        with timer("train_s"):
            start = _resume_training(ck, model, opt, gen)
            sampler = G.EdgeSampler(h, t, w, device=dev, generator=gen)

            def on_block(step, optimizer):
                if self.checkpoint_every and step % self.checkpoint_every < 20:
                    ck.save_torch("state/timevis_train", {
                        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                        "optimizer": optimizer.state_dict(), "generator": gen.get_state(), "step": step})
                    self._after_checkpoint(step)

            bar = None
            if self.progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=self.steps_per_epoch * E, initial=start, desc="timevis steps", leave=False)
            try:
                res = train_edges(model, nodes, sampler, a=a, b=b, max_steps=self.steps_per_epoch * E,
                                  min_steps=self.min_steps_per_epoch * E, batch=self.batch, lr=self.lr,
                                  lambda_rec=self.lambda_rec, negative_sample_rate=self.negative_sample_rate,
                                  tol=self.tol, patience=self.patience, generator=gen, optimizer=opt,
                                  start_step=start, on_block=on_block, progress=bar, pred_loss=pred_loss)
            finally:
                if bar is not None:
                    bar.close()
            ck.save_torch("models/timevis", {k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
        return self._finish(model, eps, reps, dev, ck, timer, res, h, E, n, on_epoch)

    def _finish(self, model, eps, reps, dev, ck, timer, res, h, E, n, on_epoch):
        self.models_[None] = model.train(False)
        self.timings_["graph_s"] = timer.t.get("graph_s", 0.0)
        self.timings_["train_s"] = timer.t.get("train_s", 0.0)
        self.timings_.update({k: timer.t[k] for k in ("knn_s", "fuzzy_s", "temporal_s") if k in timer.t})
        self.timings_.update({"steps": res["steps"], "loss": res["loss"], "n_edges": int(len(h)), "n_nodes": int(E * n)})
        per = (self.timings_["graph_s"] + self.timings_["train_s"]) / E
        for e, X in zip(eps, reps):
            emb = encode_numpy(model, X, dev)
            ck.save_embedding(e, emb)
            info = {"train_s": per, "steps": res["steps"], "loss": res["loss"]}
            self.timings_["epochs"][str(e)] = info
            if on_epoch is not None:
                on_epoch(e, emb, info)
        return self

    def _train_layout(self, dynamics, eps, model, nodes, n, sel, edges, a, b, gen, ck, pred_loss, dev, timer):
        """Layout mode (see layout.py): per-epoch UMAP layouts over free positions, each started from the
        previous epoch's (one shared coordinate system; the first from PCA of all nodes), then a joint pass
        over the whole spatio-temporal complex (spatial + temporal edges), then ONE encoder regressed on all
        (epoch, sample) positions, the decoder on its frozen output, and a short joint fine-tune (PPR).
        The layout and the encoder stage are checkpointed (resumable)."""
        h, t, w = edges
        E = len(eps)
        h_ep, t_ep = h // n, t // n
        if ck.has_npz("state/timevis_layout"):
            T = torch.from_numpy(ck.load_npz("state/timevis_layout")["Y"]).to(dev)
        else:
            w = w.copy()
            if self.cross_pred_weight != 1.0:
                for i, e in enumerate(eps):
                    sp_i = np.flatnonzero((h_ep == i) & (t_ep == i))
                    sub = cross_prediction_weights(_Sub(dynamics, sel), e, h[sp_i] - i * n, t[sp_i] - i * n,
                                                   w[sp_i], n, self.cross_pred_weight)
                    w[sp_i] = sub
            with torch.no_grad():
                init_all = pca_init(nodes)
            Ys, prev = [], None
            for i in range(E):
                sp_i = np.flatnonzero((h_ep == i) & (t_ep == i))
                init = init_all[i * n:(i + 1) * n] if prev is None else prev
                prev = umap_layout(h[sp_i] - i * n, t[sp_i] - i * n, w[sp_i], n, init, a=a, b=b,
                                   steps=self.layout_steps_first if i == 0 else self.layout_steps,
                                   batch=self.layout_batch, lr=0.1 if i == 0 else 0.05,
                                   negative_sample_rate=self.negative_sample_rate, generator=gen, device=dev)
                Ys.append(prev)
            T = torch.cat(Ys, 0)
            del init_all, Ys
            if self.layout_joint_steps > 0 and E > 1:
                T = umap_layout(h, t, w, E * n, T, a=a, b=b, steps=self.layout_joint_steps,
                                batch=self.layout_batch * 2, lr=0.02, negative_sample_rate=self.negative_sample_rate,
                                generator=gen, device=dev)
            ck.save_npz("state/timevis_layout", {"Y": T.cpu().numpy()})
        if not ck.has("state/timevis_train"):  # a resumed state already carries its whitening
            model.encoder.rewhiten(nodes, generator=gen)
        opt = torch.optim.Adam(model.encoder.parameters(), lr=self.encoder_lr)
        start = _resume_training(ck, model, opt, gen)

        def on_step(step, optimizer):
            if self.checkpoint_every and step % self.checkpoint_every == 0 and step < self.encoder_steps:
                ck.save_torch("state/timevis_train", {
                    "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                    "optimizer": optimizer.state_dict(), "generator": gen.get_state(), "step": step})
                self._after_checkpoint(step)

        amp = amp_dtype(dev, self.amp)
        res = fit_encoder(model, nodes, T, steps=self.encoder_steps, batch=self.encoder_batch, lr=self.encoder_lr,
                          generator=gen, optimizer=opt, start_step=start, on_step=on_step, amp=amp)
        rdec = fit_decoder(model, nodes, steps=self.decoder_steps, batch=self.decoder_batch,
                           lambda_rec=self.lambda_rec, pred_loss=pred_loss, generator=gen, amp=amp)
        if self.joint_steps > 0:
            fit_joint(model, nodes, T, steps=self.joint_steps, lambda_rec=self.lambda_rec, pred_loss=pred_loss,
                      generator=gen, amp=amp)
        return {"steps": res["steps"] + rdec["steps"], "loss": res["fit"] + self.lambda_rec * rdec["recon"]}

    def _after_checkpoint(self, step):  # hook (tests inject interruptions here)
        pass

    def _pred_loss(self, dynamics, eps, model, nodes, n, dev):
        if self.lambda_pred <= 0:
            return None
        heads = [dynamics.head(e) for e in eps]
        if any(hd is None for hd in heads):
            return None
        mods = [hd.torch_module(dev) for hd in heads]
        with torch.no_grad():
            raw = model.denormalize(nodes)
            tlogp = torch.cat([torch.log_softmax(m(raw[i * n:(i + 1) * n]), 1) for i, m in enumerate(mods)], 0)
        lam = self.lambda_pred

        def pred_loss(xr, hidx):
            ep = torch.div(hidx, n, rounding_mode="floor")
            raw_r = model.denormalize(xr)
            logq = torch.empty(len(xr), tlogp.shape[1], device=xr.device)
            for i, m in enumerate(mods):
                sel = ep == i
                if sel.any():
                    logq[sel] = torch.log_softmax(m(raw_r[sel]), 1)
            tp = tlogp[hidx]
            return lam * (tp.exp() * (tp - logq)).sum(1).mean()

        return pred_loss


def _resume_training(ck, model, opt, gen) -> int:
    """Restore model, optimizer and generator from ``state/timevis_train`` if present; the step to resume at."""
    if not ck.has("state/timevis_train"):
        return 0
    st = ck.load_torch("state/timevis_train")
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    gen.set_state(st["generator"])
    return int(st["step"])


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
