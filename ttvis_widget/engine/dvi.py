"""DVI (DeepVisualInsight, algorithms.md §3): one encoder/decoder per epoch, each epoch warm-started from the
previous one (its layout, decoder and, through the drift term, its encoder; see 2.).

At epoch t the objective is the original's L_umap + λ1·L_rec + λ2·ν_t·‖θ − θ_{t−1}‖² (ν_t: the mean
high-dimensional neighbour-preserving rate between epochs t−1 and t, exact kNN), optimised in three stages
(layout.py explains why: the direct edge-sampled optimisation of the encoder stalled at NN@15 ≈ 0.16 on the
Fashion-MNIST demo where umap-learn reaches 0.30):
1. L_umap over free 2-D positions of all nodes (uniform negatives), started from PCA at the first epoch and
   afterwards from the previous epoch's layout for the samples (continuity) and the previous encoder's output
   for the new border points. Other choices: ``layout_init="encoder"`` (all from the previous encoder's
   output) and ``"pca"`` (a fresh PCA start each epoch, rotated onto the previous layout before and after the
   optimisation by orthogonal Procrustes). A warm layout is refined at ``layout_lr_warm`` 0.03 for
   ``layout_steps`` 800 (a fresh one: 0.1 for 1,000). Adam moves every free coordinate by about lr per step
   at first, so at 0.1 the warm start was largely shaken apart; on the demo, 10 epochs, mean NN@15 0.277 ->
   0.286 (0.05/1000: 0.286; 0.03/600: 0.283; 0.02/800: 0.283), last-epoch PPR unchanged within its
   run-to-run spread (0.962-0.969 over three runs; those runs also drew from torch's global random stream,
   which fits no longer do: two fits with one seed now give the same model, bit for bit, on the demo on a
   CPU);
2. the encoder (whitened input, see models.py) regressed on those positions, + λ2·ν_t·‖θ_f − θ_f,t−1‖². Its
   start is "shrink and perturb" (Ash & Adams 2020): θ_f ← s·θ_f,t−1 + (1 − s)·θ_init with ``encoder_shrink``
   s, default 0: a fresh initialisation each epoch, held near the previous encoder by the drift term alone.
   This stage is where NN@15 is lost: on the demo (10 epochs) the layouts hold 0.320 on average and the
   encoder follows them to within what its steps allow -- and a warm start is a worse start, not a better
   one. With Adam (the earlier optimizer), mean NN@15 over the 10 epochs / PPR at the last (one run each;
   PPR varies ±0.005 between runs):
     2,000 steps, s = 0.5 (the earlier default)   0.284 / 0.970
     3,500 steps, s = 0.5                         0.297 / 0.966
     3,000 steps, s = 0.25                        0.297 / 0.969
     3,000 steps, s = 0 (+ 500 decoder)           0.301 / 0.972
     4,000 steps, s = 0                           0.305 / 0.975 (+1 to +2.7 s per epoch on 2 cores)
   With the pair term (layout.fit_encoder, ``encoder_pair_weight=1``): each step draws 512 nodes and one
   graph neighbour of each (sample-sample edges), and also fits the neighbours' relative positions:
     1,400 steps (1,024 rows each)                0.298 / 0.972
     1,600 steps                                  0.301 / 0.974
   At the 0.30 bar that is as many rows as the plain 3,000 steps, and no faster: benchmarks/fit_speed.py,
   4 demo epochs, 11.9 s per epoch with pairs (NN@15 0.308, PPR 0.950) against 11.0 s plain (0.305, 0.952).
   Default (``encoder_optimizer="muon"``): Muon (optim.MuonAdam, on the hidden-to-hidden weight), 750 steps
   of 512 nodes + one graph neighbour each (700 when Muon also took the input layer; 10 demo epochs, mean
   NN@15 0.302-0.303 with it, 0.300-0.302 without it at 700 steps and 0.302-0.304 at 750, each step ~30%
   cheaper) -- 2x fewer rows than 3,000 x 512, each row a little dearer (the orthogonalisation).
   10 demo epochs: 0.303 / 0.971 (with the decoder of 3.); Muon on 600 x 1,024 plain rows: 0.293; a Muon
   warm start (s = 1) at 300-450 steps: 0.272-0.290. The plain warm start (s = 1) with Adam was worse
   still (epochs 2-5: 0.26-0.27 against 0.28-0.29 fresh, at 2,000 steps). Continuity between epochs does not suffer: it comes from the warm layout (15 epochs: tlr 0.647
   at s = 0 against 0.650 at s = 0.5). ``encoder_shrink=1`` is the original's warm start;
3. the decoder trained as the encoder's inverse (L_rec, + λ_pred·KL below, + λ2·ν_t·‖θ_g − θ_g,t−1‖²) on the
   frozen encoder output. Default: Fourier input features (``decoder_fourier`` 16 frequencies at scale
   ``decoder_fourier_scale`` 5, models.Decoder), widths (128, 128) at D=128 (``decoder_hidden``;
   models.default_decoder_hidden(per_epoch=True): PPR as with (256, 256) in ~60% of the time) and Muon, 400
   steps at the first epoch and 300 after: the
   plain MLP decoder is smooth at the scale of the layout, so nearby points of different classes decode
   alike, and PPR needed the joint pass below (1.5 s per epoch, NN@15 −0.01). 10 demo epochs, no joint pass,
   PPR at the last: plain decoder (Muon, 250 steps) 0.956; Fourier 64 at scale 4: 0.966, at 6: 0.969,
   + Muon 300 steps: 0.972; Fourier 16 at 5 (default): 0.971. More or higher frequencies raise PPR further
   (64 at 10: 0.978 on one epoch) but speckle the territories away from the data; 16 at 5 keeps them whole.
   A joint pass after the Fourier decoder hurt (100 Adam steps: NN@15 0.273, PPR 0.957), so it is off by
   default (``joint_steps`` 0). With ``joint_steps`` > 0, a short joint pass (encoder and decoder) that moves the points whose round trip
   loses the head's prediction: in it, the layout fit of a node weighs ``joint_fit_weight`` (10) where the
   prediction is kept and ``joint_fit_weight_lost`` (0.1) where it is lost. With one weight of 1 for all (the
   earlier default) the pass moved every point, and cost NN@15 0.02-0.03 for its PPR: on the demo, 15 epochs,
   End NN@15 0.251 -> 0.280, Mid 0.260 -> 0.285, PPR 0.977 -> 0.974, BNN@15 6.39 -> 6.28 with these weights.
Sample-sample edges whose endpoints are predicted differently get ``cross_pred_weight`` × their weight. Edges: the epoch's spatial UMAP complex over
all samples plus the boundary-wise complex of border points (borders.py), whose share of the sampled edges is
``border_share``. One state_dict per epoch (``models/epoch_<e>.pt``); a killed fit resumes after the last
finished epoch.

Addition to the original: with a recorded head, λ_pred·KL(p(h) ‖ p(g(f(h)))) on reconstructed nodes (border
points included) makes the decoder preserve the subject model's prediction (PPR, territories); set
``lambda_pred=0`` for the original loss. The temporal term is applied decoupled from Adam (layout.Anchor:
θ ← θ − lr·2·λ2·ν_t·(θ − θ_{t−1}) after each step): added to the gradient, Adam's per-parameter normalisation
made even λ2 = 1e-4 cost 0.02-0.03 NN@15 in epochs 2-3 of the demo; decoupled, λ2 = 1e-2 (default) costs
nothing measurable there. The original used λ2 = 0.3–1 on a loss whose scale differs from ours.

Training costs (forward passes under bfloat16 autocast where the hardware has it, device.amp_dtype) and the
defaults were measured on the Fashion-MNIST demo (12k × 128) on 2 CPU cores with native bfloat16 (AVX512-BF16);
on 2 AVX2-only cores (float32 throughout) a demo epoch took 9.32 s and 11.10 s against umap-learn's 3.99 s and
4.23 s in two runs (2.34x, 2.63x; see benchmarks/fit_speed.py and README).
Border points cost neighbourhood fidelity (layout NN@15 0.29 vs 0.31 with ``border_share`` 0.15; the encoder
0.28 vs 0.29), so they enter the encoder regression at ``border_fit_weight`` (0.3) of a sample's weight.

On a CPU the stages of consecutive epochs overlap (``overlap``, pipeline.py): epoch t's decoder needs only its
finished encoder, so it trains on a worker thread while the calling thread lays out epoch t+1 -- the layout's
small gather/scatter steps run no faster on 2 threads than on 1 (demo epoch: 2.58 s against 2.35 s) -- each
on half the threads; the kNN graph and the encoder keep all of them. The decoder draws from its own generator,
so the draws are the same either way. 2 AVX2 cores, demo, 4 epochs, 4 interleaved pairs of fits: 9.07 s per
epoch against 9.62 s with ``overlap=False`` (each side is slower beside the other: the layout 1.7 -> 2.4 s, the
decoder 1.6 s on 2 threads -> 2.3 s on 1). A fit stopped mid-way first finishes the decoder it handed over,
so the resumed fit starts after that epoch.

``border_layout="after"`` lays the samples out without the border edges, then places the border points into
that finished layout (``border_place_steps``, samples frozen). The layout keeps the borderless NN@15 (0.33 vs
0.31 on demo epochs 2-5) and needs no joint pass for PPR (the border edges are what interleave classes), but the
samples no longer gather along the boundaries: 15 demo epochs with ``joint_steps=0``, End NN@15 0.283, PPR 0.983,
BNN@15 5.14 on the trained border set (UMAP's: 5.13) and 3.65 on an independent one (default: 6.28 / 5.08). Pick
it when neighbourhoods matter more than boundaries.
"""
from __future__ import annotations

