"""DVI (DeepVisualInsight): one encoder/decoder per epoch, each epoch started from the previous one's.

At epoch t the objective is L_umap + λ1·L_rec + λ2·ν_t·‖θ − θ_{t−1}‖² (ν_t: the mean high-dimensional
neighbour-preserving rate between epochs t−1 and t), optimised in three stages:

1. the UMAP loss over free 2-D positions of all nodes (layout.umap_layout), started from PCA at the first
   epoch and afterwards from the previous epoch's layout (``layout_init``), so consecutive epochs stay alike;
2. the encoder regressed on those positions (layout.fit_encoder, with the pair term over graph edges), from a
   fresh initialisation mixed with the previous encoder (``encoder_shrink``) and held near it by the drift
   term, applied decoupled from the optimizer (layout.Anchor);
3. the decoder trained as the encoder's inverse on the frozen encoder output (layout.fit_decoder), with
   λ_pred·KL between the recorded head's prediction on a node and on its reconstruction: the round trip keeps
   the subject model's prediction (PPR, territories).

Nodes are the epoch's samples plus its border points (borders.py, ``border_share`` of the sampled edges);
sample-sample edges across predicted classes weigh ``cross_pred_weight`` of their weight. One state_dict per
epoch (``models/epoch_<e>.pt``). On a CPU epoch t's decoder trains on a worker thread beside epoch t+1's
graph and layout (``overlap``, pipeline.py); it draws from its own generator, so the result is the same either
way. Each epoch is previewed twice (``ctx.preview``): its free layout as soon as it is laid out (the encoder is
trained to reproduce it, so the points move little after), then its encoder positions before its decoder
trains; with ``joint_steps=0`` the latter are the epoch's final embedding. Why each stage and default is what
it is, and what differs from the paper: docs/methods/dvi.md.
"""
from __future__ import annotations

import contextlib
import copy
import threading
import time

import numpy as np
import torch

from .base import Projector
from .checkpoints import cpu_state
from .device import amp_dtype
from .driver import Timer
from .graph import PartnerSampler, neighbour_preserving_rate
from .knn import knn, knn_exact
from .layout import Anchor, cross_prediction_weights, fit_decoder, fit_encoder, fit_joint, pca_init, procrustes, umap_layout
from .losses import find_ab_params
from .models import VisModel, chunk_rows, default_decoder_hidden, encode_all, encode_numpy
from .parametric import ParametricMixin, epoch_complex, param_copy
from .params import check_choice, check_range, scaled_steps, step_factor
from .pipeline import STAGE, Pipeline, overlap_on
from .resources import DEFAULT_THREADS, stack_rows, torch_threads
from .rng import generator_state, restore_generator, seeded


