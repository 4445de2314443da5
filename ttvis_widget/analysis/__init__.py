"""Analysis room: debug training from its recorded dynamics. Pure functions over a ``TrainingDynamics`` (and
a ``VisRun`` where 2-D positions matter), usable without a browser; the widget calls them, the browser never
computes them. Imports store and engine only (docs/CONTRACTS.md, "Analysis").

* ``training_events(dynamics, epoch, previous=None, **thresholds) -> Events``
* ``neighbors(dynamics, run, epoch, index, k=15) -> Neighbors``
* ``similar(dynamics, epoch, query, k=10, metric="cosine") -> (indices, scores)``
* ``influence(dynamics, index, k=10, epochs=None) -> Influence``

Per-epoch indices are built on first use and cached within a memory budget (``set_cache_limit``, ``cache_info``,
``clear_cache``).
"""
from __future__ import annotations

from .cache import clear as clear_cache
from .cache import info as cache_info
from .cache import set_limit as set_cache_limit
from .events import KINDS, THRESHOLDS, Events, training_events
from .influence import Influence, influence
from .neighbors import Neighbors, neighbors
from .similar import similar
from .validate import AnalysisError, EpochNotRecordedError

__all__ = ["training_events", "Events", "neighbors", "Neighbors", "similar", "influence", "Influence",
           "KINDS", "THRESHOLDS", "AnalysisError", "EpochNotRecordedError", "clear_cache", "cache_info",
           "set_cache_limit"]