import copy
import threading
import time

import numpy as np
import torch

from . import graph as G
from .base import Projector, Timer
from .checkpoints import Checkpoints, cpu_state
from .device import amp_dtype, resolve_device
from .knn import knn, knn_exact
from .layout import Anchor, cross_prediction_weights, fit_decoder, fit_encoder, fit_joint, pca_init, procrustes, umap_layout
from .losses import find_ab_params
from .models import VisModel, chunk_rows, decode_numpy, default_decoder_hidden, encode_all, encode_numpy
from .optim import OPTIMIZERS
from .params import check_choice, check_steps_scale, scaled_steps, step_factor
from .pipeline import STAGE, Pipeline, check_overlap, overlap_on
from .resources import DEFAULT_THREADS, release_memory, stack_rows, torch_threads
from .rng import seeded


def param_copy(module, prefix: str = "") -> dict:
    """Detached copies of ``module``'s parameters whose names start with ``prefix`` (a temporal anchor's
    reference, layout.Anchor.for_prefix)."""
    return {k: v.detach().clone() for k, v in module.named_parameters() if k.startswith(prefix)}


def edge_set(spatial: "G.sp.spmatrix", n_nodes: int, border=None, border_share: float = 0.2, prune_epochs: int = 200):
    """Concatenate pruned spatial and border edges; border weights rescaled to ``border_share`` of the total."""
    h, t, w = G.prune(spatial, prune_epochs)
    if border is not None and border.nnz and border_share > 0:
        hb, tb, wb = G.prune(border, prune_epochs)
        wb = wb * (border_share / (1 - border_share)) * (w.sum() / max(wb.sum(), 1e-12))
        h, t, w = np.concatenate([h, hb]), np.concatenate([t, tb]), np.concatenate([w, wb])
    return h, t, w


