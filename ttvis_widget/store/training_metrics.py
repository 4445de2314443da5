"""Per-epoch training figures: ``dynamics.training_metrics()``, one row per recorded epoch.

Columns: ``epoch``, ``train_accuracy``, ``test_accuracy``, ``train_loss``, ``test_loss`` (mean cross-entropy of
the softmax of the logits, natural log), then any other figure recorded in the folder (``SummaryWriter``'s
``metrics=`` / ``add_scalar``, the original tool's ``subject_model_eval.json``), and ``recorded``: the names of
the row's figures that were recorded; every other figure was computed from the epoch's logits (recorded, or the
classifier head applied to the representation) and the labels, or is None where those are missing. A recorded
figure wins over a computed one.

Computing reads one epoch's logits at a time, in blocks of rows (a 60k x 10 x 200-epoch training never holds
more than one epoch), and the computed figures are cached in ``output_dir/training_metrics.json``, keyed by
the labels and split and by each epoch's files (name, size, modification time), so only new or changed epochs
are computed again. Nothing is written into the user's files.
"""
from __future__ import annotations

import hashlib
import json
import math
import warnings
from numbers import Real

import numpy as np

from ..errors import TrainingDynamicsError

#: the four figures every table has, in column order
STANDARD = ("train_accuracy", "test_accuracy", "train_loss", "test_loss")
#: column names that are not figures
RESERVED = frozenset({"epoch", "recorded"})
CACHE_FILE = "training_metrics.json"
#: bump when the definition of a computed figure changes: cached figures of another version are recomputed
CACHE_VERSION = 1
_BLOCK_ROWS = 1 << 16


class TrainingMetrics(list):
    """The table: a list of one dict per epoch (the same shape as ``VisRun.metrics()``), with ``columns``,
    ``column(name)`` and ``to_pandas()`` (pandas is optional)."""

    @property
    def columns(self) -> list[str]:
        return list(self[0]) if self else ["epoch", *STANDARD, "recorded"]

    def column(self, name: str) -> list:
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {self.columns}")
        return [row[name] for row in self]

    def to_pandas(self):
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("to_pandas() needs pandas (pip install pandas); the table itself is a list of "
                              "dicts, one per epoch") from e
        return pd.DataFrame(list(self), columns=self.columns)


def check_figures(figures, where, error=ValueError, allow_none: bool = False, field: str = "") -> dict:
    """User figures as {name: float}: names are non-empty strings other than 'epoch'/'recorded', values finite
    real numbers (a Python or NumPy scalar, a 0-d array or tensor; None too with ``allow_none``). Anything else
    raises a TrainingDynamicsError naming the file ``where`` (``error=TrainingDynamicsError``) or a ValueError
    naming ``where``; ``field`` prefixes the problem (e.g. the manifest field)."""
    def fail(problem):
        problem = f"{field}{': ' if field else ''}{problem}"
        raise error(where, problem) if error is TrainingDynamicsError else ValueError(f"{where}: {problem}")

    if not isinstance(figures, dict):
        fail(f"training figures must be a dict of name -> number, got {type(figures).__name__}")
    out = {}
    for name, value in figures.items():
        if not isinstance(name, str) or not name or name in RESERVED:
            fail(f"figure name {name!r} is not allowed (a non-empty string other than 'epoch' and 'recorded')")
        if value is None and allow_none:
            out[name] = None
            continue
        number = value
        if not isinstance(value, Real) and hasattr(value, "shape"):  # a NumPy or torch scalar, a 0-d array
            a = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
            number = a.reshape(()).item() if a.size == 1 and a.dtype.kind in "fiu" else None
        if isinstance(number, (bool, np.bool_)) or not isinstance(number, Real) or not math.isfinite(float(number)):
            fail(f"figure {name!r} must be a finite number, got {value!r}")
        out[name] = float(number)
    return out


