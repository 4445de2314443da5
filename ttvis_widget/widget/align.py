"""Alignment of a second run's 2-D positions to a reference run, for side-by-side comparison (``compare``).

Two projections of the same samples (two methods on one dynamics, or two trainings of one dataset matched by
sample index) live in unrelated 2-D frames: one may be the other rotated, mirrored, shifted and scaled. Per
epoch we fit the similarity transform ``x -> s * (x - mu_b) @ R + mu_a`` (R orthogonal: a rotation or a
reflection; orthogonal Procrustes with centring and one uniform scale) over the shared samples, so that "the
same place" means the same thing in both views. Distances and neighbourhoods inside the second view are
unchanged (the transform is a similarity), so nothing the view shows about its own method is altered.

``AlignedRun`` wraps the second run and holds the aligned positions *instead of* the raw ones: each epoch is
read once, transformed when first asked for, and the wrapped run's own cached copy of that epoch is dropped, so
the comparison costs what two widgets cost, not more. The transform is fitted on at most ``FIT_SAMPLES`` shared
samples (an even stride: exact for a rigid copy, and a 2x2 problem whatever N), and the global box the widget
needs before its first frame is the union of each epoch's raw box mapped through its transform (a box that
holds every aligned point, at most a little larger), so the first frame does not wait for every epoch to be
aligned.
"""
from __future__ import annotations

import threading

import numpy as np

FIT_SAMPLES = 5000

__all__ = ["procrustes", "apply_transform", "AlignedRun", "FIT_SAMPLES"]


def procrustes(source: np.ndarray, target: np.ndarray, scale: bool = True):
    """The similarity transform that best maps ``source`` [M, 2] onto ``target`` [M, 2] (least squares).

    Returns ``(R [2, 2] orthogonal, s, mu_source [2], mu_target [2])`` with
    ``target ~= s * (source - mu_source) @ R + mu_target``; ``det(R)`` is -1 for a reflection. Degenerate input
    (fewer than 2 points, or all source points equal) gives the pure translation.
    """
    a = np.asarray(source, np.float64)
    b = np.asarray(target, np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 2:
        raise ValueError(f"procrustes needs two [M, 2] arrays of the same shape, got {a.shape} and {b.shape}")
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    a, b = a[ok], b[ok]
    mu_a = a.mean(0) if len(a) else np.zeros(2)
    mu_b = b.mean(0) if len(b) else np.zeros(2)
    a0, b0 = a - mu_a, b - mu_b
    norm_a = float((a0 ** 2).sum())
    if len(a) < 2 or norm_a <= 0.0:
        return np.eye(2), 1.0, mu_a, mu_b
    u, sig, vt = np.linalg.svd(a0.T @ b0)  # 2x2: argmax tr(R^T A^T B) over orthogonal R is U V^T
    r = u @ vt
    s = float(sig.sum() / norm_a) if scale else 1.0
    return r, s, mu_a, mu_b


def apply_transform(xy: np.ndarray, transform) -> np.ndarray:
    """``s * (xy - mu_source) @ R + mu_target`` as float32 [N, 2]."""
    r, s, mu_a, mu_b = transform
    return ((np.asarray(xy, np.float64) - mu_a) @ (s * r) + mu_b).astype(np.float32)


class AlignedRun:
    """``base`` (a VisRun or look-alike) with every epoch's positions aligned to ``reference``'s by Procrustes
    over the shared samples (``shared``: int indices present in both, matched by index; None = all).

    Quacks like a VisRun for the widget: ``epochs``, ``embedding(e)``, ``embeddings()``, ``bounds``,
    ``dynamics``, ``method``; territories, inverse and metrics are not offered (they live in the base run's
    own frame). Epoch ``e`` of ``base`` is aligned to the reference's epoch ``e``, or to the reference epoch
    nearest to it when the reference did not record ``e``. ``transforms[e]`` is the fitted transform.
    """

    has_inverse = False

    def __init__(self, base, reference, shared: np.ndarray | None = None, scale: bool = True):
        self.base = base
        self.reference = reference
        self.dynamics = base.dynamics
        self.method = str(getattr(base, "method", "?"))
        self.params = dict(getattr(base, "params", {}) or {})
        self.path = getattr(base, "path", None)
        self.epochs = [int(e) for e in base.epochs]
        self.shared = None if shared is None else np.asarray(shared, np.int64)
        self.scale = scale
        self.transforms: dict[int, tuple] = {}
        self._aligned: dict[int, np.ndarray] = {}
        self._bounds = None
        self._lock = threading.Lock()
        self._ref_epochs = [int(e) for e in reference.epochs]

    def reference_epoch(self, epoch: int) -> int:
        """The reference epoch that ``epoch`` is aligned to (the same number, else the nearest)."""
        e = int(epoch)
        if e in self._ref_epochs:
            return e
        return min(self._ref_epochs, key=lambda r: (abs(r - e), r))

    def _fit(self, e: int, raw: np.ndarray):
        """The transform of epoch ``e`` (fitted on at most FIT_SAMPLES shared samples), cached."""
        tf = self.transforms.get(e)
        if tf is None:
            ref = np.asarray(self.reference.embedding(self.reference_epoch(e)))
            idx = np.arange(len(raw)) if self.shared is None else self.shared
            if len(idx) > FIT_SAMPLES:
                idx = idx[:: -(-len(idx) // FIT_SAMPLES)]
            tf = procrustes(raw[idx], ref[idx], scale=self.scale)
            self.transforms[e] = tf
        return tf

    def embedding(self, epoch) -> np.ndarray:
        e = int(epoch)
        if e not in self.epochs:
            raise KeyError(f"epoch {epoch} is not part of this run; its epochs: {self.epochs}")
        with self._lock:
            got = self._aligned.get(e)
            if got is None:
                raw = np.asarray(self.base.embedding(e), np.float32)
                got = apply_transform(raw, self._fit(e, raw))
                got.setflags(write=False)
                self._aligned[e] = got
                cache = getattr(self.base, "_emb", None)  # a VisRun keeps what it loaded: ours replaces it
                if isinstance(cache, dict):
                    cache.pop(e, None)
            return got

    def embeddings(self) -> np.ndarray:
        return np.stack([self.embedding(e) for e in self.epochs], 0)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """One box over every aligned epoch (padded as VisRun's): each epoch's raw box, mapped through that
        epoch's transform, so it holds every aligned point; computed once, without aligning every epoch."""
        if self._bounds is None:
            from ..engine.run import global_bounds

            with self._lock:
                boxes = []
                for e in self.epochs:
                    raw = np.asarray(self.base.embedding(e), np.float32)
                    lo, hi = np.nanmin(raw, 0), np.nanmax(raw, 0)
                    corners = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], lo[1]], [hi[0], hi[1]]])
                    boxes.append(apply_transform(corners, self._fit(e, raw)))
                    cache = getattr(self.base, "_emb", None)
                    if isinstance(cache, dict) and e not in self._aligned:
                        cache.pop(e, None)
            self._bounds = global_bounds(boxes)
        return self._bounds

    def note(self) -> str:
        n = "all" if self.shared is None else f"{len(self.shared):,}"
        return (f"{self.method} aligned to the other view by orthogonal Procrustes (rotation/reflection, shift and "
                f"one scale) over {n} shared samples, per epoch")

    def __repr__(self) -> str:
        return f"<AlignedRun {self.method} -> {getattr(self.reference, 'method', '?')} epochs={len(self.epochs)}>"
