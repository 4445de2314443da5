"""Each epoch's predicted class and confidence, kept on disk among a recording's computed results.

The widget needs both for every epoch each time it opens a run; at 1M samples computing them (argmax and a
softmax pass over 40 MB of logits, or the classifier head over the representation) costs about as much as
everything else the load does. They are cached in ``output_dir/prediction_summaries/epoch_<e>.npz`` (class as
the smallest unsigned integer type that holds it, confidence float32), keyed like the training-figures cache by
the epoch's files (name, size, modification time: ``TrainingDynamics._figure_key``), so an edited or replaced
epoch is computed again. Only where ``dynamics.persist_summaries`` is set (the widget sets it; plain reads write
nothing). Epochs without such a key (in-memory dynamics) are not cached; a cache that cannot be written is
skipped without a word (it only saves time), one that cannot be read is computed again.
"""
from __future__ import annotations

import numpy as np

from .atomic import ResultWriteError, atomic_write_npz

FOLDER = "prediction_summaries"
VERSION = 1


def get(dynamics, e: int):
    """(class, confidence float32) of epoch ``e``: from the cache, else computed (and cached when asked); None
    without a prediction."""
    got = load(dynamics, e)
    if got is not None:
        return got
    p = dynamics.prediction(e)
    if p is None:
        return None
    cls, conf = compute(np.asarray(p))
    save(dynamics, e, cls, conf)
    return cls, conf


def compute(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax and softmax maximum of ``logits`` [N, C] in one pass."""
    cls = logits.argmax(1)
    z = logits - np.take_along_axis(logits, cls[:, None], 1)  # <= 0, the predicted class's own entry is 0
    np.exp(z, out=z)
    return cls, np.reciprocal(z.sum(1, dtype=np.float32), dtype=np.float32)


def _folder(dynamics):
    try:
        return dynamics.output_dir / FOLDER
    except (RuntimeError, OSError):  # in-memory dynamics; no writable place for results at all
        return None


def _key(dynamics, e: int) -> str | None:
    if not getattr(dynamics, "persist_summaries", False):
        return None
    k = dynamics._figure_key(e)
    return None if k is None else f"v{VERSION}-{k}"


def load(dynamics, e: int):
    """(class, confidence) of epoch ``e`` from the cache, or None (absent, stale, unreadable)."""
    key = _key(dynamics, e)
    folder = None if key is None else _folder(dynamics)
    if folder is None:
        return None
    try:
        with np.load(folder / f"epoch_{e}.npz", allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            cls, conf = z["cls"], z["conf"]
    except (OSError, ValueError, KeyError):
        return None
    n = dynamics.n_samples
    if cls.shape != (n,) or conf.shape != (n,) or conf.dtype != np.float32:
        return None
    return cls, conf


def save(dynamics, e: int, cls: np.ndarray, conf: np.ndarray) -> None:
    key = _key(dynamics, e)
    folder = None if key is None else _folder(dynamics)
    if folder is None:
        return
    top = int(cls.max()) if len(cls) else 0
    small = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32
    try:
        atomic_write_npz(folder / f"epoch_{e}.npz", {"key": np.array(key), "cls": cls.astype(small),
                                                     "conf": np.asarray(conf, np.float32)})
    except ResultWriteError:
        pass
