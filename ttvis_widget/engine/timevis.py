"""TimeVis (Temporality Spatialization, algorithms.md §4): ONE encoder/decoder trained once on a
spatio-temporal complex spanning all epochs, so every epoch shares one coordinate system.

Nodes are (epoch, sample) for every sample (no k-center subsampling by default: we learn from all samples;
``max_samples`` subsamples the nodes that enter the complex, the projection still covers everyone).
Spatial edges: the UMAP complex of each epoch (σ, ρ kept). Temporal edges: each node to the ``temporal_k``
nearest copies of the same sample at other epochs, membership exp(−max(0, d − ρ)/σ) with the node's own σ, ρ,
fuzzy union. L = L_umap + λ·L_rec (+ λ_pred·KL with each node's epoch head, as in DVI).
Training state is checkpointed every ``checkpoint_every`` steps; a killed fit resumes from there.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from . import graph as G
from .base import Checkpoints, Projector, Timer, resolve_device, torch_threads
from .dvi import ParametricMixin
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
                 num_threads: int | None = 1):
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

    def _model_for(self, epoch):
        if None not in self.models_:
            m = VisModel(self.dynamics_.dim, self.hidden)
            m.load_state_dict(self.ck_.load_torch("models/timevis"))
            self.models_[None] = m.to(self.device_).eval()
        return self.models_[None]

    def load(self, dynamics, epochs, checkpoints):
        super().load(dynamics, epochs, checkpoints)
        self.ck_ = checkpoints
        self.device_ = resolve_device(self.device)
        self.models_ = {}
        return self

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
            if ck.has("state/timevis_train"):
                st = ck.load_torch("state/timevis_train")
                model.load_state_dict(st["model"])
                opt.load_state_dict(st["optimizer"])
                gen.set_state(st["generator"])
                start = int(st["step"])
            sampler = G.EdgeSampler(h, t, w, device=dev, generator=gen)
            pred_loss = self._pred_loss(dynamics, eps, model, nodes, n, dev)

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
        self.models_[None] = model.eval()
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
