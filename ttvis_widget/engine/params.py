"""Validation of method parameters, and the scaling of a method's step counts with the size of the data."""
from __future__ import annotations

import numbers
import warnings


def check_choice(name: str, value, choices):
    """``value`` if it is one of ``choices``, else ValueError naming the parameter and the choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


def check_range(name: str, value, lo=None, hi=None):
    """``value`` if it is a number within [lo, hi] (either bound optional), else ValueError naming it."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        ok = False
    if not ok:
        where = f"in [{lo}, {hi}]" if lo is not None and hi is not None else \
            (f">= {lo}" if lo is not None else f"<= {hi}")
        raise ValueError(f"{name} must be a number {where}, not {value!r}")
    return value


#: nodes of one epoch of the Fashion-MNIST demo (12,000 samples + 1,200 border points): the step counts of the
#: parametric methods were tuned there
REFERENCE_NODES = 13_200


def check_steps_scale(scale):
    """``steps_scale`` as given if it is "auto" or a positive number, else ValueError."""
    if scale == "auto" or (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and scale > 0):
        return scale
    raise ValueError(f"steps_scale must be 'auto' or a positive number, not {scale!r}")


def step_factor(scale, n_nodes: int) -> float:
    """Multiplier of a method's step counts: ``scale`` when it is a number; "auto": n_nodes / REFERENCE_NODES,
    at least 1, so that each node gets as many updates as on the demo whatever N (umap-learn's epochs likewise
    sample each edge a fixed number of times). A fixed scale at far more nodes warns: each node then gets far
    fewer updates than the counts were tuned for, and the fit may be undertrained."""
    if scale == "auto":
        return max(1.0, float(n_nodes) / REFERENCE_NODES)
    short = float(n_nodes) / (REFERENCE_NODES * float(scale))
    if short >= 2:  # once per process for one size (the warnings registry)
        warnings.warn(f"{int(n_nodes):,} nodes per epoch get {short:.0f}x fewer updates each than the "
                      f"{REFERENCE_NODES:,} the step counts were tuned on, so the fit may be undertrained; "
                      f"steps_scale='auto' scales the steps with the nodes, at a time that grows with them",
                      UserWarning, stacklevel=2)
    return float(scale)


def scaled_steps(steps: int, factor: float) -> int:
    """``steps`` times ``factor``, rounded (0 stays 0)."""
    return int(round(int(steps) * float(factor)))
