"""Visualization autoencoder: encoder f: R^D -> R^2 and decoder g: R^2 -> R^D (Linear + ReLU MLPs with linear
outputs; docs/methods/building-blocks.md), sized from D and overridable.

Inputs are centred and scaled by one scalar (buffers ``mu`` / ``scale``, saved with the weights) so that the
reconstruction loss has the same scale whatever the magnitude of the representations; ``decode`` undoes it.

The encoder also whitens its input (``WhitenedMLP``: a fixed [D, k] buffer before the first Linear). A CNN's
penultimate features are badly conditioned (a few directions carry most of the variance), which slows the
first layer's steps; whitened, the same regression steps follow the layout much more closely. The whitened
input keeps only the k principal directions that carry variance (``RANK_TOL``), so the first Linear, the
encoder's costliest layer, shrinks with them. ``rewhiten`` swaps the buffer for new data and rewrites the
first layer so that the encoded function is kept (warm starts; exactly where no direction is dropped).
"""
from __future__ import annotations

import math
import re

import torch
from torch import nn


def _pow2(dim: int) -> int:
    return 2 ** math.ceil(math.log2(max(int(dim), 2)))


def default_hidden(dim: int) -> tuple[int, int]:
    """Encoder widths from D: a wide first layer and a narrow second one, 4·pow2(D) clipped to [64, 512] then
    an eighth of it (>= 32); D=128 -> (512, 64).

    The first layer's width decides how finely the encoder can follow a UMAP layout, and the cost grows with
    D·h1 + h1·h2: (512, 64) follows it better than (256, 256) at the same cost (docs/methods/dvi.md)."""
    h1 = int(min(512, max(64, 4 * _pow2(dim))))
    return h1, max(32, h1 // 8)


def default_decoder_hidden(dim: int, per_epoch: bool = False) -> tuple[int, int]:
    """Decoder widths from D: 2·pow2(D) clipped to [64, 256], twice (D=128 -> (256, 256)); the decoder
    reconstructs all D coordinates, so it keeps a wide last hidden layer. ``per_epoch``: for a decoder that
    serves one epoch (DVI), pow2(D) clipped to [64, 256] (D=128 -> (128, 128); D >= 256 as before).

    Why narrower per epoch: with Fourier input features (``Decoder(fourier=...)``) it keeps the round trip as
    well as the wider one, in about half the decoder stage's time. TimeVis' one decoder serves every epoch
    (and is a small part of its fit), so it keeps the wider default."""
    h = int(min(256, max(64, (1 if per_epoch else 2) * _pow2(dim))))
    return h, h


def _mlp(widths) -> nn.Sequential:
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


#: rows per chunk of the whole-matrix passes below (mean, covariance, normalisation): a chunk's temporaries stay
#: small where a full ``X - mean`` copy was one more epoch's worth of memory at the fit's peak.
STAT_ROWS = 8192


#: directions whose variance is below this fraction of the largest are dropped from the whitened input
#: (``whitening``): a CNN's penultimate features have dead units and near-empty directions, which a whitened
#: input would otherwise carry at full width. Dropping those below 1e-4 costs no measurable quality; 1e-3
#: already does (docs/methods/dvi.md).
RANK_TOL = 1e-4


def covariance(X: torch.Tensor, rows=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean [D], covariance [D, D]) of the rows of X (``rows``: their indices, default all), accumulated in
    float64 chunks of ``STAT_ROWS`` rows."""
    n = len(X) if rows is None else len(rows)
    take = (lambda s: X[s:s + STAT_ROWS]) if rows is None else (lambda s: X[rows[s:s + STAT_ROWS]])
    mu = sum(take(s).double().sum(0) for s in range(0, n, STAT_ROWS)) / max(n, 1)
    C = torch.zeros((X.shape[1], X.shape[1]), dtype=torch.float64, device=X.device)
    for s in range(0, n, STAT_ROWS):
        xc = take(s).double() - mu
        C += xc.T @ xc
    return mu, C / max(n - 1, 1)


def whitening_of(C: torch.Tensor, eps: float = 1e-3, rank_tol: float = RANK_TOL) -> torch.Tensor:
    """[D, k] whitening matrix (float64) of the covariance C: the k principal directions whose variance is at
    least ``rank_tol``·max, each scaled to unit variance -- variances below ``eps``·max are scaled as if they
    were ``eps``·max (so near-empty directions are not blown up to noise at full weight)."""
    ev, V = torch.linalg.eigh(C)
    top = float(ev.max())
    keep = ev >= top * rank_tol if rank_tol > 0 else torch.ones_like(ev, dtype=torch.bool)
    keep[-1] = True  # at least one direction (eigh sorts ascending)
    return V[:, keep] / ev[keep].clamp_min(top * eps).clamp_min(1e-30).sqrt()


def whitening(X: torch.Tensor, eps: float = 1e-3, rows=None, rank_tol: float = RANK_TOL) -> torch.Tensor:
    """[D, k] matrix W with cov(X @ W) ≈ I over X's k principal directions of variance >= ``rank_tol``·max
    (``whitening_of``); ``rows``: indices of the rows to use (default all)."""
    return whitening_of(covariance(X, rows)[1], eps, rank_tol).to(X.dtype)


class WhitenedMLP(nn.Sequential):
    """An MLP whose input is first multiplied by the buffer ``white`` [D, k] (identity until ``rewhiten``), so
    its first Linear takes k inputs: the principal directions of the data it was whitened for."""

    def __init__(self, widths):
        super().__init__(*_mlp(widths))
        self.register_buffer("white", torch.eye(int(widths[0])))

    def forward(self, x):
        return self.forward_whitened(self.whiten(x))

    def whiten(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the first Linear sees it; ``forward_whitened(whiten(x)) == forward(x)``. A fit that
        draws many batches from one node matrix whitens it once (the [D, D] product is a visible share of a step)."""
        return x @ self.white

    def forward_whitened(self, xw: torch.Tensor) -> torch.Tensor:
        return super().forward(xw)

    @property
    def input_width(self) -> int:
        """k: the width of the whitened input (the first Linear's inputs)."""
        return int(self.white.shape[1])

    def _set_input_width(self, k: int) -> None:
        """Reshape ``white`` and the first Linear for k whitened inputs. The weight stays the same Parameter
        object (its ``data`` is swapped), so an optimizer built before still updates it."""
        first = self[0]
        if self.input_width == k and first.in_features == k:
            return
        self.white = self.white.new_zeros((self.white.shape[0], k))
        first.weight.data = first.weight.data.new_zeros((first.out_features, k))
        first.in_features = k

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        w = state_dict.get(prefix + "white")
        if w is not None and w.dim() == 2:  # saved with another input width (whitened for other data)
            self._set_input_width(int(w.shape[1]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def rewhiten(self, X: torch.Tensor, max_rows: int = 50000, generator=None, white=None,
                 rank_tol: float = RANK_TOL) -> None:
        """Whiten for the rows of X (at most ``max_rows`` of them, drawn at random; ``whitening_of``), or use
        the given ``white`` [D, k], keeping f(x) on those rows: the first layer x W_old A^T + b becomes x W_new A'^T + b', the least-
        squares fit over the rows (exact when W_new spans what W_old does; else what is lost are the dropped
        directions, of variance < ``RANK_TOL`` of the largest):
        A'^T = (W_new^T C W_new)^+ W_new^T C W_old A^T and b' = b + mu (W_old A^T - W_new A'^T)."""
        rows = torch.randperm(len(X), generator=generator, device=X.device)[:max_rows] if len(X) > max_rows else None
        mu, C = covariance(X.float(), rows)
        new = whitening_of(C, rank_tol=rank_tol) if white is None else white.to(C)
        first = self[0]
        old_map = self.white.double() @ first.weight.double().T  # [D, h]: x -> pre-activation
        A = new.T @ C @ new
        new_map_t = torch.linalg.pinv(A, hermitian=True) @ (new.T @ C @ old_map)  # [k, h]
        bias = first.bias.double() + mu @ old_map - mu @ new @ new_map_t
        self._set_input_width(new.shape[1])
        first.weight.copy_(new_map_t.T.to(first.weight.dtype))
        first.bias.copy_(bias.to(first.bias.dtype))
        self.white = new.to(self.white.dtype)


class SegmentedEncoder(nn.Module):
    """One encoder (``WhitenedMLP``) per contiguous segment of the fitted epochs, all regressed on the one
    shared layout (TimeVis ``encoder_segments``, after DeepDebugger's segment-wise models). Buffer
    ``epoch_segment`` [E]: the segment of each fitted epoch (by its index in the fit), so a saved model
    routes by itself. ``forward(x, seg)``: ``seg`` an int (every row) or a per-row tensor of segment ids."""

    def __init__(self, widths, epoch_segment):
        super().__init__()
        es = torch.as_tensor(epoch_segment, dtype=torch.long)
        self.register_buffer("epoch_segment", es.clone())
        self.parts = nn.ModuleList(WhitenedMLP(widths) for _ in range(int(es.max()) + 1))

    def forward(self, x, seg=None):
        if seg is None:
            raise ValueError("this encoder has one part per segment of epochs: pass the segment (seg=...)")
        if not torch.is_tensor(seg):
            return self.parts[int(seg)](x)
        out = None
        for k, part in enumerate(self.parts):
            rows = torch.nonzero(seg == k).squeeze(1)
            if len(rows):
                y = part(x[rows])
                if out is None:  # the parts' dtype (bfloat16 under autocast)
                    out = torch.empty(len(x), 2, dtype=y.dtype, device=x.device)
                out[rows] = y
        return out if out is not None else x.new_empty(len(x), 2)


class Decoder(nn.Sequential):
    """2-D position -> normalised representation. With ``n_cond`` > 0 the decoder is conditioned: a learnt
    ``cond_dim``-vector per condition (TimeVis: per epoch, ``cond_embed`` [n_cond, cond_dim]) is appended to the
    position at the input and at every hidden layer, so one network decodes each epoch's own representations
    from the coordinate system that all epochs share.

    ``fourier`` > 0: the position enters as Fourier features (Tancik et al. 2020, "Fourier features let networks
    learn high frequency functions in low dimensional domains"): u = (y − centre) / scale, then [u, sin(uB),
    cos(uB)] with B [2, fourier] drawn once from N(0, ``fourier_scale``²) (buffer ``ff_freq``). A plain MLP of a
    2-D input is smooth at the scale of the layout, so nearby points of different classes decode alike; that
    was most of the round trips that lose the head's prediction. Higher scales resolve finer territories but
    speckle them away from the data (docs/methods/dvi.md). The frame (buffer ``ff_frame``: centre x, centre y, scale) is set from
    the first positions the decoder is fitted to (``set_frame``) and kept, so warm starts stay valid; computed
    in float32 whatever the autocast (bfloat16 phases would be off by ~0.1 rad)."""

    def __init__(self, widths, n_cond: int = 0, cond_dim: int = 8, fourier: int = 0, fourier_scale: float = 4.0):
        widths = tuple(int(w) for w in widths)
        self.n_cond = int(n_cond)
        c = int(cond_dim) if self.n_cond > 0 else 0
        ins = list(widths[:-1])
        if fourier:
            ins[0] = widths[0] + 2 * int(fourier)
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(ins[i] + c, widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)
        if self.n_cond > 0:
            self.cond_embed = nn.Parameter(torch.randn(self.n_cond, c) * 0.5)
        else:
            self.register_parameter("cond_embed", None)
        if fourier:
            self.register_buffer("ff_freq", torch.randn(widths[0], int(fourier)) * float(fourier_scale))
            self.register_buffer("ff_frame", torch.zeros(3))  # scale 0: not set yet (identity until set_frame)
        else:
            self.ff_freq = self.ff_frame = None

    @property
    def needs_frame(self) -> bool:
        return self.ff_frame is not None and float(self.ff_frame[2]) == 0.0

    @torch.no_grad()
    def set_frame(self, Y: torch.Tensor) -> None:
        """Centre and scale of the Fourier features from positions Y [n, 2] (their mean, mean std)."""
        Y = Y.float()
        self.ff_frame.copy_(torch.cat([Y.mean(0), Y.std(0).mean().clamp_min(1e-6).reshape(1)]))

    def features(self, y: torch.Tensor) -> torch.Tensor:
        """The first layer's input for positions y [n, 2] (y itself without Fourier features)."""
        if self.ff_freq is None:
            return y
        with torch.autocast(y.device.type, enabled=False):
            f = self.ff_frame
            u = (y.float() - f[:2]) / torch.where(f[2] > 0, f[2], 1.0)
            z = u @ self.ff_freq
            return torch.cat([u, torch.sin(z), torch.cos(z)], 1)

    def forward(self, y, cond=None):
        y = self.features(y)
        if self.cond_embed is None:
            return super().forward(y)
        if cond is None:
            raise ValueError("this decoder is conditioned (one per epoch of the fit): pass cond")
        c = self.cond_embed[cond] if torch.is_tensor(cond) else self.cond_embed[int(cond)].expand(len(y), -1)
        for layer in self:
            if isinstance(layer, nn.Linear):
                y = layer(torch.cat([y, c.to(y.dtype)], 1))
            else:
                y = layer(y)
        return y


def _hidden_widths(state: dict, prefix: str) -> tuple:
    """Output widths of the Linear layers ``<prefix><i>.weight`` of a saved state, in order, but the last."""
    pat = re.compile(re.escape(prefix) + r"(\d+)\.weight$")
    rows = sorted((int(m.group(1)), int(v.shape[0])) for k, v in state.items() if (m := pat.match(k)))
    return tuple(w for _, w in rows[:-1])


class VisModel(nn.Module):
    def __init__(self, dim: int, hidden=None, n_cond: int = 0, cond_dim: int = 8, epoch_segment=None,
                 fourier: int = 0, fourier_scale: float = 4.0, decoder_hidden=None):
        """``hidden``: encoder widths, mirrored for the decoder unless ``decoder_hidden`` (in the same order:
        the decoder's layers are (2, *reversed(decoder_hidden), D)) is given; default: ``default_hidden`` for
        the encoder and ``default_decoder_hidden`` (mirrored) for the decoder. ``n_cond`` > 0: a conditioned decoder
        (``Decoder``), whose ``decode`` then takes the condition. ``epoch_segment`` (segment id per fitted
        epoch, more than one segment): a ``SegmentedEncoder``, whose ``encode`` / ``forward`` take the segment.
        ``fourier`` > 0: the decoder's input as that many Fourier features (``Decoder``)."""
        super().__init__()
        self.dim = int(dim)
        if hidden:
            enc = dec = tuple(int(h) for h in hidden)
        else:
            enc, dec = default_hidden(dim), default_decoder_hidden(dim)
        if decoder_hidden:
            dec = tuple(int(h) for h in decoder_hidden)
        self.hidden = enc
        self.decoder_hidden = dec
        segmented = epoch_segment is not None and int(torch.as_tensor(epoch_segment).max()) > 0
        self.encoder = SegmentedEncoder((self.dim, *enc, 2), epoch_segment) if segmented \
            else WhitenedMLP((self.dim, *enc, 2))
        self.decoder = Decoder((2, *dec[::-1], self.dim), n_cond, cond_dim, fourier, fourier_scale)
        self.register_buffer("mu", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def set_normalization(self, X: torch.Tensor) -> None:
        """Centre on the mean and scale by one scalar so that the mean per-coordinate variance is 1 (in float64
        chunks of ``STAT_ROWS`` rows: no full-size temporary)."""
        n = max(len(X), 1)
        mu = sum(X[s:s + STAT_ROWS].double().sum(0) for s in range(0, len(X), STAT_ROWS)) / n
        ss = sum(float(((X[s:s + STAT_ROWS].double() - mu) ** 2).sum()) for s in range(0, len(X), STAT_ROWS))
        self.mu.copy_(mu.to(self.mu.dtype))
        self.scale.copy_(torch.tensor(math.sqrt(self.dim) / max(math.sqrt(ss / n), 1e-8)))

    def normalize(self, h: torch.Tensor) -> torch.Tensor:
        return (h - self.mu) * self.scale

    def normalize_(self, h: torch.Tensor) -> torch.Tensor:
        """``normalize`` in place (a fit's node matrix: no second copy of it)."""
        return h.sub_(self.mu).mul_(self.scale)

    @property
    def segmented(self) -> bool:
        return isinstance(self.encoder, SegmentedEncoder)

    def encode_normalized(self, x: torch.Tensor, seg=None) -> torch.Tensor:
        return self.encoder(x, seg) if self.segmented else self.encoder(x)

    def forward(self, h: torch.Tensor, seg=None) -> torch.Tensor:
        return self.encode_normalized(self.normalize(h), seg)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.scale + self.mu

    def decode(self, y: torch.Tensor, cond=None) -> torch.Tensor:
        return self.decoder(y, cond) / self.scale + self.mu

    @classmethod
    def from_state_dict(cls, state: dict, dim: int, hidden=None) -> "VisModel":
        """A model shaped like the saved ``state`` (conditioned decoder or not, its layer widths -- a model saved
        with other default widths loads too; ``hidden`` only where the state has none), with its weights."""
        ce = state.get("decoder.cond_embed")
        ff = state.get("decoder.ff_freq")
        seg = state.get("encoder.epoch_segment")
        enc = _hidden_widths(state, "encoder.parts.0." if seg is not None else "encoder.") or hidden
        dec = _hidden_widths(state, "decoder.")[::-1] or None
        m = cls(dim, enc, n_cond=0 if ce is None else ce.shape[0], cond_dim=8 if ce is None else ce.shape[1],
                epoch_segment=seg, fourier=0 if ff is None else ff.shape[1], decoder_hidden=dec)
        m.load_state_dict(state)
        return m


#: floats in one full-data pass's widest activation on the host (32 MB): rows per chunk = this / the widest
#: layer, so a wide input does not raise a fit's peak memory by whole-matrix activations.
CHUNK_FLOATS = 1 << 23


def chunk_rows(model: "VisModel", device="cpu") -> int:
    """Rows per chunk when a whole node matrix goes through ``model`` (encode, decode, round trip): the widest
    layer's activation holds ``CHUNK_FLOATS`` floats on the host, 16x that on a GPU; 1,024-65,536 rows."""
    widths = [int(getattr(model, "dim", 1))]
    if isinstance(model, nn.Module):
        widths += [m.out_features for m in model.modules() if isinstance(m, nn.Linear)]
    budget = CHUNK_FLOATS * (1 if torch.device(device).type == "cpu" else 16)
    return int(min(65536, max(1024, budget // max(widths))))


@torch.no_grad()
def encode_all(model: VisModel, nodes: torch.Tensor, seg=None) -> torch.Tensor:
    """``model.encode_normalized`` of a whole (normalised) node matrix in chunks of ``chunk_rows``: [n, 2]
    without whole-matrix activations. ``seg``: per-row segment ids of a segmented encoder, or None."""
    c = chunk_rows(model, nodes.device)
    return torch.cat([model.encode_normalized(nodes[s:s + c], None if seg is None else seg[s:s + c])
                      for s in range(0, len(nodes), c)], 0)


def encode_numpy(model: VisModel, reps, device="cpu", batch: int | None = None, seg=None):
    """``model(reps)`` in batches (default ``chunk_rows``), as float32 numpy; ``seg``: the segment of a
    segmented encoder (an int)."""
    import numpy as np

    batch = int(batch or chunk_rows(model, device))
    reps = np.asarray(reps, np.float32)
    out = np.empty((len(reps), 2), np.float32)
    with torch.inference_mode():
        for s in range(0, len(reps), batch):
            out[s:s + batch] = model(torch.from_numpy(np.array(reps[s:s + batch])).to(device), seg).cpu().numpy()
    return out


def decode_numpy(model: VisModel, xy, device="cpu", batch: int | None = None, cond=None):
    """``model.decode(xy)`` in batches (default ``chunk_rows``), as float32 numpy [M, D]."""
    import numpy as np

    batch = int(batch or chunk_rows(model, device))
    xy = np.asarray(xy, np.float32)
    out = np.empty((len(xy), model.dim), np.float32)
    with torch.inference_mode():
        for s in range(0, len(xy), batch):
            out[s:s + batch] = model.decode(torch.from_numpy(np.ascontiguousarray(xy[s:s + batch])).to(device), cond).cpu().numpy()
    return out