def epoch_complex(X, dynamics, epoch, *, n_neighbors: int, n_borders: int, border_share: float, prune_epochs: int,
                  seed: int, exact_knn_max: int | None, device: str, timer, graph_backend: str = "numpy"):
    """One epoch's UMAP complex over the samples X plus, with ``n_borders`` > 0 and a recorded head, the
    boundary-wise complex of that many border points (seed ``seed + epoch``). Returns (idx, sigma, rho, B or
    None, (heads, tails, weights)); nodes 0..len(X)-1 are the samples, then the border points."""
    from .borders import generate_border_points

    with timer("knn_s"):
        idx, dist = knn(X, n_neighbors, exact_max=exact_knn_max, device=device, seed=seed, timings=timer.t)
    with timer("fuzzy_s"):
        spatial, sig, rho = G.fuzzy_simplicial_set(idx, dist, n_neighbors, backend=graph_backend, seed=seed)
    B = bgraph = None
    if n_borders > 0:
        with timer("borders_s"):
            B = generate_border_points(dynamics, epoch, n=n_borders, seed=seed + int(epoch))
            if B is not None and len(B) >= 2:
                bgraph = G.border_graph(X, B, n_neighbors, device=device)
            else:
                B = None
    n_nodes = len(X) + (0 if B is None else len(B))
    if B is not None:
        spatial = G.sp.csr_matrix((spatial.data, spatial.indices, spatial.indptr), shape=(len(X), len(X)))
        spatial.resize((n_nodes, n_nodes))
    return idx, sig, rho, B, edge_set(spatial, n_nodes, bgraph, border_share, prune_epochs)


