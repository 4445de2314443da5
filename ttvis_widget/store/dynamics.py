"""``TrainingDynamics``: the one in-memory view of a recorded training run that every later part reads.

Every on-disk layout (ours and the original tool's three) is normalised to this interface:

* ``epochs``           sorted list of recorded epoch numbers (need not start at 1 or be contiguous)
* ``n_samples``        N; every per-epoch array has N rows
* ``classes``          class names or None; ``n_classes``
* ``labels``           int64 [N] or None
* ``split``            uint8 [N]: 0 = train, 1 = test; ``train_index`` / ``test_index``
* ``representation(e)``  float32 [N, D]
* ``prediction(e)``      float32 [N, C] raw logits, or None
* ``head(e)``            a :class:`~ttvis_widget.store.head.Head` (representation -> logits) or None
* ``sample_image(i)``    PNG bytes or None; ``sample_text(i)`` str or None; ``media`` = "image" | "text" | None
* ``output_dir``       our own folder for computed results (runs, caches): inside ``content_path``, or a per-user
                       cache when it cannot be written (store/cache_location.py)
* ``training_metrics()`` train/test accuracy and loss per epoch, recorded or computed (store/training_metrics.py)
* ``skipped``          (path, reason) of each entry of the folder that is not read, also warned about (store/strays.py)

Subclasses implement the ``_load_*`` hooks; this base class validates and caches what they return.
"""
from __future__ import annotations

import hashlib
import io
import threading
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import TrainingDynamicsError
from .cache_location import OUTPUT_DIRNAME  # noqa: F401  (re-exported: callers import it here)

#: epochs whose prediction heads stay loaded. A head of the original tool's layout is the whole subject model
#: (and, once asked for on a GPU, a copy of it there), so a fit over hundreds of epochs must not keep them all.
HEAD_CACHE_EPOCHS = 4
#: epochs whose representations stay in memory when they are not memory maps (the original tool's layout with
#: train and test files, joined per epoch: 123 MB an epoch at 60k x 512)
REP_CACHE_EPOCHS = 4
#: epochs whose predicted class and confidence stay computed (two prefetching threads + the one on screen)
SUMMARY_CACHE_EPOCHS = 4


def _lru(cache: dict, key, load, limit: int, held=lambda value: True):
    """``cache[key]``, loaded with ``load(key)`` when missing; the dict keeps its least recently used entries
    first, and of the entries for which ``held(value)`` only the last ``limit`` stay."""
    if key in cache:
        cache[key] = cache.pop(key)
        return cache[key]
    cache[key] = value = load(key)
    counted = [k for k, v in cache.items() if held(v)]
    for k in counted[:max(0, len(counted) - limit)]:
        del cache[k]
    return value


def check_shape(arr, path, what: str, n_rows: int | None = None, n_cols: int | None = None,
                cols_from: str = "the other epochs") -> None:
    """Dtype and shape checks of a 2-D numeric array (memory-mapped or not: no data is read)."""
    if arr.dtype.kind not in "fiu":
        raise TrainingDynamicsError(path, f"{what} has dtype {arr.dtype}; expected a float array")
    if arr.ndim != 2:
        raise TrainingDynamicsError(path, f"{what} has shape {arr.shape}; expected 2 dimensions [N, D]")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise TrainingDynamicsError(path, f"{what} has {arr.shape[0]} rows; expected {n_rows} (one per sample)")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise TrainingDynamicsError(path, f"{what} has {arr.shape[1]} columns; expected {n_cols} as in {cols_from}")


def check_matrix(arr, path, what: str, n_rows: int | None = None, n_cols: int | None = None,
                 check_finite: bool = True) -> np.ndarray:
    """Validate a 2-D float array read from ``path``; return it as float32 (no copy when already float32)."""
    if not isinstance(arr, np.ndarray):
        raise TrainingDynamicsError(path, f"{what} is not an array (got {type(arr).__name__})")
    check_shape(arr, path, what, n_rows, n_cols)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    if check_finite and not all_finite(arr):
        bad = ~np.isfinite(arr)  # the slow full pass only to say where
        rows = np.unique(np.nonzero(bad)[0])
        raise TrainingDynamicsError(
            path, f"{what} contains {int(bad.sum())} NaN/inf values (rows {rows[:5].tolist()}"
                  f"{'...' if len(rows) > 5 else ''})")
    return arr


#: bytes of the reused bool buffer of ``all_finite`` (a block of rows at a time stays in the CPU's cache)
FINITE_BLOCK_BYTES = 1 << 20


