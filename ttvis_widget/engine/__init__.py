"""Visualization engine: fit 2-D projections of training dynamics (the methods of registry.py: DVI, TimeVis,
UMAP, AlignedUMAP, PCA, ...).

``fit(path_or_dynamics, method="dvi") -> VisRun``; see docs/CONTRACTS.md. Method classes are importable
for scikit-learn-style use: ``DVI(...).fit(dynamics, epochs)``, then ``transform`` / ``inverse_transform``.
"""
from __future__ import annotations

from . import registry
from .api import fit
from .driver import FitStopped
from .run import VisRun

__all__ = ["fit", "VisRun", "FitStopped", "Territory"] + [spec.split(":")[1] for spec in registry.METHODS.values()]


def __getattr__(name):  # lazy: keep torch / umap imports out of `import ttvis_widget.engine`
    if name == "Territory":
        from .territory import Territory

        return Territory
    cls = registry.by_class_name(name)
    if cls is None:
        raise AttributeError(name)
    return cls