class ParametricMixin:
    """transform / inverse_transform via VisModel(s) kept in ``self.models_`` ({epoch: model} or {None: model})."""

    has_inverse = True
    _volatile = Projector._volatile + ("overlap",)  # where a stage trains (pipeline.py), not what it learns

    def _model_key(self, epoch):
        """(key in ``self.models_``, checkpoint name) of the model that projects ``epoch``."""
        raise NotImplementedError

    def _decoder_cond(self, epoch):
        """The condition of a conditioned decoder for ``epoch`` (None: the decoder is not conditioned)."""
        return None

    def _encoder_seg(self, epoch):
        """The segment of a segmented encoder that projects ``epoch`` (None: the encoder is one function)."""
        return None

    def _model_for(self, epoch):
        key, name = self._model_key(epoch)
        if key not in self.models_:
            m = VisModel.from_state_dict(self.ck_.load_torch(name), self.dynamics_.dim, self.hidden)
            self.models_[key] = m.to(self.device_).train(False)
        return self.models_[key]

    def load(self, dynamics, epochs, checkpoints):
        super().load(dynamics, epochs, checkpoints)
        self.ck_ = checkpoints
        self.device_ = resolve_device(self.device)
        self.models_ = {}
        return self

    def transform(self, epoch, reps):
        m = self._model_for(int(epoch))
        return encode_numpy(m, reps, next(m.parameters()).device, seg=self._encoder_seg(int(epoch)))

    def inverse_transform(self, epoch, xy):
        m = self._model_for(int(epoch))
        return decode_numpy(m, xy, next(m.parameters()).device, cond=self._decoder_cond(int(epoch)))


