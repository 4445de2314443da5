"""Border sets for BNN@k.

``B`` (train) is the run's own border set (``run.border_points(e)``). ``B′`` (test, FSE form) is a second,
independently generated set, also from **training** samples. It comes from the engine's generator
(``ttvis_widget.engine.borders``) when that exists, else from :func:`generate_border_points` here, which works
in representation space with the classifier head: mix pairs of differently-predicted training samples and
bisect the mix weight until the predicted class switches, where the top-2 logits tie.
"""
from __future__ import annotations

import numpy as np


def generate_border_points(reps: np.ndarray, head, n: int, seed: int = 0, iters: int = 20,
                           logits: np.ndarray | None = None) -> np.ndarray:
    """``n`` points on the decision boundary between random pairs of differently-predicted samples.

    Pairs are drawn by first drawing an ordered pair of distinct predicted classes (uniformly), then one
    sample of each; the point is h(λ) = (1 − λ) h_a + λ h_b at the first class switch found by bisection
    (``iters`` halvings, so λ is within 2^-iters of the switch). Returns float32 [n, D].
    """
    reps = np.asarray(reps, np.float32)
    z = np.asarray(head(reps) if logits is None else logits)
    pred = z.argmax(1)
    classes = np.unique(pred)
    if len(classes) < 2 or n <= 0:
        return np.zeros((0, reps.shape[1]), np.float32)
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(pred == c) for c in classes}
    ca = rng.integers(0, len(classes), n)
    cb = (ca + rng.integers(1, len(classes), n)) % len(classes)
    ia = np.array([rng.choice(by_class[classes[c]]) for c in ca])
    ib = np.array([rng.choice(by_class[classes[c]]) for c in cb])
    ha, hb = reps[ia], reps[ib]
    start = pred[ia]
    lo = np.zeros(n, np.float32)
    hi = np.ones(n, np.float32)
    for _ in range(iters):
        mid = (lo + hi) / 2
        still = np.asarray(head(ha + mid[:, None] * (hb - ha))).argmax(1) == start
        lo = np.where(still, mid, lo)
        hi = np.where(still, hi, mid)
    lam = (lo + hi) / 2
    return (ha + lam[:, None] * (hb - ha)).astype(np.float32)


def engine_generator():
    """The engine's ``border_points_from(X, logits, head, n, seed)`` if available, else None."""
    try:
        from ..engine.borders import border_points_from  # lazy: keep the metrics usable without the engine
    except ImportError:
        return None
    return border_points_from


def independent_border_set(reps_train: np.ndarray, head, n: int, seed: int, logits=None) -> tuple[np.ndarray, str]:
    """B′ for the test BNN, from training representations: (points float32 [<= n, D], source description)."""
    if logits is None:
        logits = head(reps_train)
    fn = engine_generator()
    if fn is not None:
        try:
            pts = fn(reps_train, logits, head, n=n, seed=seed)
            return np.asarray(pts, np.float32), f"ttvis_widget.engine.borders.border_points_from(seed={seed})"
        except TypeError:  # a changed signature: fall back to our own generator
            pass
    return generate_border_points(reps_train, head, n, seed=seed, logits=logits), \
        f"ttvis_widget.metrics.borders.generate_border_points(seed={seed}) (representation-space mix + bisection)"
