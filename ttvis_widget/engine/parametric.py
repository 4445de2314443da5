"""What the parametric methods (DVI, TimeVis, DynaVis) share: projection through fitted visualization models
(``ParametricMixin``), one epoch's UMAP complex with its border points (``epoch_complex``, ``edge_set``) and
the checks of their common parameters."""
from __future__ import annotations

import numpy as np

from . import graph as G
from .base import Projector
from .device import resolve_device
from .knn import knn
from .models import VisModel, decode_numpy, encode_numpy
from .optim import OPTIMIZERS
from .params import check_choice, check_steps_scale


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
    boundary-wise complex of that many border points (seed ``seed + epoch``; docs/methods/building-blocks.md,
    "border points", "boundary complex"). Returns (idx, sigma, rho, B or None, (heads, tails, weights)); nodes
    0..len(X)-1 are the samples, then the border points."""
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


def param_copy(module, prefix: str = "") -> dict:
    """Detached copies of ``module``'s parameters whose names start with ``prefix`` (a temporal anchor's
    reference, layout.Anchor.for_prefix)."""
    return {k: v.detach().clone() for k, v in module.named_parameters() if k.startswith(prefix)}


class ParametricMixin:
    """transform / inverse_transform via VisModel(s) kept in ``self.models_`` ({epoch: model} or {None: model}),
    loaded from the run's store on first use."""

    has_inverse = True
    fast_inverse = True
    fits_a_sample = True
    _volatile = Projector._volatile + ("overlap",)  # where a stage trains (pipeline.py), not what it learns

    def _check_common(self) -> None:
        """Reject unknown values of the parameters the parametric methods share (those it has)."""
        from .pipeline import check_overlap

        for name in ("encoder_optimizer", "decoder_optimizer"):
            if hasattr(self, name):
                check_choice(name, getattr(self, name), OPTIMIZERS)
        if hasattr(self, "graph_backend"):
            check_choice("graph_backend", self.graph_backend, ("numpy", "umap"))
        if hasattr(self, "steps_scale"):
            check_steps_scale(self.steps_scale)
        if hasattr(self, "overlap"):
            check_overlap(self.overlap)

    def _model_key(self, epoch):
        """(key in ``self.models_``, checkpoint name) of the model that projects ``epoch``."""
        raise NotImplementedError

    def _decoder_cond(self, epoch):
        """The condition of a conditioned decoder for ``epoch`` (None: the decoder is not conditioned)."""
        return None

    def _encoder_seg(self, epoch):
        """The segment of a segmented encoder that projects ``epoch`` (None: the encoder is one function)."""
        return None

    def _load_model(self, state):
        """The model saved as ``state`` (a state_dict), on the fit's device."""
        return VisModel.from_state_dict(state, self.dynamics_.dim, self.hidden)

    def _model_for(self, epoch):
        key, name = self._model_key(epoch)
        if key not in self.models_:
            self.models_[key] = self._load_model(self.ck_.load_torch(name)).to(self.device_).train(False)
        return self.models_[key]

    def begin(self, ctx):
        super().begin(ctx)
        self.ck_ = ctx.store
        self.device_ = resolve_device(self.device)
        self.models_ = {}

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
