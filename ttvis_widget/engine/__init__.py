"""Visualization engine: fit 2-D projections of training dynamics (DVI, TimeVis, UMAP, AlignedUMAP, PCA).

``fit(path_or_dynamics, method="dvi") -> VisRun``; see docs/CONTRACTS.md. Method classes are importable
for scikit-learn-style use: ``DVI(...).fit(dynamics, epochs)``, then ``transform`` / ``inverse_transform``.
"""
from __future__ import annotations

from .api import fit
from .driver import FitStopped
from .run import VisRun

__all__ = ["fit", "VisRun", "FitStopped", "DVI", "TimeVis", "UMAPBaseline", "AlignedUMAPBaseline", "PCABaseline", "Territory"]


def __getattr__(name):  # lazy: keep torch / umap imports out of `import ttvis_widget.engine`
    if name == "DVI":
        from .dvi import DVI

        return DVI
    if name == "TimeVis":
        from .timevis import TimeVis

        return TimeVis
    if name in ("UMAPBaseline", "AlignedUMAPBaseline", "PCABaseline"):
        from . import baselines

        return getattr(baselines, name)
    if name == "Territory":
        from .territory import Territory

        return Territory
    raise AttributeError(name)
