"""The Jupyter widget: :class:`TimeTravelWidget` (front end in ``js/``, built to ``ttvis_widget/static``)."""
from .compare import CompareWidget, compare
from .export import ExportJob, NoViewError
from .fields import MessageRefused
from .transport import CHUNK_LIMIT
from .widget import TimeTravelWidget

__all__ = ["TimeTravelWidget", "CompareWidget", "compare", "ExportJob", "NoViewError", "CHUNK_LIMIT",
           "MessageRefused"]
