"""Border sets for BNN@k.

``B`` (train) is the run's own border set (``run.border_points(e)``). ``B′`` (test, the FSE paper's form) is a
second, independently generated set, also from **training** samples, made by the engine's generator
(``ttvis_widget.engine.borders``: pairs of representations mixed until the head's top-2 logits nearly tie)
with another seed.
"""
from __future__ import annotations

import numpy as np

from ..engine.borders import border_points_from


def independent_border_set(reps_train: np.ndarray, head, n: int, seed: int, logits=None) -> tuple[np.ndarray, str]:
    """B′ for the test BNN, from training representations: (points float32 [<= n, D], source description)."""
    if logits is None:
        logits = head(reps_train)
    pts = border_points_from(reps_train, logits, head, n=n, seed=seed)
    return np.asarray(pts, np.float32), f"ttvis_widget.engine.borders.border_points_from(seed={seed})"
