"""TimeVis (Temporality Spatialization, algorithms.md §4): one visualization model trained once on a
spatio-temporal complex spanning all epochs, so every epoch shares one coordinate system.

Nodes are (epoch, sample) for every sample (no k-center subsampling by default: we learn from all samples;
``max_samples`` subsamples the nodes that enter the complex, the projection still covers everyone), plus each
epoch's border points (``borders``; stcomplex.py builds the complex: per-epoch spatial + boundary-wise edges,
temporal edges between a sample's copies). L = L_umap + λ·L_rec (+ λ_pred·KL with each node's epoch head).

Additions to the original, measured on the Fashion-MNIST demo (15 epochs, 12k × 128, 2 CPU cores):
* the decoder is conditioned on the epoch (``decoder_epoch_dim``-vector per fitted epoch at every layer,
  models.Decoder): the shared 2-D position of a sample must decode to that epoch's representation, which one
  unconditioned decoder can only average over epochs. PPR at the last epoch 0.928 -> 0.957, at the first
  0.845 -> 0.92, same cost. ``decoder_epoch_dim=0`` gives the original shared decoder. Conditioning the
  encoder the same way gained < 0.01 NN@15; segmenting it does more (below);
* border points with ``border_share`` 0.1 of each epoch's spatial weight: BNN@15 of the run's border set
  3.9 -> 5.2-5.5 (per-epoch UMAP: 5.1); each 0.05 of share costs PPR about 0.005 (0.15 gave BNN 5.7, PPR 0.94);
* sample-sample edges across predicted classes at ``cross_pred_weight`` 0.03 of their weight (DVI: 0.1):
  PPR at the last epoch +0.005 with borders, NN@15 unchanged (0.178); 0 gave +0.006 but NN@15 0.172.
  Run-to-run spread of these figures on 2 cores: about ±0.005 PPR and ±0.2 BNN.

``mode="layout"`` (default): the UMAP loss is optimised over free positions of all (epoch, sample) nodes
(per-epoch layouts chained from one PCA start, then a joint pass with the temporal edges), and the
encoder/decoder is fitted to those positions (layout.py; ``_train_layout``). ``mode="edges"``: the original
edge-sampled training of the autoencoder (``trainer.train_edges``), which stalled at NN@15 ≈ 0.16 on the
Fashion-MNIST demo.
Training state is checkpointed every ``checkpoint_every`` steps; a killed fit resumes from there.

Where NN@15 is lost (demo, 15 epochs; regressions on one saved layout, 3,000-query NN@15 at epoch 15): the
layout holds 0.28 (0.30 without the temporal joint pass, yet the encoder then reaches no more), an encoder
for that epoch alone 0.24 (pooled whitening) to 0.26 (its own), the one shared encoder 0.18. Sharing is the
cost, and neither compute nor conditioning buys it back: 24,000 steps 0.185, a per-epoch FiLM of the hidden
layers 0.189, widths (1024, 256) 0.198 at 2.4x the time (0.184 at the same time with fewer steps).

So the encoder is segmented (``encoder_segments``, default 5; models.SegmentedEncoder): one encoder per
contiguous run of epochs, all regressed on the one shared layout -- one coordinate system, one decoder, one
saved model that routes each epoch to its part (DeepDebugger, the authors' successor to TimeVis, fits one
model per segment of training for the same reason). On the demo (15 epochs, same layout, no joint pass),
NN@15 mean over epochs / at epoch 15, PPR at 15, tlr:
  1 part, 8,000 steps   0.194 / 0.176, 0.948, 0.666  (with the 600-step joint pass: 0.194 / 0.178, 0.954)
  5 parts, 16,000 steps 0.226 / 0.226, 0.959, 0.666
  5 parts, 24,000 steps 0.241 / 0.238, 0.962, 0.672  (3 parts: 0.233, 8 at 16,000: 0.225, 15: 0.230)
  5 parts, 40,000 steps 0.255 / 0.254, 0.965, 0.675
The parts move a sample no more between epochs than the one encoder does (tlr unchanged). The joint pass
(``joint_steps``) is off by default: with parts it cost NN@15 0.01-0.017 (200-600 steps) for PPR +0.002-0.007,
which is already above 0.95 without it. ``encoder_segments=1, encoder_steps=8000, joint_steps=600`` gives the
one shared encoder of the original method.

Earlier defaults: 2,600 encoder steps per fitted epoch and 600 layout steps per warm epoch. Full fits of the demo's
15 epochs (after the layout step got 2x cheaper, layout.umap_grad_t), NN@15 mean / at epoch 15, PPR at 15,
tlr, fit time:
  1,600 steps per epoch, 300 layout steps (the earlier defaults)  0.240 / 0.237, 0.959, 0.670  (encoder
                                                                  and decoder stages alone: 77 s)
  2,600 per epoch (39,000), 300 layout steps                      0.254 / 0.249, 0.960, 0.670, 135 s
  2,600 per epoch, 600 layout steps (default)                     0.257 / 0.254, 0.979, 0.692, 142 s
The longer per-epoch layouts settle each epoch before the temporal pass joins them, which the decoder's PPR
and the temporal ranking (tlr) both show.

With the encoder's pair term (``encoder_pair_weight`` 1, default; layout.fit_encoder: each step's 512 nodes
bring one graph neighbour each, and their relative positions are fitted too) 900 steps per epoch do what
2,600 plain ones did. First 10 demo epochs, NN@15 mean / at epoch 10, PPR at 10, s per epoch (2 cores):
  2,600 plain steps per epoch (the earlier default)  0.266 / 0.264, 0.970, 9.45 (encoder stage 6.1)
  900 steps with pairs (default)                     0.258 / 0.253, 0.968, 6.27 (encoder stage 2.9)
  600 steps with pairs, 400 layout steps             0.239 / 0.233, 0.950, 5.97
15 epochs, 900 per epoch: NN@15 0.250, PPR 0.978, tlr 0.687.

Muon on the hidden-to-hidden weight only (optim.MuonAdam; each step ~30% cheaper): 400 steps per epoch then
gave NN@15 0.237 / 0.234-0.238, PPR 0.972; 500 (the earlier default) 0.249 / 0.247, 0.977; 550 0.252 / 0.251,
0.978. With the encoder's truncated whitening (models.RANK_TOL), two seeds each: 500 steps and an 800-step
decoder 0.247-0.249 / 0.240-0.245, PPR 0.973-0.975; a 600-step decoder alone kept that (0.247 / 0.243,
0.976; 500 steps: PPR 0.971); 450 encoder steps with it (default) 0.241-0.242 / 0.232-0.233, 0.975-0.977.
Those two cuts take ~0.7 s off a demo epoch (about 9%: the issue's 1.82x-UMAP bar sat within this VM's
run-to-run drift) for NN@15 -0.006.
Before that (Muon on the input layer too): the encoder with Muon (``encoder_optimizer``) at 400 steps per
epoch, and the decoder with 16 Fourier input features at scale 5 (``decoder_fourier``, models.Decoder; dvi.py shows why)
for 800 steps instead of 1,500. Same 10 demo epochs, one run each (this VM's timings vary by ~20%):
  900 Adam steps with pairs, plain decoder 1,500 steps   0.256 / 0.258, 0.974, 7.13 (encoder 3.19, decoder 0.98)
  400 Muon steps, Fourier decoder 1,500 steps (Muon)     0.248 / 0.249, 0.980, 6.68 (2.18, 1.71)
  400 Muon steps, Fourier decoder 800 steps (then default) 0.249 / 0.248, 0.980, 6.33 (2.63, 0.76)
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from . import graph as G
from .base import Projector, Timer
from .checkpoints import Checkpoints, cpu_state
from .device import amp_dtype, resolve_device
from .dvi import ParametricMixin
from .knn import knn_exact
from .layout import fit_decoder, fit_encoder, fit_joint, pca_init, umap_layout
from .losses import find_ab_params, prediction_kl
from .models import VisModel, encode_numpy
from .optim import OPTIMIZERS, adam, make_optimizer
from .params import check_choice, check_steps_scale, scaled_steps, step_factor
from .pipeline import Pipeline, check_overlap, overlap_on
from .resources import DEFAULT_THREADS, release_memory, stack_rows, torch_threads
from .rng import generator_state, restore_generator, seeded
from .stcomplex import SpatioTemporalComplex
from .stcomplex import build as build_complex
from .trainer import train_edges


#: encoder steps per fitted epoch with Muon and the pair term (``total_encoder_steps``)
MUON_STEPS_PER_EPOCH = 450


class _Stopped(Exception):
    """An encoder part on the worker thread stops because the part fitted beside it failed."""


class TimeVis(ParametricMixin, Projector):
    name = "timevis"

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, n_neighbors: int = 15,
                 temporal_k: int = 3, hidden=None, decoder_hidden=None, lambda_rec: float = 1.0, lambda_pred: float = 1.0,
                 temporal_weight: float = 1.0, min_dist: float = 0.1, spread: float = 1.0,
                 negative_sample_rate: int = 5, batch: int = 2048, lr: float = 1e-2, steps_per_epoch: int = 150,
                 min_steps_per_epoch: int = 40, patience: int = 2, tol: float = 2e-3, prune_epochs: int = 200,
                 max_samples: int | None = None, checkpoint_every: int = 100, exact_knn_max: int | None = None,
                 num_threads: int | None = DEFAULT_THREADS, mode: str = "layout", cross_pred_weight: float = 0.03,
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
        """``hidden``: encoder widths (default models.default_hidden), mirrored for the decoder unless
        ``decoder_hidden`` is given (default models.default_decoder_hidden). ``encoder_steps``: regression
        steps of the encoder, shared by its parts (default None: 450 per fitted epoch with Muon, at least
        1,000; see ``total_encoder_steps``). ``encoder_optimizer``: "muon"
        (optim.MuonAdam) or "adam"; ``decoder_fourier`` / ``decoder_fourier_scale``: the decoder's Fourier
        input features (models.Decoder; 0: the plain MLP). ``encoder_pair_weight``: the relative term
        over sample-sample edges (layout.fit_encoder; 0: the plain regression, which needs 2,600 steps per
        epoch for the same NN@15). ``steps_scale``: multiplier of the layout, encoder, decoder and joint step
        counts; "auto" scales them with the nodes per epoch relative to the demo's (params.step_factor).
        ``overlap``: fit the encoder's parts two at a time, one on a worker thread, each on half the threads
        (pipeline.py; "auto": on a CPU device)."""
        super().__init__(seed=seed, device=device, progress=progress)
        self.steps_scale = check_steps_scale(steps_scale)
        self.n_neighbors = n_neighbors
        self.temporal_k = temporal_k
        self.hidden = hidden
        self.decoder_hidden = decoder_hidden
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
        self.layout_lr_warm = layout_lr_warm
        self.layout_joint_steps = layout_joint_steps
        self.encoder_optimizer = check_choice("encoder_optimizer", encoder_optimizer, OPTIMIZERS)
        self.encoder_muon_lr = encoder_muon_lr
        self.decoder_optimizer = check_choice("decoder_optimizer", decoder_optimizer, OPTIMIZERS)
        self.decoder_fourier = decoder_fourier
        self.decoder_fourier_scale = decoder_fourier_scale
        self.layout_batch = layout_batch
        self.encoder_steps = encoder_steps
        self.encoder_batch = encoder_batch
        self.encoder_lr = encoder_lr
        self.decoder_steps = decoder_steps
        self.decoder_batch = decoder_batch
        self.joint_steps = joint_steps
        self.decoder_epoch_dim = decoder_epoch_dim
        self.borders = borders
        self.border_fraction = border_fraction
        self.border_share = border_share
        self.border_fit_weight = border_fit_weight
        if int(encoder_segments) < 1:
            raise ValueError(f"encoder_segments must be >= 1, not {encoder_segments!r}")
        self.encoder_segments = int(encoder_segments)
        self.encoder_pair_weight = encoder_pair_weight
        self.amp = amp
        self.overlap = check_overlap(overlap)

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

    def fit(self, dynamics, epochs=None, checkpoints: Checkpoints | None = None, on_epoch=None):
        dev = resolve_device(self.device)
        with torch_threads(self.num_threads, dev), \
                Pipeline(overlap_on(self.overlap, dev), torch.get_num_threads()) as pipe:
            return self._fit(dynamics, epochs, checkpoints, on_epoch, pipe)

    def _fit(self, dynamics, epochs, checkpoints, on_epoch, pipe):
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
            cx = SpatioTemporalComplex.load(ck, "state/timevis_graph") if ck.has_npz("state/timevis_graph") else None
            if cx is None:
                cx = build_complex(dynamics, eps, reps, sel, n_neighbors=self.n_neighbors, temporal_k=self.temporal_k,
                                   temporal_weight=self.temporal_weight, prune_epochs=self.prune_epochs,
                                   borders=self.borders, border_fraction=self.border_fraction,
                                   border_share=self.border_share, cross_pred_weight=self.cross_pred_weight,
                                   seed=self.seed, exact_knn_max=self.exact_knn_max, device=dev, timer=timer)
                cx.save(ck, "state/timevis_graph")
        h, t, w = cx.heads, cx.tails, cx.weights
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
            opt = adam(model.parameters(), lr=self.lr, weight_decay=1e-5)
            start = 0
            pred_loss = self._pred_loss(dynamics, eps, model, nodes, node_epoch, dev)
            if self.mode == "layout":
                res = self._train_layout(model, nodes, cx, a, b, gen, ck, pred_loss, dev, pipe, cond)
                ck.save_torch("models/timevis", cpu_state(model))
        if self.mode == "layout":
            return self._finish(model, eps, reps, dev, ck, timer, res, cx, on_epoch)
        with timer("train_s"):
            start = _resume_training(ck, model, opt, gen, self.seed)
            sampler = G.EdgeSampler(h, t, w, device=dev, generator=gen)

            def on_block(step, optimizer):
                if self.checkpoint_every and step % self.checkpoint_every < 20:
                    ck.save_torch("state/timevis_train", {
                        "model": cpu_state(model),
                        "optimizer": optimizer.state_dict(), "generator": generator_state(gen), "step": step})
                    self._after_checkpoint(step)

            k = self._step_factor(cx)
            max_steps = scaled_steps(self.steps_per_epoch * E, k)
            bar = None
            if self.progress:
                from tqdm.auto import tqdm

                bar = tqdm(total=max_steps, initial=start, desc="timevis steps", leave=False)
            try:
                res = train_edges(model, nodes, sampler, a=a, b=b, max_steps=max_steps,
                                  min_steps=scaled_steps(self.min_steps_per_epoch * E, k), batch=self.batch, lr=self.lr,
                                  lambda_rec=self.lambda_rec, negative_sample_rate=self.negative_sample_rate,
                                  tol=self.tol, patience=self.patience, generator=gen, optimizer=opt,
                                  start_step=start, on_block=on_block, progress=bar, pred_loss=pred_loss,
                                  cond=cond, seg=self._node_segments(model, cx, dev))
            finally:
                if bar is not None:
                    bar.close()
            ck.save_torch("models/timevis", cpu_state(model))
        return self._finish(model, eps, reps, dev, ck, timer, res, cx, on_epoch)

    def _finish(self, model, eps, reps, dev, ck, timer, res, cx, on_epoch):
        self.models_[None] = model.train(False)
        self.timings_["jit_s"] = timer.t.get("jit_s", 0.0)  # pynndescent's compilation (large N only)
        self.timings_["graph_s"] = timer.t.get("graph_s", 0.0) - self.timings_["jit_s"]
        self.timings_["train_s"] = timer.t.get("train_s", 0.0)
        self.timings_.update({k: timer.t[k] for k in ("knn_s", "fuzzy_s", "borders_s", "temporal_s") if k in timer.t})
        self.timings_.update({"steps": res["steps"], "loss": res["loss"], "n_edges": int(len(cx.heads)),
                              "step_factor": self._step_factor(cx),
                              "n_nodes": int(cx.n_nodes)})
        per = (self.timings_["graph_s"] + self.timings_["train_s"]) / len(eps)
        segs = self.epoch_segments(len(eps))
        for i, (e, X, B) in enumerate(zip(eps, reps, cx.borders)):
            if len(B):
                ck.save_npz(f"borders/epoch_{e}", {"points": B})
            emb = encode_numpy(model, X, dev, seg=int(segs[i]) if model.segmented else None)
            ck.save_embedding(e, emb)
            # one fit for all epochs: an epoch's time is its share of the whole ("shared")
            info = {"train_s": per, "shared": True, "steps": res["steps"], "loss": res["loss"],
                    "n_borders": int(len(B))}
            self.timings_["epochs"][str(e)] = info
            if on_epoch is not None:
                on_epoch(e, emb, info)
        return self

    def _train_layout(self, model, nodes, cx, a, b, gen, ck, pred_loss, dev, pipe, cond=None):
        """Layout mode (see layout.py): per-epoch UMAP layouts over free positions of each epoch's samples and
        border points, each started from the previous epoch's (one shared coordinate system; the first from
        PCA of all nodes; a border point from its nearest sample), then a joint pass over the whole
        spatio-temporal complex (spatial + temporal edges), then the encoder (each part on its segment of
        epochs) regressed on the node positions (border points at ``border_fit_weight``), the decoder on its
        frozen output, and, with ``joint_steps``, a joint fine-tune (PPR). The layout and the encoder stage
        are checkpointed (resumable)."""
        E, n = cx.n_epochs, cx.n
        k = self._step_factor(cx)
        if ck.has_npz("state/timevis_layout"):
            T = torch.from_numpy(ck.load_npz("state/timevis_layout")["Y"]).to(dev)
        else:
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
            ck.save_npz("state/timevis_layout", {"Y": T.cpu().numpy()})
            release_memory()
        amp = amp_dtype(dev, self.amp)
        lw = None
        if cx.n_nodes > E * n and self.border_fit_weight != 1.0:
            lw = torch.ones(cx.n_nodes, device=dev)
            lw[E * n:] = self.border_fit_weight
        seg = self._node_segments(model, cx, dev)
        res = self._fit_encoders(model, nodes, T, seg, lw, E * n, pipe, ck, amp, cx)
        release_memory()
        rdec = fit_decoder(model, nodes, steps=scaled_steps(self.decoder_steps, k), batch=self.decoder_batch,
                           lambda_rec=self.lambda_rec, pred_loss=pred_loss, generator=gen, amp=amp, cond=cond,
                           seg=seg, optimizer=self.decoder_optimizer)
        if self.joint_steps > 0:
            fit_joint(model, nodes, T, steps=scaled_steps(self.joint_steps, k), lambda_rec=self.lambda_rec,
                      pred_loss=pred_loss, generator=gen, amp=amp, cond=cond, seg=seg)
        return {"steps": res["steps"] + rdec["steps"], "loss": res["fit"] + self.lambda_rec * rdec["recon"]}

    def _fit_encoders(self, model, nodes, T, seg, lw, n_samples, pipe, ck, amp, cx=None):
        """The encoder regressed on the layout T: the one encoder on all nodes, or each part of a segmented
        encoder on its segment's nodes, with ``encoder_steps`` shared in proportion to their counts (so the
        time is the same). Every part is whitened for the samples of all epochs: whitened for its own segment's,
        the first part (early epochs, whose representations have a few strong directions and much noise) lost
        NN@15 0.03 at epoch 1 of the demo.

        The parts are independent given T, and each draws from its own generator, so with a pipeline
        (``overlap``) they are fitted two at a time: one on the worker thread, one here, each on half the
        threads. A part's small matrix products gain little from a second thread, so two parts on one thread
        each beat two in turn on two (2 AVX2 cores, two demo-sized parts of 600 steps: 6.3-7.2 s against
        8.3-10.1 s). Each part checkpoints its own state every ``checkpoint_every`` steps and when done
        (``state/timevis_part_<k>``); a resumed fit keeps the finished parts and goes on from the others'."""
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
        from the start); returns its fit loss."""
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
        return G.PartnerSampler(h, t, n_rows, gen.device, gen)

    def _after_checkpoint(self, step):  # hook (tests inject interruptions here)
        pass

    def _pred_loss(self, dynamics, eps, model, nodes, node_epoch, dev):
        """λ_pred·KL(p_e(h) ‖ p_e(ĥ)) with each node's own epoch head p_e (None without heads)."""
        if self.lambda_pred <= 0:
            return None
        heads = [dynamics.head(e) for e in eps]
        if any(hd is None for hd in heads):
            return None
        mods = [hd.torch_module(dev) for hd in heads]
        E = len(mods)
        with torch.no_grad():
            tlogp = None
            for i, m in enumerate(mods):  # one epoch's rows at a time (a denormalised copy of all of them was
                sel = torch.nonzero(node_epoch == i).squeeze(1)  # one more copy of every epoch)
                out = torch.log_softmax(m(model.denormalize(nodes[sel])), 1)
                if tlogp is None:
                    tlogp = torch.empty(len(nodes), out.shape[1], device=nodes.device)
                tlogp[sel] = out
        lam = self.lambda_pred
        stacked = _stacked_linear(mods)
        if stacked is not None:  # every head linear: all of them in one product, each row's block gathered
            W, bias = stacked

            def pred_loss_linear(xr, hidx):
                ep = node_epoch[hidx]
                every = torch.addmm(bias.view(-1), model.denormalize(xr).to(W.dtype), W.T).view(len(xr), E, -1)
                return lam * prediction_kl(tlogp[hidx], every[torch.arange(len(xr), device=xr.device), ep])

            return pred_loss_linear

        def pred_loss(xr, hidx):
            ep = node_epoch[hidx]
            order = torch.argsort(ep)  # one contiguous slice per epoch head
            counts = torch.bincount(ep, minlength=E).tolist()
            raw_r = model.denormalize(xr)[order]
            parts, s = [], 0
            for m, c in zip(mods, counts):
                if c:
                    parts.append(m(raw_r[s:s + c]))
                    s += c
            return lam * prediction_kl(tlogp[hidx[order]], torch.cat(parts, 0))

        return pred_loss


def _stacked_linear(mods):
    """(W [E·C, D], b [E, C]) of E heads that are each one Linear layer of the same shape, else None. A step's
    KL then costs one product of all E heads (E·C outputs per row, C per head) instead of E per-epoch calls
    on sorted slices: on 2 cores, 1,024 rows, 10 epochs, 10 classes, 2.5 -> 1.2 ms per decoder step."""
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


def _resume_training(ck, model, opt, gen, seed: int) -> int:
    """Restore model, optimizer and generator from ``state/timevis_train`` if present; the step to resume at."""
    if not ck.has("state/timevis_train"):
        return 0
    st = ck.load_torch("state/timevis_train")
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    restore_generator(gen, st["generator"], seed + int(st["step"]))
    return int(st["step"])