def figures_from_logits(logits, labels, split, where=None) -> dict[str, float | None]:
    """Accuracy (argmax == label) and mean cross-entropy over the train (split 0) and test (split 1) samples,
    over blocks of rows; a split without samples gives None. The log-sum-exp runs in float32 after subtracting
    each row's maximum (relative error ~1e-7 per sample), the sums in float64."""
    n, c = logits.shape
    if len(labels) and int(labels.max()) >= c:
        raise TrainingDynamicsError(where, f"label {int(labels.max())} has no logit column (the logits have {c})")
    sums = np.zeros((3, 2))  # samples, correct, summed loss; per split
    for s in range(0, n, _BLOCK_ROWS):
        z = np.asarray(logits[s:s + _BLOCK_ROWS], np.float32)
        y, part = labels[s:s + _BLOCK_ROWS], np.asarray(split[s:s + _BLOCK_ROWS], np.intp)
        zt = np.ascontiguousarray(z.T)  # [C, rows]: reductions over a few classes run 3-10x faster this way round
        top = zt.max(0)
        zt -= top
        np.exp(zt, out=zt)
        loss = np.log(zt.sum(0, dtype=np.float64)) + top - z[np.arange(len(z)), y]
        correct = z.argmax(1) == y  # as predicted_class(): the first of tied classes
        sums[0] += np.bincount(part, minlength=2)[:2]
        sums[1] += np.bincount(part, weights=correct, minlength=2)[:2]
        sums[2] += np.bincount(part, weights=loss, minlength=2)[:2]
    out = {}
    for p, name in ((0, "train"), (1, "test")):
        count, correct, loss = sums[:, p]
        out[f"{name}_accuracy"] = float(correct / count) if count else None
        out[f"{name}_loss"] = float(loss / count) if count else None
    return out


def _samples_key(dyn) -> str:
    h = hashlib.sha256(np.ascontiguousarray(dyn.labels, np.int64).tobytes())
    h.update(np.ascontiguousarray(dyn.split, np.uint8).tobytes())
    return h.hexdigest()[:16]


def _read_cache(path, samples: str) -> dict:
    """The cached figures per epoch (``{"<e>": {"key", "figures"}}``) when the file is ours, of this version and
    for these labels; {} otherwise (it is our own cache, recomputed and rewritten)."""
    try:
        c = json.loads(path.read_text())
        if c.get("format") == "ttvis-training-metrics" and c.get("version") == CACHE_VERSION \
                and c.get("samples") == samples and isinstance(c.get("epochs"), dict):
            return c["epochs"]
    except (OSError, ValueError, AttributeError):
        pass
    return {}


def _write_cache(path, samples: str, epochs: dict) -> None:
    from .atomic import atomic_write_json

    try:
        atomic_write_json(path, {"format": "ttvis-training-metrics", "version": CACHE_VERSION, "samples": samples,
                                 "epochs": epochs})
    except OSError as e:
        warnings.warn(f"{path}: could not cache the computed training figures ({e.strerror or e}); they are "
                      "computed again next time", RuntimeWarning, stacklevel=4)


def computed_figures(dyn, epochs) -> dict[int, dict]:
    """Figures computed from logits and labels for ``epochs`` (cached in ``output_dir``); {} without labels."""
    if dyn.labels is None or not epochs:
        return {}
    labels, split = np.asarray(dyn.labels), np.asarray(dyn.split)
    path = None if dyn.content_path is None else dyn.output_dir / CACHE_FILE
    samples = _samples_key(dyn)
    cache = {} if path is None else _read_cache(path, samples)
    out, changed = {}, False
    for e in epochs:
        key = dyn._figure_key(e)
        hit = cache.get(str(e))
        if key is not None and isinstance(hit, dict) and hit.get("key") == key and isinstance(hit.get("figures"), dict):
            out[e] = hit["figures"]
            continue
        logits = dyn._read_prediction(e)  # not kept: one epoch at a time
        out[e] = {} if logits is None else figures_from_logits(logits, labels, split, dyn.name)
        del logits
        if key is not None:
            cache[str(e)] = {"key": key, "figures": out[e]}
            changed = True
    if changed and path is not None:
        _write_cache(path, samples, cache)
    return out


def build_table(dyn) -> TrainingMetrics:
    """``dyn.training_metrics()``: recorded figures, else those the writer computed, else computed now."""
    recorded = dyn._recorded_figures()
    stored = dyn._stored_computed_figures()
    missing = [e for e in dyn.epochs
               if any(k not in recorded.get(e, {}) and k not in stored.get(e, {}) for k in STANDARD)]
    computed = computed_figures(dyn, missing)
    extra = sorted({k for e in dyn.epochs for k in recorded.get(e, {})} - set(STANDARD))
    table = TrainingMetrics()
    for e in dyn.epochs:
        rec = recorded.get(e, {})
        comp = {**computed.get(e, {}), **stored.get(e, {})}
        row = {"epoch": e}
        for k in (*STANDARD, *extra):
            row[k] = rec[k] if k in rec else comp.get(k)
        row["recorded"] = [k for k in (*STANDARD, *extra) if k in rec]
        table.append(row)
    return table
