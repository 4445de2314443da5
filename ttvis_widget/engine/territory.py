"""Decision territories: colour every pixel of the run's global box by the class the subject model predicts
for the decoded representation there.

One batched pass per epoch: grid (cell centres) -> decoder (``run.inverse``) -> the recorded head -> logits.
Orientation: row 0 is the TOP (y = ymax), column 0 is x = xmin. Colours are ``palette.class_colors(C)[class]``
(keyed by class index, the same colours as the points), blended with white by the confidence margin
m = (s1 - s2) / (s1 - s_min) on raw logits; pixels with m < ``BOUNDARY_MARGIN`` are white (boundaries).

Away from the samples the decoder extrapolates (with Fourier input features, models.Decoder, it paints small
islands of many classes far from any sample). The image's alpha channel says where the territory is backed by
samples (``support_alpha``): 1 inside the **support** -- cells whose distance to their k-th nearest sample is
at most the embedding's own scale, a high quantile of the samples' distances to their k-th nearest sample --
fading smoothly to 0 at ``FADE_TO`` times that scale. The view draws the far field absent (extent "support")
or faint (extent "full"); the class of every pixel (``classes``) is kept. docs/methods/building-blocks.md.

Without a head (or without an inverse) the territory falls back to a nearest-neighbour vote of the
recorded predictions around each pixel in the 2-D embedding (pixels far from every sample stay white);
with neither head nor predictions it is ``None`` (with a warning).
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

from ..palette import class_colors

DEFAULT_RESOLUTION = 256
BOUNDARY_MARGIN = 0.15
MIN_STRENGTH, MAX_STRENGTH = 0.25, 0.7  # fraction of the class colour mixed into white
#: support: a cell is inside when its 2-D distance to its SUPPORT_K-th nearest sample is at most the scale, the
#: SUPPORT_QUANTILE of the samples' own distances to their SUPPORT_K-th nearest other sample (k of the kNN graph)
SUPPORT_K, SUPPORT_QUANTILE = 15, 0.99
FADE_TO = 2.0  # alpha falls smoothly from 1 at the scale to 0 at FADE_TO times the scale
#: bumped when the rendering changes: a cached territory of another version is recomputed
RENDER_VERSION = 3


@dataclass
class Territory:
    rgba: np.ndarray      # uint8 [R, R, 4]
    classes: np.ndarray   # int16 [R, R] (-1: unknown)
    margin: np.ndarray    # float32 [R, R] in [0, 1]
    bounds: tuple         # (xmin, ymin, xmax, ymax), same as run.bounds
    source: str = "head"  # "head" | "nn-vote"
    support: np.ndarray | None = None  # float32 [R, R] in [0, 1]: support_alpha, also the image's alpha

    @property
    def resolution(self) -> int:
        return int(self.classes.shape[0])

    def png(self) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.rgba, "RGBA").save(buf, format="PNG")
        return buf.getvalue()

    def save(self, path) -> None:
        from ..store.atomic import atomic_write_npz

        arrays = {"classes": self.classes, "margin": self.margin, "rgba": self.rgba,
                  "bounds": np.asarray(self.bounds, np.float64), "source": np.asarray(self.source),
                  "version": np.asarray(RENDER_VERSION)}
        if self.support is not None:
            arrays["support"] = self.support
        atomic_write_npz(path, arrays)

    @classmethod
    def load(cls, path, bounds=None) -> "Territory":
        with np.load(path, allow_pickle=False) as z:
            b = tuple(float(v) for v in z["bounds"])
            if bounds is not None and not np.allclose(b, bounds):
                raise ValueError("territory cache was made for other bounds")
            if "version" not in z.files or int(z["version"]) != RENDER_VERSION:
                raise ValueError("territory cache was rendered by another version")
            return cls(z["rgba"], z["classes"], z["margin"], b, str(z["source"]),
                       z["support"] if "support" in z.files else None)


def grid_points(bounds, resolution: int) -> np.ndarray:
    """Cell centres [R*R, 2] in row-major order, row 0 at the top (y = ymax)."""
    xmin, ymin, xmax, ymax = bounds
    r = int(resolution)
    xs = xmin + (np.arange(r) + 0.5) / r * (xmax - xmin)
    ys = ymax - (np.arange(r) + 0.5) / r * (ymax - ymin)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def logit_margin(logits: np.ndarray) -> np.ndarray:
    """(s1 - s2) / (s1 - s_min) on raw logits, in [0, 1]."""
    part = np.partition(logits, -2, axis=1) if logits.shape[1] > 1 else np.concatenate([logits, logits], 1)
    s1, s2 = part[:, -1], part[:, -2]
    smin = logits.min(1)
    return ((s1 - s2) / np.maximum(s1 - smin, 1e-8)).astype(np.float32)


def support_reach(emb: np.ndarray, bounds, resolution: int, k: int = SUPPORT_K) -> np.ndarray:
    """float32 [R, R]: each grid cell's 2-D distance to its k-th nearest sample, in units of the embedding's own
    scale (the ``SUPPORT_QUANTILE`` of every sample's distance to its k-th nearest other sample): <= 1 inside
    the support; ``inf`` beyond ``FADE_TO`` scales (not measured further: a bounded search, 2-3x faster). Relative to the embedding's own spacing, so it does not depend on the units of the 2-D
    coordinates or the size of the box; the k-th neighbour (not the first) keeps a lone stray sample from
    claiming support around itself."""
    from scipy.spatial import cKDTree

    r = int(resolution)
    emb = np.asarray(emb, np.float64)
    emb = emb[np.isfinite(emb).all(1)]
    if len(emb) < 2:
        return np.zeros((r, r), np.float32)  # nothing to measure a spacing with: all "inside"
    k = min(int(k), len(emb) - 1)
    tree = cKDTree(emb)
    own = tree.query(emb, k=k + 1)[0][:, k]  # k-th nearest other sample (the sample itself is at 0)
    xmin, ymin, xmax, ymax = bounds
    cell = float(np.hypot(xmax - xmin, ymax - ymin)) / r  # a spacing finer than a grid cell cannot be drawn
    scale = max(float(np.quantile(own, SUPPORT_QUANTILE)), cell, 1e-12)
    d = tree.query(grid_points(bounds, r).astype(np.float64), k=k, distance_upper_bound=FADE_TO * scale * 1.001)[0]
    d = d[:, -1] if d.ndim == 2 else d
    return (d / scale).reshape(r, r).astype(np.float32)


def support_alpha(reach: np.ndarray) -> np.ndarray:
    """float32 in [0, 1]: 1 inside the support (reach <= 1), a smoothstep down to 0 at reach = ``FADE_TO``."""
    t = np.clip((np.asarray(reach, np.float32) - 1.0) / (FADE_TO - 1.0), 0.0, 1.0)
    return (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)


def sample_support(emb: np.ndarray, bounds, resolution: int) -> np.ndarray:
    """float32 [R, R] in [0, 1]: ``support_alpha(support_reach(...))`` of one epoch's 2-D positions."""
    return support_alpha(support_reach(emb, bounds, resolution))


def colorize(classes: np.ndarray, margin: np.ndarray, n_classes: int, support=None) -> np.ndarray:
    """RGBA uint8 image: white + strength * (palette[class] - white); white at boundaries / unknown; alpha
    ``support`` ([R, R] in [0, 1]; None: opaque). The colour is kept where alpha is 0, so a view that draws the
    full box ("full" extent) still has the decoder's class there."""
    pal = class_colors(max(int(n_classes), 1)).astype(np.float32)
    cls = classes.astype(np.int64)
    known = cls >= 0
    col = np.full(cls.shape + (3,), 255.0, np.float32)
    col[known] = pal[cls[known]]
    m = margin.astype(np.float32)
    top = float(m[known].max()) if known.any() else 1.0
    strength = MIN_STRENGTH + (MAX_STRENGTH - MIN_STRENGTH) * np.clip(
        (m - BOUNDARY_MARGIN) / max(top - BOUNDARY_MARGIN, 1e-6), 0, 1)
    strength = np.where(known & (m >= BOUNDARY_MARGIN), strength, 0.0)
    rgb = 255.0 - strength[..., None] * (255.0 - col)
    out = np.empty(cls.shape + (4,), np.uint8)
    out[..., :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = 255 if support is None else np.clip(np.round(255.0 * np.asarray(support, np.float32)), 0, 255)
    return out


def _fast_decode():
    """bfloat16 autocast for the grid's decoder pass on a CPU that has native bf16 matrix products (the
    decoder is the whole cost of a territory; the recorded head still classifies in float32)."""
    import contextlib

    import torch

    from .device import amp_dtype

    dt = amp_dtype("cpu")
    return torch.autocast("cpu", dtype=dt) if dt is not None else contextlib.nullcontext()


def _head_territory(run, epoch, resolution, head) -> Territory:
    pts = grid_points(run.bounds, resolution)
    logits = np.empty((len(pts), head.n_classes), np.float32)
    bs = 131072
    with _fast_decode():
        xr = [run.inverse(epoch, pts[s:s + bs]) for s in range(0, len(pts), bs)]
    for s, x in zip(range(0, len(pts), bs), xr):
        logits[s:s + bs] = head(x)
    r = int(resolution)
    classes = logits.argmax(1).astype(np.int16).reshape(r, r)
    margin = logit_margin(logits).reshape(r, r)
    n_classes = run.dynamics.n_classes or head.n_classes
    support = sample_support(run.embedding(epoch), run.bounds, r)
    return Territory(colorize(classes, margin, n_classes, support), classes, margin, run.bounds, "head", support)


def _vote_territory(run, epoch, resolution, k: int = 7) -> Territory | None:
    import torch

    pred = run.dynamics.predicted_class(epoch)
    if pred is None:
        return None
    emb = torch.from_numpy(run.embedding(epoch))
    pts = grid_points(run.bounds, resolution)
    xmin, ymin, xmax, ymax = run.bounds
    radius = 0.04 * float(np.hypot(xmax - xmin, ymax - ymin))
    n_classes = int(run.dynamics.n_classes or (pred.max() + 1))
    k = min(k, len(pred))
    classes = np.empty(len(pts), np.int16)
    margin = np.empty(len(pts), np.float32)
    predt = torch.from_numpy(pred)
    for s in range(0, len(pts), 8192):
        q = torch.from_numpy(pts[s:s + 8192])
        d, idx = torch.cdist(q, emb).topk(k, largest=False)
        votes = torch.zeros(len(q), n_classes).scatter_add_(1, predt[idx], torch.ones(idx.shape))
        top = votes.topk(min(2, n_classes), 1).values
        c = votes.argmax(1)
        m = (top[:, 0] - (top[:, 1] if n_classes > 1 else 0)) / k
        far = d[:, 0] > radius
        c[far] = -1
        m[far] = 0
        classes[s:s + 8192] = c.numpy()
        margin[s:s + 8192] = m.numpy()
    r = int(resolution)
    classes, margin = classes.reshape(r, r), margin.reshape(r, r)
    support = sample_support(run.embedding(epoch), run.bounds, r)
    return Territory(colorize(classes, margin, n_classes, support), classes, margin, run.bounds, "nn-vote", support)


def compute_territory(run, epoch, resolution: int = DEFAULT_RESOLUTION) -> Territory | None:
    head = run.dynamics.head(epoch)
    if head is not None and run.has_inverse:
        return _head_territory(run, epoch, resolution, head)
    terr = _vote_territory(run, epoch, resolution)
    if terr is None:
        warnings.warn(f"no territory for epoch {epoch}: the dynamics have no classifier head and no recorded "
                      "predictions", stacklevel=3)
    return terr
