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
    without a prediction. The epoch's files are looked at once, before the logits are read."""
    place = _place(dynamics, e)
    got = None if place is None else _read(*place, dynamics.n_samples)
    if got is not None:
        return got
    p = dynamics.prediction(e)
    if p is None:
        return None
    cls, conf = compute(np.asarray(p))
    if place is not None:
        _write(*place, cls, conf)
    return cls, conf


def compute(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax and softmax maximum of ``logits`` [N, C] in one pass."""
    cls = logits.argmax(1)
    z = logits - np.take_along_axis(logits, cls[:, None], 1)  # <= 0, the predicted class's own entry is 0
    np.exp(z, out=z)
    return cls, np.reciprocal(z.sum(1, dtype=np.float32), dtype=np.float32)


def _place(dynamics, e: int):
    """(cache file, key) of epoch ``e``, or None where nothing is cached."""
    if not getattr(dynamics, "persist_summaries", False):
        return None
    k = dynamics._figure_key(e)
    if k is None:
        return None
    try:
        folder = dynamics.output_dir / FOLDER
    except (RuntimeError, OSError):  # in-memory dynamics; no writable place for results at all
        return None
    return folder / f"epoch_{e}.npz", f"v{VERSION}-{k}"


def _read(file, key: str, n: int):
    """(class, confidence) from ``file`` when it holds ``key`` and N values, else None (absent, stale, unreadable)."""
    try:
        with np.load(file, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            cls, conf = z["cls"], z["conf"]
    except (OSError, ValueError, KeyError):
        return None
    if cls.shape != (n,) or conf.shape != (n,) or conf.dtype != np.float32:
        return None
    return cls, conf


def _write(file, key: str, cls: np.ndarray, conf: np.ndarray) -> None:
    top = int(cls.max()) if len(cls) else 0
    small = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.uint32
    try:
        atomic_write_npz(file, {"key": np.array(key), "cls": cls.astype(small), "conf": np.asarray(conf, np.float32)})
    except ResultWriteError:
        pass