class _Fit:
    """What one fit carries from epoch to epoch."""

    def __init__(self, model, gen, dgen, pipe, a, b):
        self.model, self.gen, self.dgen, self.pipe, self.a, self.b = model, gen, dgen, pipe, a, b
        self.have_prev = False  # an epoch before this one finished: warm starts and temporal anchors
        self.dec_ref = self.prev_knn = self.prev_layout = None
        self.gen_after = {}  # epoch -> the layout/encoder generator's state at the end of its fit_epoch


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
        """Graph: ``n_neighbors``, ``prune_epochs`` (umap-learn's pruning), ``exact_knn_max`` (knn.knn),
        ``graph_backend`` ("numpy" or umap-learn's "umap"); border points: ``borders``, ``border_fraction`` (of
        the training samples), ``border_share`` (of the sampled edge weight), ``border_fit_weight`` (their
        weight in the encoder regression), ``border_layout`` ("joint": laid out with the samples; "after":
        placed into the samples' finished layout for ``border_place_steps``). Losses: ``lambda_rec``,
        ``lambda_temporal`` (λ2), ``lambda_pred`` (0: the paper's loss), ``cross_pred_weight``, ``min_dist`` /
        ``spread`` (the low-dimensional similarity), ``negative_sample_rate``.

        Stages (``*_first``: the first epoch, fitted from scratch): ``layout_*`` (``layout_init``: "previous"
        layout, "encoder" output or a fresh "pca" start rotated onto the previous layout); ``encoder_*``
        (``encoder_optimizer`` "muon" or "adam", ``encoder_pair_weight``: the relative term over graph edges,
        ``encoder_shrink`` s in [0, 1]: θ ← s·θ_prev + (1 − s)·θ_fresh, ``whiten``: whitened input);
        ``decoder_*`` (``decoder_fourier`` Fourier features of the position at ``decoder_fourier_scale``; 0:
        the plain MLP); ``joint_*``: an optional joint pass that moves the points whose round trip loses the
        prediction. ``hidden`` / ``decoder_hidden``: widths (default from D, models.py); ``amp``: bfloat16
        forward passes where native.

        ``steps_scale``: multiplier of every step count; "auto" scales them with each epoch's node count
        relative to the demo's (params.step_factor). ``num_threads``: torch CPU threads. ``overlap``: train
        each epoch's decoder on a worker thread beside the next epoch's graph and layout (pipeline.py; "auto":
        on a CPU); needs ``joint_steps=0`` (the joint pass moves the encoder after the decoder)."""
        self._keep(locals())
        self._check_common()
        check_choice("layout_init", layout_init, ("previous", "encoder", "pca"))
        check_range("encoder_shrink", encoder_shrink, 0.0, 1.0)
        check_choice("border_layout", border_layout, ("after", "joint"))
        if overlap is True and joint_steps > 0:
            raise ValueError("overlap=True needs joint_steps=0: the joint pass moves the encoder after the decoder")

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
        return PartnerSampler(h[both], t[both], n_nodes, dev, gen)

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

    # the driver's calls ------------------------------------------------------------------------------
    def epoch_finished(self, store, epoch):
        return store.has_embedding(epoch) and store.has(f"models/epoch_{epoch}")

    @contextlib.contextmanager
    def fitting(self, ctx):
        dev = self.device_
        with torch_threads(self.num_threads, dev), Pipeline(self._overlaps(dev), torch.get_num_threads()) as pipe:
            a, b = find_ab_params(self.spread, self.min_dist)
            gen = torch.Generator(device=dev).manual_seed(self.seed)
            dgen = torch.Generator(device=dev).manual_seed(self.seed + 1)  # the decoder's own: it may run on the worker
            self._fit = _Fit(self._new_model(ctx.dynamics.dim).to(dev), gen, dgen, pipe, a, b)
            try:
                yield
            except BaseException:  # interrupted: an epoch handed to its decoder stage is finished and saved first,
                if pipe.pending:  # so that a resumed fit starts after it
                    self._collect(ctx)
                raise
            self._collect(ctx)

    def restore_epoch(self, ctx, e):
        f, ck = self._fit, ctx.store
        self._collect(ctx)
        f.model.load_state_dict(ck.load_torch(f"models/epoch_{e}"))
        f.have_prev = True
        f.dec_ref = param_copy(f.model, "decoder.")
        f.prev_knn = ck.load_npz(f"state/knn_{e}")["idx"] if ck.has_npz(f"state/knn_{e}") else None
        f.prev_layout = ck.load_npz(f"state/layout_{e}")["Y"] if ck.has_npz(f"state/layout_{e}") else None
        if ck.has(f"state/rng_{e}"):  # both streams where the fit that finished e left them: the same next epoch
            rng = ck.load_torch(f"state/rng_{e}")
            restore_generator(f.gen, rng.get("gen"), self.seed + 104729 * (e + 1))
            restore_generator(f.dgen, rng.get("dgen"), self.seed + 1 + 104729 * (e + 1))
        if f.prev_knn is None and e != ctx.epochs[-1]:
            f.prev_knn = knn(ctx.dynamics.representation(e), self.n_neighbors, exact_max=self.exact_knn_max,
                             device=self.device_)[0]

    def fit_epoch(self, ctx, e):
        f, dev, dynamics = self._fit, self.device_, ctx.dynamics
        model = f.model
        timer = Timer()
        X = dynamics.representation(e)
        with timer("graph_s"):
            idx, B, (h, t, w) = self._graph(X, e, dynamics, dev, timer)
        with timer("train_s"), f.pipe.alongside():  # the previous epoch's decoder trains beside the layout
            nodes = stack_rows([X] if B is None else [X, B], dev)
            model.set_normalization(nodes[:len(X)])
            nodes = model.normalize_(nodes)
            first = not f.have_prev
            k = step_factor(self.steps_scale, len(nodes))
            if self.whiten:
                model.encoder.rewhiten(nodes[:len(X)])  # same function, re-conditioned first layer
            # the anchor refers to the same function, in this epoch's coordinates
            enc_ref = None if first else param_copy(model, "encoder.")
            w = cross_prediction_weights(dynamics, e, h, t, w, len(X), self.cross_pred_weight)
            Y = self._epoch_layout(X, B, h, t, w, nodes, first, k, timer)
        self._collect(ctx)
        if ctx.previewing:  # the layout places every sample: shown now, while the encoder learns it (no RNG drawn)
            ctx.preview(e, Y[:len(X)].detach().cpu().numpy().copy())
        with timer("train_s"):
            res, nu, coef, amp = self._encoder_stage(model, nodes, X, B, Y, h, t, idx, first, k, enc_ref, e, timer)
            head_mod, tlogp = None, None
            hd = dynamics.head(e)
            if hd is not None and self.lambda_pred > 0:
                head_mod = hd.torch_module(dev)
                with torch.no_grad():
                    c = chunk_rows(model, dev)
                    tlogp = torch.cat([torch.log_softmax(head_mod(model.denormalize(nodes[s:s + c])), 1)
                                       for s in range(0, len(nodes), c)])
        if ctx.previewing:  # the epoch's positions are known: shown now, while its decoder still trains (no RNG drawn)
            ctx.preview(e, encode_numpy(model, X, dev))
        f.have_prev = True
        f.prev_knn = idx
        f.prev_layout = Y[:len(X)].cpu().numpy()
        if B is not None:
            ctx.store.save_npz(f"borders/epoch_{e}", {"points": B})
        ctx.store.save_npz(f"state/knn_{e}", {"idx": idx.astype(np.int32)})
        ctx.store.save_npz(f"state/layout_{e}", {"Y": f.prev_layout})
        jit = timer.t.get("jit_s", 0.0)  # pynndescent's compilation (large N only), not the epoch's work
        info = {"epoch": e, "graph_s": timer.t.get("graph_s", 0.0) - jit, "jit_s": jit,
                "train_s": timer.t.get("train_s", 0.0), "knn_s": timer.t.get("knn_s", 0.0),
                "borders_s": timer.t.get("borders_s", 0.0), "steps": res["steps"], "fit_loss": res["fit"],
                "nu": nu, "n_edges": int(len(h)), "n_borders": 0 if B is None else int(len(B)),
                "step_factor": k, **{key: timer.t.get(key, 0.0) for key in ("layout_s", "encoder_s")}}
        if self.joint_steps > 0:
            info["fit_target"] = Y
        # the decoder learns this epoch's encoder as it is now: on a copy when it runs beside the next epoch
        stage_model = copy.deepcopy(model) if f.pipe.enabled else model
        f.gen_after[e] = generator_state(f.gen)  # the next epoch draws on from here (the decoder has its own)
        f.pipe.submit(self._decoder_stage, stage_model, nodes, X, first, k, f.dec_ref, coef, head_mod, tlogp, f.dgen,
                      dev, amp, info)
        if not f.pipe.enabled:  # nothing to run beside it: trained and saved now
            self._collect(ctx)

    # the stages ------------------------------------------------------------------------------------
    def _epoch_layout(self, X, B, h, t, w, nodes, first, k, timer):
        """Stage 1: the epoch's free layout from its start (``layout_init``), rotated onto the previous
        epoch's layout when it starts from PCA."""
        f, dev = self._fit, self.device_
        fresh = first or self.layout_init == "pca"
        ref = None if first or f.prev_layout is None or len(f.prev_layout) != len(X) \
            else torch.from_numpy(f.prev_layout).to(dev)
        with torch.no_grad():
            init = pca_init(nodes, seed=self.seed) if fresh else encode_all(f.model, nodes)
            if fresh and ref is not None:
                R, sh = procrustes(init, ref, len(X))
                init = init @ R + sh
            elif not fresh and self.layout_init == "previous" and ref is not None:
                init[:len(X)] = ref
        with timer("layout_s"):
            Y = self._layout(X, B, h, t, w, init, fresh, f.a, f.b, f.gen, dev, k)
        if fresh and ref is not None:
            R, sh = procrustes(Y, ref, len(X))
            Y = Y @ R + sh
        return Y

    def _encoder_stage(self, model, nodes, X, B, Y, h, t, idx, first, k, enc_ref, e, timer):
        """Stage 2: the encoder regressed on the layout Y, anchored to the previous epoch's encoder.
        Returns (fit result, ν_t, the anchor's coefficient, the autocast dtype)."""
        f, dev = self._fit, self.device_
        if not first and self.encoder_shrink != 1.0:  # after the layout, which starts border points
            self._shrink_perturb(model.encoder, nodes[:len(X)], e, self.dynamics_.dim, dev)  # from the encoder
        nu = None
        coef = 0.0
        enc_anchor = None
        if not first and self.lambda_temporal > 0:
            nu = float(neighbour_preserving_rate(f.prev_knn, idx).mean()) if f.prev_knn is not None else 1.0
            coef = self.lambda_temporal * nu
            enc_anchor = Anchor.for_prefix(model, enc_ref, "encoder.", coef)
        amp = amp_dtype(dev, self.amp)
        lw = None
        if B is not None and self.border_fit_weight != 1.0:
            lw = torch.ones(len(nodes), device=dev)
            lw[len(X):] = self.border_fit_weight
        with timer("encoder_s"):
            res = fit_encoder(model, nodes, Y, steps=scaled_steps(self.encoder_steps_first if first else self.encoder_steps, k),
                              batch=self.encoder_batch, lr=self.encoder_lr if first else self.encoder_lr_warm,
                              anchor=enc_anchor, generator=f.gen, loss_weights=lw, amp=amp,
                              pairs=self._partners(h, t, len(X), len(nodes), f.gen, dev),
                              pair_weight=self.encoder_pair_weight, optimizer=self.encoder_optimizer,
                              muon_lr=self.encoder_muon_lr)
        return res, nu, coef, amp

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

    def _collect(self, ctx):
        """Wait for the handed-over decoder stage and end its epoch: its decoder becomes the fit's (the next
        warm start and temporal anchor), its model is saved, and the driver gets the epoch. The wait -- the
        whole stage when it runs now, what was left of it when it ran beside the next layout -- counts as its
        training."""
        f = self._fit
        t0 = time.perf_counter()
        done = f.pipe.wait()
        if done is None:
            return
        done["info"]["wait_s"] = waited = time.perf_counter() - t0
        done["info"]["train_s"] += waited
        if done["model"] is not f.model:  # ran on a copy: its decoder is the next warm start
            f.model.decoder.load_state_dict(done["model"].decoder.state_dict())
        e, info = done["info"].pop("epoch"), done["info"]
        ctx.store.save_torch(f"models/epoch_{e}", done["state"])
        # where both random streams stand after e (the decoder's has just finished e): a fit resumed after e
        # continues them and repeats the uninterrupted fit draw for draw
        ctx.store.save_torch(f"state/rng_{e}", {"gen": f.gen_after.pop(e), "dgen": generator_state(f.dgen)})
        ctx.epoch_done(e, done["emb"], info)
        f.dec_ref = param_copy(done["model"], "decoder.")