class DVI(ParametricMixin, Projector):
    name = "dvi"

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False, n_neighbors: int = 15,
                 hidden=None, decoder_hidden=None, lambda_rec: float = 1.0, lambda_temporal: float = 1e-2, borders: bool = True,
                 border_share: float = 0.15, border_fraction: float = 0.1, min_dist: float = 0.1,
                 spread: float = 1.0, negative_sample_rate: int = 5, lambda_pred: float = 3.0,
                 cross_pred_weight: float = 0.1, layout_steps_first: int = 1000, layout_steps: int = 800,
                 layout_batch: int = 8192, layout_lr: float = 0.1, layout_lr_warm: float = 0.03,
                 encoder_steps_first: int = 750, encoder_steps: int = 750, encoder_batch: int = 512,
                 encoder_lr: float = 2e-2, encoder_lr_warm: float = 2e-2, encoder_pair_weight: float = 1.0,
                 encoder_optimizer: str = "muon", encoder_muon_lr: float = 0.02, decoder_optimizer: str = "muon",
                 decoder_fourier: int = 16, decoder_fourier_scale: float = 5.0, decoder_steps_first: int = 400,
                 decoder_steps: int = 300,
                 decoder_batch: int = 1024, decoder_lr: float = 1e-2, joint_steps: int = 0,
                 joint_lr: float = 2e-3, joint_fit_weight: float = 10.0,
                 joint_fit_weight_lost: float | None = 0.1, prune_epochs: int = 200, whiten: bool = True,
                 layout_init: str = "previous", encoder_shrink: float = 0.0, border_fit_weight: float = 0.3,
                 border_layout: str = "joint", border_place_steps: int = 200, amp: bool = True,
                 graph_backend: str = "numpy", exact_knn_max: int | None = None, steps_scale=1.0,
                 num_threads: int | None = DEFAULT_THREADS, overlap="auto"):
        """``steps_scale``: multiplier of every step count (layout, encoder, decoder, border placement, joint);
        "auto" scales them with each epoch's node count relative to the demo's (params.step_factor): for data
        much larger than the demo's 12k samples, where the fixed counts leave the fit undertrained.

        ``overlap``: train each epoch's decoder on a worker thread while the next epoch's graph and layout are
        built (pipeline.py); "auto": on a CPU device. Needs ``joint_steps=0`` (the joint pass moves the encoder
        after the decoder)."""
        super().__init__(seed=seed, device=device, progress=progress)
        self.n_neighbors = n_neighbors
        self.hidden = hidden
        self.decoder_hidden = decoder_hidden
        self.lambda_rec = lambda_rec
        self.lambda_temporal = lambda_temporal
        self.borders = borders
        self.border_share = border_share
        self.border_fraction = border_fraction
        self.min_dist = min_dist
        self.spread = spread
        self.negative_sample_rate = negative_sample_rate
        self.lambda_pred = lambda_pred
        self.cross_pred_weight = cross_pred_weight
        self.layout_steps_first = layout_steps_first
        self.layout_steps = layout_steps
        self.layout_batch = layout_batch
        self.layout_lr = layout_lr
        self.layout_lr_warm = layout_lr_warm
        self.encoder_steps_first = encoder_steps_first
        self.encoder_steps = encoder_steps
        self.encoder_batch = encoder_batch
        self.encoder_lr = encoder_lr
        self.encoder_lr_warm = encoder_lr_warm
        self.encoder_pair_weight = encoder_pair_weight
        self.encoder_optimizer = check_choice("encoder_optimizer", encoder_optimizer, OPTIMIZERS)
        self.encoder_muon_lr = encoder_muon_lr
        self.decoder_optimizer = check_choice("decoder_optimizer", decoder_optimizer, OPTIMIZERS)
        self.decoder_fourier = decoder_fourier
        self.decoder_fourier_scale = decoder_fourier_scale
        self.decoder_steps_first = decoder_steps_first
        self.decoder_steps = decoder_steps
        self.decoder_batch = decoder_batch
        self.decoder_lr = decoder_lr
        self.joint_steps = joint_steps
        self.joint_lr = joint_lr
        self.joint_fit_weight = joint_fit_weight
        self.joint_fit_weight_lost = joint_fit_weight_lost
        self.prune_epochs = prune_epochs
        self.whiten = whiten
        if layout_init not in ("previous", "encoder", "pca"):
            raise ValueError(f"layout_init must be 'previous', 'encoder' or 'pca', not {layout_init!r}")
        self.layout_init = layout_init
        if not 0.0 <= encoder_shrink <= 1.0:
            raise ValueError(f"encoder_shrink must be in [0, 1], not {encoder_shrink!r}")
        self.encoder_shrink = encoder_shrink
        self.border_fit_weight = border_fit_weight
        if border_layout not in ("after", "joint"):
            raise ValueError(f"border_layout must be 'after' or 'joint', not {border_layout!r}")
        self.border_layout = border_layout
        self.border_place_steps = border_place_steps
        self.amp = amp
        self.graph_backend = graph_backend
        self.exact_knn_max = exact_knn_max
        self.steps_scale = check_steps_scale(steps_scale)
        self.num_threads = num_threads
        if check_overlap(overlap) is True and joint_steps > 0:
            raise ValueError("overlap=True needs joint_steps=0: the joint pass moves the encoder after the decoder")
        self.overlap = overlap

    # ------------------------------------------------------------------------------------------------
    def _new_model(self, dim):
        with seeded(self.seed):  # initialised on the CPU, then moved
            return VisModel(dim, self.hidden, fourier=self.decoder_fourier, fourier_scale=self.decoder_fourier_scale,
                            decoder_hidden=self._decoder_widths(dim))

    def _decoder_widths(self, dim):
        """``decoder_hidden``; else ``hidden`` mirrored when given; else the per-epoch default (models.py)."""
        if self.decoder_hidden:
            return tuple(self.decoder_hidden)
        return None if self.hidden else default_decoder_hidden(dim, per_epoch=True)

    @torch.no_grad()
    def _shrink_perturb(self, encoder, X, epoch, dim, dev):
        """θ ← s·θ + (1 − s)·θ_init (Ash & Adams 2020, "On warm-starting neural network training"), θ_init a
        fresh initialisation for this epoch, whitened for X like the warm encoder."""
        with seeded(self.seed + 7919 * int(epoch)):
            fresh = VisModel(dim, self.hidden).encoder.to(dev)
        fresh.rewhiten(X, white=encoder.white)  # the warm encoder's input directions, so the two mix
        s = float(self.encoder_shrink)
        for p, q in zip(encoder.parameters(), fresh.parameters()):
            p.mul_(s).add_(q, alpha=1.0 - s)

    def _model_key(self, epoch):
        return epoch, f"models/epoch_{epoch}"

    def _graph(self, X, e, dyn, dev, timer):
        n_b = max(0, int(len(dyn.train_index) * self.border_fraction)) if self.borders else 0
        idx, _, _, B, edges = epoch_complex(X, dyn, e, n_neighbors=self.n_neighbors, n_borders=n_b,
                                            border_share=self.border_share, prune_epochs=self.prune_epochs,
                                            seed=self.seed, exact_knn_max=self.exact_knn_max, device=dev,
                                            timer=timer, graph_backend=self.graph_backend)
        return idx, B, edges

    def _layout(self, X, B, h, t, w, init, fresh, a, b, gen, dev, k: float = 1.0):
        """The epoch's free layout of all nodes. ``border_layout="joint"`` lays samples and border points out
        together; "after" lays out the samples alone, then places the border points into that finished layout
        (samples frozen, border edges only), each started at the mean position of its nearest samples."""
        kw = dict(a=a, b=b, batch=self.layout_batch, negative_sample_rate=self.negative_sample_rate,
                  generator=gen, device=dev)
        steps = scaled_steps(self.layout_steps_first if fresh else self.layout_steps, k)
        lr = self.layout_lr if fresh else self.layout_lr_warm
        if B is None or self.border_layout == "joint":
            return umap_layout(h, t, w, len(init), init, steps=steps, lr=lr, **kw)
        n = len(X)
        samp = (h < n) & (t < n)
        Ys = umap_layout(h[samp], t[samp], w[samp], n, init[:n], steps=steps, lr=lr, **kw)
        near, _ = knn_exact(B, self.n_neighbors, Y=X, device=dev)
        Yb = Ys[torch.from_numpy(near).to(Ys.device)].mean(1)
        return umap_layout(h[~samp], t[~samp], w[~samp], n + len(B), torch.cat([Ys, Yb]),
                           steps=scaled_steps(self.border_place_steps, k), lr=self.layout_lr, n_frozen=n, **kw)

    def _partners(self, h, t, n_samples, n_nodes, gen, dev):
        """The encoder's pair sampler over sample-sample edges (None without the pair term)."""
        if self.encoder_pair_weight <= 0:
            return None
        both = (h < n_samples) & (t < n_samples)
        return G.PartnerSampler(h[both], t[both], n_nodes, dev, gen)

    @torch.no_grad()
    def _joint_weights(self, model, nodes, head, tlogp):
        """Per-node weight of the layout fit in the joint pass: ``joint_fit_weight`` where the round trip keeps
        the head's prediction, ``joint_fit_weight_lost`` where it loses it (those are the points to move)."""
        w = torch.full((len(nodes),), float(self.joint_fit_weight), device=nodes.device)
        if head is None or self.joint_fit_weight_lost is None:
            return w
        lost = torch.zeros(len(nodes), dtype=torch.bool, device=nodes.device)
        c = chunk_rows(model, nodes.device)
        for s in range(0, len(nodes), c):
            xr = model.decode(model.encoder(nodes[s:s + c]))  # decode() undoes the normalisation
            lost[s:s + c] = head(xr).argmax(1) != tlogp[s:s + c].argmax(1)
        w[lost] = float(self.joint_fit_weight_lost)
        return w

    def _overlaps(self, dev) -> bool:
        """Whether the decoder stage runs on a worker thread (pipeline.py): ``overlap`` "auto" on a CPU device."""
        return self.joint_steps == 0 and overlap_on(self.overlap, dev)

    def fit(self, dynamics, epochs=None, checkpoints: Checkpoints | None = None, on_epoch=None):
        dev = resolve_device(self.device)
        with torch_threads(self.num_threads, dev), Pipeline(self._overlaps(dev), torch.get_num_threads()) as pipe:
            try:
                return self._fit(dynamics, epochs, checkpoints, on_epoch, pipe)
            except BaseException:  # interrupted: an epoch handed to its decoder stage is finished and saved first,
                if pipe.pending:  # so that a resumed fit starts after it
                    self._collect(pipe, None, self.ck_, on_epoch)
                raise

    def _decoder_stage(self, model, nodes, X, first, k, dec_ref, coef, head_mod, tlogp, dgen, dev, amp, info):
        """Stage 3 (and the joint pass, if any) of one epoch on ``model``, whose encoder is final; returns what
        the epoch's end needs. Runs on the pipeline's worker, with the model a copy, when stages overlap."""
        t0 = time.perf_counter()
        dec_anchor = None if dec_ref is None else Anchor.for_prefix(model, dec_ref, "decoder.", coef)
        rdec = fit_decoder(model, nodes,
                           steps=scaled_steps(self.decoder_steps_first if first else self.decoder_steps, k),
                           batch=self.decoder_batch, lr=self.decoder_lr, lambda_rec=self.lambda_rec,
                           head=head_mod, lambda_pred=self.lambda_pred, target_logp=tlogp,
                           anchor=dec_anchor, generator=dgen, amp=amp, optimizer=self.decoder_optimizer)
        if self.joint_steps > 0:
            fit_joint(model, nodes, info.pop("fit_target"), steps=scaled_steps(self.joint_steps, k), lr=self.joint_lr,
                      lambda_rec=self.lambda_rec, lambda_fit=1.0,
                      fit_weights=self._joint_weights(model, nodes, head_mod, tlogp), head=head_mod,
                      lambda_pred=self.lambda_pred, target_logp=tlogp, generator=dgen, amp=amp)
        emb = encode_numpy(model, X, dev)
        state = cpu_state(model)
        info.update(steps=info["steps"] + rdec["steps"], recon_loss=rdec["recon"],
                    decoder_s=time.perf_counter() - t0, overlapped=threading.current_thread().name.startswith(STAGE))
        return {"model": model, "emb": emb, "state": state, "info": info}

    def _collect(self, pipe, model, ck, on_epoch):
        """Wait for the handed-over decoder stage and end its epoch (``_end_epoch``); the wait -- the whole stage
        when it runs now, what was left of it when it ran beside the next layout -- counts as its training."""
        t0 = time.perf_counter()
        done = pipe.wait()
        if done is not None:
            done["info"]["wait_s"] = waited = time.perf_counter() - t0
            done["info"]["train_s"] += waited
        return self._end_epoch(done, model, ck, on_epoch)

    def _end_epoch(self, done, model, ck, on_epoch):
        """Save a finished epoch (its model, then its embedding: the mark of a finished epoch) and report it;
        returns its decoder parameters (the next decoder's temporal anchor), None without a finished epoch."""
        if done is None:
            return None
        if model is not None and done["model"] is not model:  # ran on a copy: its decoder is the next warm start
            model.decoder.load_state_dict(done["model"].decoder.state_dict())
        e, info = done["info"].pop("epoch"), done["info"]
        ck.save_torch(f"models/epoch_{e}", done["state"])
        ck.save_embedding(e, done["emb"])
        release_memory()  # the epoch's freed temporaries, or the process grows epoch by epoch
        for key in ("graph_s", "train_s", "jit_s"):
            self.timings_[key] += info[key]
        self.timings_["epochs"][str(e)] = info
        if on_epoch is not None:
            on_epoch(e, done["emb"], info)
        return param_copy(done["model"], "decoder.")

    def _fit(self, dynamics, epochs, checkpoints, on_epoch, pipe):
        ck = checkpoints or Checkpoints(None)
        self.ck_ = ck
        self.dynamics_ = dynamics
        self.epochs_ = list(epochs or dynamics.epochs)
        self.device_ = dev = resolve_device(self.device)
        self.models_ = {}
        a, b = find_ab_params(self.spread, self.min_dist)
        gen = torch.Generator(device=dev).manual_seed(self.seed)
        dgen = torch.Generator(device=dev).manual_seed(self.seed + 1)  # the decoder's own: it may run on the worker
        model = self._new_model(dynamics.dim).to(dev)
        have_prev = False  # an epoch before this one finished: warm starts and temporal anchors
        dec_ref = None
        prev_knn = None
        prev_layout = None
        self.timings_ = {"graph_s": 0.0, "jit_s": 0.0, "train_s": 0.0, "epochs": {}}
        for i, e in enumerate(self.epochs_):
            if ck.has_embedding(e) and ck.has(f"models/epoch_{e}"):  # finished before (resume)
                self._collect(pipe, model, ck, on_epoch)
                model.load_state_dict(ck.load_torch(f"models/epoch_{e}"))
                have_prev = True
                dec_ref = param_copy(model, "decoder.")
                prev_knn = ck.load_npz(f"state/knn_{e}")["idx"] if ck.has_npz(f"state/knn_{e}") else None
                prev_layout = ck.load_npz(f"state/layout_{e}")["Y"] if ck.has_npz(f"state/layout_{e}") else None
                if prev_knn is None and i + 1 < len(self.epochs_):
                    prev_knn = knn(dynamics.representation(e), self.n_neighbors, exact_max=self.exact_knn_max,
                                     device=dev)[0]
                continue
            timer = Timer()
            X = dynamics.representation(e)
            with timer("graph_s"):
                idx, B, (h, t, w) = self._graph(X, e, dynamics, dev, timer)
            with timer("train_s"), pipe.alongside():  # the previous epoch's decoder trains beside the layout
                nodes = stack_rows([X] if B is None else [X, B], dev)
                model.set_normalization(nodes[:len(X)])
                nodes = model.normalize_(nodes)
                first = not have_prev
                k = step_factor(self.steps_scale, len(nodes))
                if self.whiten:
                    model.encoder.rewhiten(nodes[:len(X)])  # same function, re-conditioned first layer
                # the anchor refers to the same function, in this epoch's coordinates
                enc_ref = None if first else param_copy(model, "encoder.")
                w = cross_prediction_weights(dynamics, e, h, t, w, len(X), self.cross_pred_weight)
                fresh = first or self.layout_init == "pca"
                ref = None if first or prev_layout is None or len(prev_layout) != len(X) \
                    else torch.from_numpy(prev_layout).to(dev)
                with torch.no_grad():
                    init = pca_init(nodes, seed=self.seed) if fresh else encode_all(model, nodes)
                    if fresh and ref is not None:
                        R, sh = procrustes(init, ref, len(X))
                        init = init @ R + sh
                    elif not fresh and self.layout_init == "previous" and ref is not None:
                        init[:len(X)] = ref
                with timer("layout_s"):
                    Y = self._layout(X, B, h, t, w, init, fresh, a, b, gen, dev, k)
                if fresh and ref is not None:
                    R, sh = procrustes(Y, ref, len(X))
                    Y = Y @ R + sh
            dec_ref = self._collect(pipe, model, ck, on_epoch) or dec_ref
            with timer("train_s"):
                if not first and self.encoder_shrink != 1.0:  # after the layout, which starts border points
                    self._shrink_perturb(model.encoder, nodes[:len(X)], e, dynamics.dim, dev)  # from the encoder
                nu = None
                coef = 0.0
                enc_anchor = None
                if not first and self.lambda_temporal > 0:
                    nu = float(G.neighbour_preserving_rate(prev_knn, idx).mean()) if prev_knn is not None else 1.0
                    coef = self.lambda_temporal * nu
                    enc_anchor = Anchor.for_prefix(model, enc_ref, "encoder.", coef)
                amp = amp_dtype(dev, self.amp)
                lw = None
                if B is not None and self.border_fit_weight != 1.0:
                    lw = torch.ones(len(nodes), device=dev)
                    lw[len(X):] = self.border_fit_weight
                with timer("encoder_s"):
                    res = fit_encoder(model, nodes, Y,
                                      steps=scaled_steps(self.encoder_steps_first if first else self.encoder_steps, k),
                                      batch=self.encoder_batch, lr=self.encoder_lr if first else self.encoder_lr_warm,
                                      anchor=enc_anchor, generator=gen, loss_weights=lw, amp=amp,
                                      pairs=self._partners(h, t, len(X), len(nodes), gen, dev),
                                      pair_weight=self.encoder_pair_weight, optimizer=self.encoder_optimizer,
                                      muon_lr=self.encoder_muon_lr)
                head_mod, tlogp = None, None
                hd = dynamics.head(e)
                if hd is not None and self.lambda_pred > 0:
                    head_mod = hd.torch_module(dev)
                    with torch.no_grad():
                        c = chunk_rows(model, dev)
                        tlogp = torch.cat([torch.log_softmax(head_mod(model.denormalize(nodes[s:s + c])), 1)
                                           for s in range(0, len(nodes), c)])
            have_prev = True
            prev_knn = idx
            prev_layout = Y[:len(X)].cpu().numpy()
            if B is not None:
                ck.save_npz(f"borders/epoch_{e}", {"points": B})
            ck.save_npz(f"state/knn_{e}", {"idx": idx.astype(np.int32)})
            ck.save_npz(f"state/layout_{e}", {"Y": prev_layout})
            jit = timer.t.get("jit_s", 0.0)  # pynndescent's compilation (large N only), not the epoch's work
            info = {"epoch": e, "graph_s": timer.t.get("graph_s", 0.0) - jit, "jit_s": jit,
                    "train_s": timer.t.get("train_s", 0.0), "knn_s": timer.t.get("knn_s", 0.0),
                    "borders_s": timer.t.get("borders_s", 0.0), "steps": res["steps"], "fit_loss": res["fit"],
                    "nu": nu, "n_edges": int(len(h)), "n_borders": 0 if B is None else int(len(B)),
                    "step_factor": k,
                    **{key: timer.t.get(key, 0.0) for key in ("layout_s", "encoder_s")}}
            if self.joint_steps > 0:
                info["fit_target"] = Y
            # the decoder learns this epoch's encoder as it is now: on a copy when it runs beside the next epoch
            stage_model = copy.deepcopy(model) if pipe.enabled else model
            pipe.submit(self._decoder_stage, stage_model, nodes, X, first, k, dec_ref, coef, head_mod, tlogp, dgen,
                        dev, amp, info)
            if not pipe.enabled:  # nothing to run beside it: trained and saved now
                dec_ref = self._collect(pipe, model, ck, on_epoch)
        self._collect(pipe, model, ck, on_epoch)
        return self
