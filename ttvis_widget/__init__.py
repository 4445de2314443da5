"""ttvis_widget: time-travelling visualization of deep-learning training, as a Jupyter widget."""
from __future__ import annotations

__version__ = "0.1.0"

from ._threads import prefer_workqueue as _prefer_workqueue

_prefer_workqueue()  # before anything imports numba: see _threads.py

from .errors import TrainingDynamicsError, TrainingDynamicsWarning, UntrustedCodeError
from .palette import class_colors
from .store import ArrayDynamics, SummaryWriter, TrainingDynamics, load
from .store.atomic import ResultWriteError
from .store.cache_location import CacheLocationNotice, NoWritableCacheError

__all__ = ["load", "SummaryWriter", "TrainingDynamics", "ArrayDynamics", "TrainingDynamicsError",
           "TrainingDynamicsWarning", "UntrustedCodeError", "ResultWriteError", "CacheLocationNotice",
           "NoWritableCacheError", "class_colors", "fit", "TimeTravelWidget", "compare",
           "__version__"]


def __getattr__(name):  # lazy: importing the store must not pull in the engine or the widget
    if name in ("fit", "VisRun"):
        from . import engine, metrics  # noqa: F401  metrics registers run.metrics() (the engine never imports it)

        return getattr(engine, name)
    if name in ("TimeTravelWidget", "compare"):
        from . import widget

        return getattr(widget, name)
    if name == "metrics":
        import importlib

        return importlib.import_module(".metrics", __name__)
    raise AttributeError(name)