def all_finite(arr: np.ndarray) -> bool:
    """Whether a 2-D array holds no NaN or inf: ``np.isfinite`` over blocks of rows into one reused buffer.

    Same answer as ``np.isfinite(arr).all()``, about 3x faster at 60k x 512 (benchmarks/store_read.py): no
    [N, D] temporaries, and a memory-mapped file is read block by block."""
    n, d = arr.shape
    if n == 0 or d == 0:
        return True
    rows = max(1, FINITE_BLOCK_BYTES // d)
    buf = np.empty((min(rows, n), d), bool)
    for s in range(0, n, rows):
        block = arr[s:s + rows]
        out = buf[:len(block)]
        np.isfinite(block, out=out)
        if not out.all():
            return False
    return True


def check_labels(arr, path, n: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Integer labels [N] >= 0 (and < n_classes when the class names are known), as int64."""
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise TrainingDynamicsError(path, f"labels have shape {arr.shape}; expected [N]")
    if n is not None and len(arr) != n:
        raise TrainingDynamicsError(path, f"{len(arr)} labels; expected {n} (one per sample)")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TrainingDynamicsError(path, "labels must be integers (found non-integer or NaN values)")
    elif not np.issubdtype(arr.dtype, np.integer) and arr.dtype != bool:
        raise TrainingDynamicsError(path, f"labels have dtype {arr.dtype}; expected integers")
    arr = arr.astype(np.int64)
    if len(arr) and arr.min() < 0:
        raise TrainingDynamicsError(path, "labels must be >= 0")
    if n_classes is not None and len(arr) and arr.max() >= n_classes:
        raise TrainingDynamicsError(path, f"label {int(arr.max())} is out of range: only {n_classes} classes are named")
    return arr


def check_epoch_sequence(epochs: Sequence[int], where, allow_gaps: bool) -> list[int]:
    """Sorted epochs; unless ``allow_gaps``, they must be evenly spaced (1,2,3 or 5,10,15...)."""
    eps = sorted(int(e) for e in epochs)
    if not eps:
        raise TrainingDynamicsError(where, "no recorded epochs found")
    if len(set(eps)) != len(eps):
        raise TrainingDynamicsError(where, f"epoch numbers repeat: {eps}")
    if not allow_gaps and len(eps) > 2:
        steps = np.diff(eps)
        step = int(steps.min())
        if np.any(steps != step):
            missing = sorted(set(range(eps[0], eps[-1] + 1, step)) - set(eps))
            raise TrainingDynamicsError(
                where, f"gap in epoch numbering: epochs {eps} are not evenly spaced (step {step}); "
                       f"missing {missing[:10]}{'...' if len(missing) > 10 else ''}. "
                       "Pass allow_gaps=True if the gaps are intended.")
    return eps


def file_signature(paths) -> str:
    """A short hash of the files' names, sizes and modification times (absent files count too): the key of a
    cache of what was computed from them, so that an edited or replaced file is computed again."""
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        try:
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(f"{p.name}:-;".encode())
    return h.hexdigest()[:16]


def png_bytes(img: np.ndarray) -> bytes:
    from PIL import Image

    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


class TrainingDynamics:
    """Base class; see module docstring. Construct subclasses through :func:`ttvis_widget.load`."""

    layout: str = "memory"
    #: keep each epoch's predicted class and confidence in ``output_dir`` (store/summaries.py): the widget turns it
    #: on (it opens a run again and again); plain reads never write
    persist_summaries: bool = False

    def __init__(self, content_path: str | Path | None, name: str | None = None):
        self.content_path = None if content_path is None else Path(content_path)
        self.name = name or (self.content_path.name if self.content_path else "in-memory dynamics")
        self._rep_cache: dict[int, np.ndarray] = {}
        self._pred_cache: dict[int, np.ndarray | None] = {}
        self._head_cache: dict[int, object] = {}
        self._summary_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._summary_lock = threading.Lock()
        self._dim: int | None = None
        self._n_classes: int | None = None
        #: (path, reason) of every entry of the folder that looks like part of the layout but is not read
        self.skipped: list[tuple[Path, str]] = []

    def _skip(self, path, problem: str) -> None:
        self.skipped.append((Path(path), problem))

    def _report_skipped(self) -> None:
        """Warn about what the reader found and does not read (a reader calls this once it has loaded)."""
        from .strays import warn_skipped

        warn_skipped(self.skipped, stacklevel=4)

    # ---- hooks for subclasses ------------------------------------------------------------------
    epochs: list[int]
    n_samples: int

    def _load_representation(self, epoch: int) -> tuple[np.ndarray, object]:
        """Return (array, path it came from)."""
        raise NotImplementedError

    def _load_prediction(self, epoch: int) -> tuple[np.ndarray | None, object]:
        return None, None

    def _load_head(self, epoch: int):
        return None

    def _load_image(self, i: int) -> bytes | None:
        return None

    def _load_text(self, i: int) -> str | None:
        return None

    # ---- public API ----------------------------------------------------------------------------
    classes: list[str] | None = None
    labels: np.ndarray | None = None
    media: str | None = None  # "image" | "text" | None

    @cached_property
    def split(self) -> np.ndarray:
        return np.zeros(self.n_samples, np.uint8)

    @property
    def train_index(self) -> np.ndarray:
        return np.flatnonzero(self.split == 0)

    @property
    def test_index(self) -> np.ndarray:
        return np.flatnonzero(self.split == 1)

    @property
    def n_classes(self) -> int | None:
        if self.classes is not None:
            return len(self.classes)
        if self._n_classes is None:
            p = self.prediction(self.epochs[-1])
            if p is not None:
                self._n_classes = int(p.shape[1])
            elif self.labels is not None and len(self.labels):
                self._n_classes = int(self.labels.max()) + 1
        return self._n_classes

    @property
    def class_names(self) -> list[str] | None:
        if self.classes is not None:
            return list(self.classes)
        n = self.n_classes
        return None if n is None else [str(i) for i in range(n)]

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self.representation(self.epochs[0]).shape[1])
        return self._dim

    def _epoch_check(self, epoch) -> int:
        e = int(epoch)
        if e not in self.epochs:
            raise KeyError(f"epoch {epoch} was not recorded; recorded epochs: {self.epochs}")
        return e

    def representation(self, epoch: int) -> np.ndarray:
        e = self._epoch_check(epoch)
        # memory maps cost nothing to keep; arrays held in memory stay for the last few epochs
        return _lru(self._rep_cache, e, self._checked_representation, REP_CACHE_EPOCHS,
                    held=lambda v: not isinstance(v, np.memmap))

    def _checked_representation(self, e: int) -> np.ndarray:
        arr, path = self._load_representation(e)
        arr = check_matrix(arr, path, f"representation of epoch {e}", n_rows=self.n_samples, n_cols=self._dim)
        if self._dim is None:
            self._dim = int(arr.shape[1])
        return arr

    def prediction(self, epoch: int) -> np.ndarray | None:
        """Raw logits [N, C] (recorded, or computed with the head), or None."""
        e = self._epoch_check(epoch)
        if e not in self._pred_cache:
            self._pred_cache[e] = self._read_prediction(e)
        return self._pred_cache[e]

    def _read_prediction(self, e: int) -> np.ndarray | None:
        """``prediction(e)`` without keeping it (a pass over every epoch holds one at a time)."""
        if e in self._pred_cache:
            return self._pred_cache[e]
        arr, path = self._load_prediction(e)
        if arr is None:
            head = self.head(e)
            if head is not None:
                rep = self._rep_cache[e] if e in self._rep_cache else self._checked_representation(e)
                arr = head(rep)
                path = f"{self.name} (head of epoch {e})"
        if arr is not None:
            arr = check_matrix(arr, path, f"prediction of epoch {e}", n_rows=self.n_samples, n_cols=self._n_classes)
            if self._n_classes is None and self.classes is None:
                self._n_classes = int(arr.shape[1])
            if self.classes is not None and arr.shape[1] != len(self.classes):
                raise TrainingDynamicsError(path, f"prediction has {arr.shape[1]} columns but {len(self.classes)} classes are named")
        return arr

    def training_metrics(self):
        """Per-epoch training figures, one dict per recorded epoch (a list, with ``to_pandas()``): ``epoch``,
        ``train_accuracy``, ``test_accuracy``, ``train_loss``, ``test_loss``, any other recorded figure, and
        ``recorded`` (the names of the row's recorded figures; the others are computed from the epoch's logits
        and labels, or None). See store/training_metrics.py."""
        from .training_metrics import build_table

        return build_table(self)

    # figures recorded in the folder, and what keys the cache of computed ones (subclasses override)
    def _recorded_figures(self) -> dict[int, dict]:
        return {}

    def _stored_computed_figures(self) -> dict[int, dict]:
        return {}

    def _figure_files(self, e: int) -> list | None:
        """The files that determine epoch e's logits; None: not cached."""
        return None

    def _figure_key(self, e: int) -> str | None:
        files = self._figure_files(e)
        trusted = "trusted" if getattr(self, "trust_model_code", False) else "untrusted"  # which head gave logits
        return None if files is None else f"{file_signature(files)}-{trusted}"

    def predicted_class(self, epoch: int) -> np.ndarray | None:
        """Argmax of the prediction, int64 [N] (a new array each call: callers may modify it)."""
        s = self._prediction_summary(epoch)
        return None if s is None else s[0].astype(np.int64)

    def confidence(self, epoch: int) -> np.ndarray | None:
        """Softmax probability of the predicted class, float32 [N]."""
        s = self._prediction_summary(epoch)
        return None if s is None else s[1].copy()

    def _prediction_summary(self, epoch: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(argmax, softmax max) of one epoch's prediction in one pass, for the last few epochs asked: the widget
        asks for both per epoch, and at 1M samples each costs as much as reading the logits."""
        e = self._epoch_check(epoch)
        with self._summary_lock:
            if e in self._summary_cache:
                return _lru(self._summary_cache, e, None, SUMMARY_CACHE_EPOCHS)
        from . import summaries

        got = summaries.get(self, e)
        if got is None:
            return None
        with self._summary_lock:  # two widget threads may read two epochs at once
            return _lru(self._summary_cache, e, lambda _: got, SUMMARY_CACHE_EPOCHS)

    def head(self, epoch: int):
        return _lru(self._head_cache, self._epoch_check(epoch), self._load_head, HEAD_CACHE_EPOCHS)

    @property
    def has_head(self) -> bool:
        return self.head(self.epochs[-1]) is not None

    def sample_image(self, i: int) -> bytes | None:
        i = self._sample_check(i)
        return self._load_image(i) if self.media == "image" else None

    def sample_text(self, i: int) -> str | None:
        i = self._sample_check(i)
        return self._load_text(i) if self.media == "text" else None

    def _sample_check(self, i) -> int:
        i = int(i)
        if not 0 <= i < self.n_samples:
            raise IndexError(f"sample {i} out of range [0, {self.n_samples})")
        return i

    @property
    def output_dir(self) -> Path:
        """Our own folder for computed results, never inside the user's files: ``content_path/ttvis_cache``, or
        the per-user cache when the content folder cannot be written (store/cache_location.py; decided once)."""
        if self.content_path is None:
            raise RuntimeError("in-memory dynamics have no content_path; pass cache_dir explicitly")
        if getattr(self, "_output_dir", None) is None:
            from .cache_location import output_dir_for

            self._output_dir = output_dir_for(self.content_path, self.name)
        return self._output_dir

    def validate(self) -> "TrainingDynamics":
        """Read every epoch once and check shapes and finiteness (load() only checks headers)."""
        for e in self.epochs:
            self.representation(e)
            self.prediction(e)
        return self

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        ncls = self.n_classes
        return (f"<{type(self).__name__} {self.name!r} layout={self.layout} N={self.n_samples} "
                f"epochs={self.epochs[0]}..{self.epochs[-1]} ({len(self.epochs)}) "
                f"classes={ncls} train={int((self.split == 0).sum())} test={int((self.split == 1).sum())}>")


class ArrayDynamics(TrainingDynamics):
    """Training dynamics held in memory: ``ArrayDynamics({epoch: reps}, labels=..., predictions={epoch: logits})``.

    Useful for tests and for users who already have arrays; ``ttvis_widget.fit`` needs ``cache_dir`` for it.
    """

    layout = "memory"

    def __init__(self, representations: dict, predictions: dict | None = None, labels=None, split=None,
                 classes=None, heads: dict | None = None, images: np.ndarray | None = None,
                 texts: Sequence[str] | None = None, name: str = "in-memory dynamics", content_path=None,
                 allow_gaps: bool = True):
        super().__init__(content_path, name)
        self._reps = {int(k): v for k, v in representations.items()}
        self.epochs = check_epoch_sequence(self._reps, name, allow_gaps)
        first = np.asarray(self._reps[self.epochs[0]])
        self.n_samples = int(first.shape[0])
        self._preds = {int(k): v for k, v in (predictions or {}).items()}
        self._heads = {int(k): v for k, v in (heads or {}).items()}
        self.classes = None if classes is None else [str(c) for c in classes]
        self.labels = None if labels is None else check_labels(labels, name, self.n_samples,
                                                               None if classes is None else len(self.classes))
        if split is not None:
            s = np.asarray(split).astype(np.uint8)
            if s.shape != (self.n_samples,) or s.max(initial=0) > 1:
                raise TrainingDynamicsError(name, "split must be [N] with 0 = train, 1 = test")
            self.split = s
        self._images = images
        self._texts = texts
        self.media = "image" if images is not None else ("text" if texts is not None else None)

    def _load_representation(self, epoch):
        return np.asarray(self._reps[epoch]), f"{self.name} epoch {epoch}"

    def _load_prediction(self, epoch):
        p = self._preds.get(epoch)
        return (None if p is None else np.asarray(p)), f"{self.name} epoch {epoch}"

    def _load_head(self, epoch):
        return self._heads.get(epoch)

    def _load_image(self, i):
        return png_bytes(self._images[i])

    def _load_text(self, i):
        return str(self._texts[i])
