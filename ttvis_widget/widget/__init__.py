"""The Jupyter widget: :class:`TimeTravelWidget` (front end in ``js/``, built to ``ttvis_widget/static``)."""
from .fields import MessageRefused
from .transport import CHUNK_LIMIT
from .widget import TimeTravelWidget

__all__ = ["TimeTravelWidget", "CHUNK_LIMIT", "MessageRefused"]
