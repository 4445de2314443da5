"""TimeVis (Temporality Spatialization): one visualization model trained once on a spatio-temporal complex
spanning all epochs, so every epoch shares one coordinate system.

Nodes are (epoch, sample) for every sample (``max_samples`` subsamples the nodes that enter the complex; the
projection still covers everyone), plus each epoch's border points (stcomplex.py builds the complex:
per-epoch spatial and boundary-wise edges, temporal edges between a sample's copies). The UMAP loss is
optimised over free positions of all nodes (per-epoch layouts chained from one PCA start, then a joint pass
with the temporal edges); the encoder is regressed on those positions and the decoder fitted to its frozen
output (layout.py), L = L_umap + λ·L_rec (+ λ_pred·KL with each node's own epoch head).

Beyond the paper: the decoder is conditioned on the epoch (``decoder_epoch_dim``; one shared position
decodes to each epoch's own representation), and the encoder is segmented (``encoder_segments``: one part per
contiguous run of epochs, all regressed on the one layout; models.SegmentedEncoder), because one encoder
shared by every epoch follows the layout far worse than per-epoch ones. The paper's edge-sampled training of
the autoencoder is not offered: it reached far lower neighbour preservation than fitting the layout, and its
parameters did nothing in the layout fit. The reasons and the figures behind each default:
docs/methods/timevis.md. The layout and each encoder part are checkpointed; a killed fit resumes from there.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np
import torch

from .base import Projector
from .checkpoints import cpu_state
from .device import amp_dtype
from .driver import Timer
from .graph import PartnerSampler
from .knn import knn_exact
from .layout import fit_decoder, fit_encoder, fit_joint, pca_init, umap_layout
from .losses import epoch_heads_kl, find_ab_params
from .models import VisModel, encode_numpy
from .optim import make_optimizer
from .parametric import ParametricMixin
from .params import check_range, scaled_steps, step_factor
from .pipeline import Pipeline, overlap_on
from .resources import DEFAULT_THREADS, release_memory, stack_rows, torch_threads
from .rng import generator_state, restore_generator, seeded
from .stcomplex import SpatioTemporalComplex
from .stcomplex import build as build_complex

#: encoder steps per fitted epoch with Muon and the pair term (``total_encoder_steps``)
MUON_STEPS_PER_EPOCH = 450


class _Stopped(Exception):
    """An encoder part on the worker thread stops because the part fitted beside it failed."""


class TimeVis(ParametricMixin, Projector):
    name = "timevis"
    per_epoch = False

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, n_neighbors: int = 15,
                 temporal_k: int = 3, hidden=None, decoder_hidden=None, lambda_rec: float = 1.0, lambda_pred: float = 1.0,
                 temporal_weight: float = 1.0, min_dist: float = 0.1, spread: float = 1.0,
                 negative_sample_rate: int = 5, prune_epochs: int = 200,
                 max_samples: int | None = None, checkpoint_every: int = 100, exact_knn_max: int | None = None,
                 num_threads: int | None = DEFAULT_THREADS, cross_pred_weight: float = 0.03,
                 layout_steps_first: int = 1000, layout_steps: int = 600, layout_lr_warm: float = 0.05,
                 layout_joint_steps: int = 200,
                 layout_batch: int = 8192, encoder_steps: int | None = None, encoder_batch: int = 512,
                 encoder_lr: float = 2e-2, decoder_steps: int = 600, decoder_batch: int = 1024,
                 joint_steps: int = 0, decoder_epoch_dim: int = 8, borders: bool = True,
                 border_fraction: float = 0.1, border_share: float = 0.1, border_fit_weight: float = 0.3,
                 encoder_segments: int = 5, encoder_pair_weight: float = 1.0, amp: bool = True,
                 encoder_optimizer: str = "muon", encoder_muon_lr: float = 0.02, decoder_optimizer: str = "adam",
                 decoder_fourier: int = 16, decoder_fourier_scale: float = 5.0, steps_scale=1.0,
                 overlap="auto"):
        """Graph and losses as DVI's (``n_neighbors``, ``prune_epochs``, ``exact_knn_max``, ``border_*``,
        ``cross_pred_weight``, ``lambda_rec``, ``lambda_pred``, ``min_dist``, ``spread``,
        ``negative_sample_rate``), plus ``temporal_k`` copies of a sample at other epochs joined by temporal
        edges weighted ``temporal_weight``, and ``max_samples`` (subsample the complex's samples).

        Stages: ``layout_*`` (``layout_joint_steps``: the joint pass with the temporal edges); ``encoder_*``:
        regression steps shared by the parts (``encoder_steps``, default None: ``total_encoder_steps``),
        ``encoder_segments`` parts, ``encoder_optimizer`` "muon" (optim.MuonAdam) or "adam",
        ``encoder_pair_weight`` (the relative term over sample-sample edges; 0: the plain regression);
        ``decoder_*`` (``decoder_epoch_dim``: the per-epoch condition, 0: one unconditioned decoder;
        ``decoder_fourier`` / ``decoder_fourier_scale``: Fourier input features, 0: the plain MLP);
        ``joint_steps``: an optional joint fine-tune of encoder and decoder. ``hidden`` / ``decoder_hidden``:
        widths (models.py). ``checkpoint_every``: steps between an encoder part's checkpoints.

        ``steps_scale``: multiplier of the layout, encoder, decoder and joint step counts; "auto" scales them
        with the nodes per epoch relative to the demo's (params.step_factor). ``overlap``: fit the encoder's
        parts two at a time, one on a worker thread, each on half the threads (pipeline.py; "auto": on a CPU)."""
        self._keep(locals())
        self._check_common()
        check_range("encoder_segments", encoder_segments, lo=1)
        self.encoder_segments = int(encoder_segments)

    def _model_key(self, epoch):
        return None, "models/timevis"  # one model projects every epoch

    def _decoder_cond(self, epoch):
        if self._model_for(epoch).decoder.n_cond == 0:
            return None
        if epoch not in self.epochs_:
            raise KeyError(f"TimeVis' decoder is conditioned on the fitted epochs {self.epochs_}; epoch {epoch} "
                           "is not one of them (the encoder projects any epoch, the inverse needs a fitted one)")
        return self.epochs_.index(epoch)

    def _encoder_seg(self, epoch):
        m = self._model_for(epoch)
        if not m.segmented:
            return None
        eps = np.asarray(self.epochs_)  # an epoch that was not fitted goes with the nearest fitted one
        return int(m.encoder.epoch_segment[int(np.argmin(np.abs(eps - int(epoch))))])

    def total_encoder_steps(self, n_epochs: int) -> int:
        """``encoder_steps``, or by default per fitted epoch: with the pair term 450 with Muon (at least 1,000)
        or 900 with Adam (at least 2,000), 2,600 (at least 6,000) without: the same time per epoch whatever
        the number of epochs."""
        if self.encoder_steps is not None:
            return int(self.encoder_steps)
        if self.encoder_pair_weight > 0 and self.encoder_optimizer == "muon":
            return max(1000, MUON_STEPS_PER_EPOCH * int(n_epochs))
        if self.encoder_pair_weight > 0:
            return max(2000, 900 * int(n_epochs))
        return max(6000, 2600 * int(n_epochs))

    def _step_factor(self, cx) -> float:
        """params.step_factor for the complex's nodes per epoch."""
        return step_factor(self.steps_scale, cx.n_nodes / max(cx.n_epochs, 1))

    @staticmethod
    def _node_segments(model, cx, dev):
        """Each node's segment of a segmented encoder (None: one encoder for all)."""
        if not model.segmented:
            return None
        return model.encoder.epoch_segment.to(dev)[torch.from_numpy(cx.node_epoch()).to(dev)]

    def epoch_segments(self, n_epochs: int) -> np.ndarray:
        """Segment id of each of ``n_epochs`` fitted epochs: ``encoder_segments`` contiguous runs of (nearly)
        equal length, at most one per epoch."""
        k = min(self.encoder_segments, n_epochs)
        return (np.arange(n_epochs) * k) // max(n_epochs, 1)

    # the driver's calls ------------------------------------------------------------------------------
    def epoch_finished(self, store, epoch):
        return store.has_embedding(epoch) and store.has("models/timevis")

    @contextlib.contextmanager
    def fitting(self, ctx):
        dev = self.device_
        with torch_threads(self.num_threads, dev), \
                Pipeline(overlap_on(self.overlap, dev), torch.get_num_threads()) as pipe:
            self._pipe, self._ctx = pipe, ctx
            yield

    def fit_all(self, ctx):
        dynamics, eps, ck, dev = ctx.dynamics, self.epochs_, ctx.store, self.device_
        E, N = len(eps), dynamics.n_samples
        timer = Timer()
        rng = np.random.default_rng(self.seed)
        sel = np.arange(N) if not self.max_samples or self.max_samples >= N else \
            np.sort(rng.choice(N, self.max_samples, replace=False))
        n = len(sel)
        reps = [dynamics.representation(e) for e in eps]
        with timer("graph_s"):
            cx = SpatioTemporalComplex.load(ck, "state/timevis_graph") if ck.has_npz("state/timevis_graph") else None
            if cx is None:
                cx = build_complex(dynamics, eps, reps, sel, n_neighbors=self.n_neighbors, temporal_k=self.temporal_k,
                                   temporal_weight=self.temporal_weight, prune_epochs=self.prune_epochs,
                                   borders=self.borders, border_fraction=self.border_fraction,
                                   border_share=self.border_share, cross_pred_weight=self.cross_pred_weight,
                                   seed=self.seed, exact_knn_max=self.exact_knn_max, device=dev, timer=timer)
                cx.save(ck, "state/timevis_graph")
        node_epoch = torch.from_numpy(cx.node_epoch()).to(dev)
        a, b = find_ab_params(self.spread, self.min_dist)
        with seeded(self.seed):  # initialised on the CPU, then moved
            model = VisModel(dynamics.dim, self.hidden, decoder_hidden=self.decoder_hidden, n_cond=E if self.decoder_epoch_dim > 0 else 0,
                             cond_dim=max(1, int(self.decoder_epoch_dim)), epoch_segment=self.epoch_segments(E),
                             fourier=self.decoder_fourier, fourier_scale=self.decoder_fourier_scale)
        model = model.to(dev)
        cond = node_epoch if self.decoder_epoch_dim > 0 else None
        with timer("train_s"):
            every = n == len(reps[0])  # all samples: no per-epoch selected copies
            nodes = stack_rows([X if every else X[sel] for X in reps] + list(cx.borders), dev)
            model.set_normalization(nodes[:E * n])
            nodes = model.normalize_(nodes)
            gen = torch.Generator(device=dev).manual_seed(self.seed)
            pred_loss = epoch_heads_kl(dynamics, eps, nodes, node_epoch, model.denormalize, self.lambda_pred, dev)
            res = self._train(model, nodes, cx, a, b, gen, ck, pred_loss, dev, cond)
            ck.save_torch("models/timevis", cpu_state(model))
        self._finish(ctx, model, reps, timer, res, cx)

    def _finish(self, ctx, model, reps, timer, res, cx):
        self.models_[None] = model.train(False)
        t = self.timings_
        t["jit_s"] = timer.t.get("jit_s", 0.0)  # pynndescent's compilation (large N only)
        t["graph_s"] = timer.t.get("graph_s", 0.0) - t["jit_s"]
        t["train_s"] = timer.t.get("train_s", 0.0)
        t.update({k: timer.t[k] for k in ("knn_s", "fuzzy_s", "borders_s", "temporal_s") if k in timer.t})
        t.update({"steps": res["steps"], "loss": res["loss"], "n_edges": int(len(cx.heads)),
                  "step_factor": self._step_factor(cx), "n_nodes": int(cx.n_nodes)})
        per = (t["graph_s"] + t["train_s"]) / len(self.epochs_)
        segs = self.epoch_segments(len(self.epochs_))
        for i, (e, X, B) in enumerate(zip(self.epochs_, reps, cx.borders)):
            if len(B):
                ctx.store.save_npz(f"borders/epoch_{e}", {"points": B})
            emb = encode_numpy(model, X, self.device_, seg=int(segs[i]) if model.segmented else None)
            # one fit for all epochs: an epoch's time is its share of the whole ("shared")
            ctx.epoch_done(e, emb, {"train_s": per, "shared": True, "steps": res["steps"], "loss": res["loss"],
                                    "n_borders": int(len(B))})

    def _train(self, model, nodes, cx, a, b, gen, ck, pred_loss, dev, cond=None):
        """Per-epoch UMAP layouts over free positions of each epoch's samples and border points, each started
        from the previous epoch's (one shared coordinate system; the first from PCA of all nodes; a border
        point from its nearest sample), then a joint pass over the whole spatio-temporal complex (spatial +
        temporal edges), then the encoder (each part on its segment of epochs) regressed on the node positions
        (border points at ``border_fit_weight``), the decoder on its frozen output, and, with ``joint_steps``,
        a joint fine-tune. The layout and the encoder stage are checkpointed (resumable)."""
        E, n = cx.n_epochs, cx.n
        k = self._step_factor(cx)
        if ck.has_npz("state/timevis_layout"):
            T = torch.from_numpy(ck.load_npz("state/timevis_layout")["Y"]).to(dev)
        else:
            T = self._layout(nodes, cx, a, b, gen, dev, k)
            ck.save_npz("state/timevis_layout", {"Y": T.cpu().numpy()})
            release_memory()
        amp = amp_dtype(dev, self.amp)
        lw = None
        if cx.n_nodes > E * n and self.border_fit_weight != 1.0:
            lw = torch.ones(cx.n_nodes, device=dev)
            lw[E * n:] = self.border_fit_weight
        seg = self._node_segments(model, cx, dev)
        res = self._fit_encoders(model, nodes, T, seg, lw, E * n, ck, amp, cx)
        release_memory()
        rdec = fit_decoder(model, nodes, steps=scaled_steps(self.decoder_steps, k), batch=self.decoder_batch,
                           lambda_rec=self.lambda_rec, pred_loss=pred_loss, generator=gen, amp=amp, cond=cond,
                           seg=seg, optimizer=self.decoder_optimizer)
        if self.joint_steps > 0:
            fit_joint(model, nodes, T, steps=scaled_steps(self.joint_steps, k), lambda_rec=self.lambda_rec,
                      pred_loss=pred_loss, generator=gen, amp=amp, cond=cond, seg=seg)
        return {"steps": res["steps"] + rdec["steps"], "loss": res["fit"] + self.lambda_rec * rdec["recon"]}

    def _layout(self, nodes, cx, a, b, gen, dev, k):
        """The free positions of every node: per-epoch layouts chained from one PCA start, then the joint pass."""
        E, n = cx.n_epochs, cx.n
        ne = cx.node_epoch()
        with torch.no_grad():
            T = pca_init(nodes, seed=self.seed)
        prev = None
        for i in range(E):
            ids = torch.from_numpy(cx.epoch_nodes(i)).to(dev)
            hi, ti, wi = cx.epoch_edges(i, ne)
            init = T[ids]
            if prev is not None:
                init[:n] = prev
                if len(ids) > n:  # border points start at their nearest sample's position
                    near = knn_exact(nodes[ids[n:]].cpu().numpy(), 1, Y=nodes[i * n:(i + 1) * n].cpu().numpy(),
                                     device=dev)[0][:, 0]
                    init[n:] = prev[torch.as_tensor(near, device=dev)]
            Yi = umap_layout(hi, ti, wi, len(ids), init, a=a, b=b,
                             steps=scaled_steps(self.layout_steps_first if i == 0 else self.layout_steps, k),
                             batch=self.layout_batch, lr=0.1 if i == 0 else self.layout_lr_warm,
                             negative_sample_rate=self.negative_sample_rate, generator=gen, device=dev)
            T[ids] = Yi
            prev = Yi[:n]
        if self.layout_joint_steps > 0 and E > 1:
            T = umap_layout(cx.heads, cx.tails, cx.weights, cx.n_nodes, T, a=a, b=b,
                            steps=scaled_steps(self.layout_joint_steps, k), batch=self.layout_batch * 2, lr=0.02,
                            negative_sample_rate=self.negative_sample_rate, generator=gen, device=dev)
        return T

    def _fit_encoders(self, model, nodes, T, seg, lw, n_samples, ck, amp, cx=None):
        """The encoder regressed on the layout T: the one encoder on all nodes, or each part of a segmented
        encoder on its segment's nodes, with ``encoder_steps`` shared in proportion to their counts (so the
        time is the same). Every part is whitened for the samples of all epochs: whitened for its own segment's,
        the first part (early epochs, whose representations have a few strong directions and much noise) lost
        neighbour preservation.

        The parts are independent given T and each draws from its own generator, so with ``overlap`` they are
        fitted two at a time: one on the worker thread, one here, each on half the threads (a part's small
        matrix products gain little from a second thread). Each part checkpoints its own state every
        ``checkpoint_every`` steps and when done (``state/timevis_part_<k>``); a resumed fit keeps the finished
        parts and goes on from the others'."""
        pipe = self._pipe
        parts = list(model.encoder.parts) if model.segmented else [model.encoder]
        n_steps = scaled_steps(self.total_encoder_steps(len(self.epochs_)), 1.0 if cx is None else self._step_factor(cx))
        jobs = []
        for k, part in enumerate(parts):
            rows = None if seg is None else torch.nonzero(seg == k).squeeze(1)
            n_rows = len(nodes) if rows is None else len(rows)
            jobs.append((k, part, rows, max(1, round(n_steps * n_rows / len(nodes)))))
        total = sum(j[3] for j in jobs)
        fits = {}
        todo = []
        for job in jobs:
            st = ck.load_torch(f"state/timevis_part_{job[0]}") if ck.has(f"state/timevis_part_{job[0]}") else None
            if st is not None and st.get("done"):
                job[1].load_state_dict(st["part"])
            else:
                todo.append((job, st))
        stop = threading.Event()  # set when the part fitted here fails: the worker's part stops at its next step
        args = (model, nodes, T, lw, n_samples, ck, amp, cx, nodes.device, stop)
        try:
            while todo:
                if pipe.enabled and len(todo) >= 2:
                    (mine, st_mine), (theirs, st_theirs) = todo[:2]
                    todo = todo[2:]
                    pipe.submit(self._fit_part, theirs, st_theirs, *args)
                    with pipe.alongside():
                        fits[mine[0]] = self._fit_part(mine, st_mine, *args)
                    fits[theirs[0]] = pipe.wait()
                else:
                    (job, st), todo = todo[0], todo[1:]
                    fits[job[0]] = self._fit_part(job, st, *args)
        except BaseException:
            stop.set()
            raise
        return {"steps": total, "fit": float(np.mean(list(fits.values()))) if fits else float("nan")}

    def _fit_part(self, job, st, model, nodes, T, lw, n_samples, ck, amp, cx, dev, stop):
        """Fit one encoder part (``job``: its index, module, rows and steps) from its checkpoint ``st`` (None:
        from the start); returns its fit loss. At a checkpoint a stop requested by the caller ends the fit
        (driver.FitStopped), resumable from there."""
        k, part, rows, steps = job
        xk, tk, wk = (nodes, T, lw) if rows is None else (nodes[rows], T[rows], None if lw is None else lw[rows])
        gen = torch.Generator(device=dev).manual_seed(self.seed + 7919 * (k + 1))
        opt = make_optimizer(part, self.encoder_optimizer, lr=self.encoder_lr, muon_lr=self.encoder_muon_lr)
        name = f"state/timevis_part_{k}"
        begin = 0
        if st is not None:
            part.load_state_dict(st["part"])
            opt.load_state_dict(st["optimizer"])
            begin = int(st["step"])
            restore_generator(gen, st["generator"], self.seed + 7919 * (k + 1) + begin)
        else:
            part.rewhiten(nodes[:n_samples], generator=gen)

        def save(step, optimizer, done=False):
            ck.save_torch(name, {"part": cpu_state(part),
                                 "optimizer": optimizer.state_dict(), "generator": generator_state(gen), "step": step,
                                 "done": done})

        def on_step(step, optimizer):
            if stop.is_set():
                raise _Stopped(f"encoder part {k} stopped at step {step}: the other part failed")
            if self.checkpoint_every and step % self.checkpoint_every == 0 and step < steps:
                save(step, optimizer)
                self._after_checkpoint(step)
                if self._ctx.stop_requested():
                    raise self._ctx.stopped()

        pairs = None
        if self.encoder_pair_weight > 0 and cx is not None:
            pairs = self._partners(cx, n_samples, rows, len(xk), gen)
        r = fit_encoder(model, xk, tk, steps=steps, batch=self.encoder_batch, lr=self.encoder_lr, generator=gen,
                        optimizer=opt, start_step=begin, on_step=on_step, amp=amp, loss_weights=wk, encoder=part,
                        pairs=pairs, pair_weight=self.encoder_pair_weight)
        save(steps, r["optimizer"], done=True)
        return r["fit"]

    @staticmethod
    def _partners(cx, n_samples, ids, n_rows, gen):
        """Partner sampler over the complex's sample-sample edges (spatial and temporal) whose both ends are
        among ``ids`` (the rows of one encoder part; None: all nodes), in those rows' numbering."""
        h, t = np.asarray(cx.heads), np.asarray(cx.tails)
        keep = (h < n_samples) & (t < n_samples)
        h, t = h[keep], t[keep]
        if ids is not None:
            local = np.full(cx.n_nodes, -1, np.int64)
            local[ids.cpu().numpy()] = np.arange(len(ids))
            h, t = local[h], local[t]
            keep = (h >= 0) & (t >= 0)
            h, t = h[keep], t[keep]
        return PartnerSampler(h, t, n_rows, gen.device, gen)

    def _after_checkpoint(self, step):  # hook (tests inject interruptions here)
        pass
