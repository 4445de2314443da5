"""Training events of one epoch against an earlier one: which samples flipped, became wrong or correct,
changed confidence in their label, or moved unusually far towards or away from where they end up.

Definitions follow the original tool's ``training_event.py`` (docs/methods/analysis.md says where and why
we differ). Everything here reads high-dimensional data and predictions only, so events do not depend on
the visualization method.
"""
from __future__ import annotations

import numpy as np

from . import cache
from .validate import AnalysisError, check_epoch, check_threshold

#: every kind, in the order panels list them; ``significant_movement`` is the union of the last two, and
#: ``became_wrong``/``became_correct`` are subsets of ``prediction_flip``
KINDS = ("prediction_flip", "became_wrong", "became_correct", "confidence_change",
         "significant_movement", "moved_closer", "moved_farther")
_NEEDS_PREDICTIONS = ("prediction_flip", "became_wrong", "became_correct", "confidence_change")
_NEEDS_LABELS = ("became_wrong", "became_correct", "confidence_change")
_MOVEMENT = ("significant_movement", "moved_closer", "moved_farther")

#: threshold names and defaults: |p_t(label) - p_prev(label)| > confidence; a movement counts when its size
#: exceeds mean + movement_sigmas * std among the samples that moved the same way
THRESHOLDS = {"confidence": 0.5, "movement_sigmas": 2.0}
_LIMITS = {"confidence": (0.0, 1.0), "movement_sigmas": (0.0, float("inf"))}

#: a spread of movement sizes below this fraction of their mean is round-off (float32 distances of
#: 512-d vectors agree to about 1e-6), not a spread: no sample stands out of it
_RELATIVE_NOISE = 1e-4

#: rows per block when computing distances (8 MB of float32 at D = 512)
_BLOCK = 4096

_COLUMNS = ("label", "split", "prev_prediction", "prediction", "prev_confidence", "confidence",
            "prev_label_prob", "label_prob", "movement")


class Events:
    """The training events of ``epoch`` against ``previous`` (see ``training_events``).

    ``kinds``: the kinds that could be computed; ``not_computable``: {kind: reason} for the others;
    ``indices(kind)``: int64 sample indices, sorted; ``counts()``: {kind: count}; ``table(kind=None)``: one
    dict per (sample, kind) event. Only the rows of samples with an event are kept, so an ``Events`` stays
    small whatever N is.
    """

    def __init__(self, epoch: int, previous: int | None, final: int, thresholds: dict, sets: dict,
                 not_computable: dict, rows: np.ndarray, columns: dict, class_names=None):
        self.epoch = epoch
        self.previous = previous
        self.final = final
        self.thresholds = dict(thresholds)
        self.not_computable = dict(not_computable)
        self.kinds = tuple(k for k in KINDS if k in sets)
        self._sets = {}
        for k, v in sets.items():
            v = np.asarray(v, np.int64)
            v.flags.writeable = False
            self._sets[k] = v
        self._rows = rows
        self._columns = columns
        self.class_names = class_names

    def _check_kind(self, kind) -> str:
        if kind in self._sets:
            return kind
        if kind in self.not_computable:
            raise AnalysisError(f"{kind!r} events are not computable at epoch {self.epoch}: {self.not_computable[kind]}")
        raise ValueError(f"unknown event kind {kind!r}; kinds: {list(KINDS)}")

    def indices(self, kind: str) -> np.ndarray:
        """Sample indices (int64, sorted, read-only) with an event of ``kind``."""
        return self._sets[self._check_kind(kind)]

    def counts(self) -> dict:
        """{kind: number of samples} for every computable kind."""
        return {k: int(len(self._sets[k])) for k in self.kinds}

    def table(self, kind: str | None = None, limit: int | None = None) -> list[dict]:
        """One row per event: index, kind, label, split, previous and current prediction and confidence
        (softmax of the predicted class), previous and current probability of the label, and movement (the
        change in distance to the final epoch's representation; negative = closer). Fields that cannot be
        computed are None. ``kind`` None: every computable kind, in ``KINDS`` order (kinds overlap, so a
        sample may appear under several). ``limit``: at most this many rows."""
        kinds = self.kinds if kind is None else (self._check_kind(kind),)
        out: list[dict] = []
        for k in kinds:
            idx = self._sets[k]
            if limit is not None:
                idx = idx[:max(0, int(limit) - len(out))]
            pos = np.searchsorted(self._rows, idx)
            cols = {name: (None if arr is None else arr[pos].tolist()) for name, arr in self._columns.items()}
            for j, i in enumerate(idx.tolist()):
                row = {"index": i, "kind": k}
                for name in _COLUMNS:
                    row[name] = None if cols[name] is None else cols[name][j]
                out.append(row)
            if limit is not None and len(out) >= limit:
                break
        return out

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={n}" for k, n in self.counts().items())
        missing = f"; not computable: {sorted(self.not_computable)}" if self.not_computable else ""
        return f"<Events epoch={self.epoch} previous={self.previous} {counts or 'none'}{missing}>"


def check_thresholds(thresholds: dict) -> dict:
    """Defaults updated with the given thresholds; unknown names are a TypeError (as for any keyword)."""
    unknown = sorted(set(thresholds) - set(THRESHOLDS))
    if unknown:
        raise TypeError(f"training_events() got unknown threshold(s) {unknown}; known: {sorted(THRESHOLDS)}")
    out = dict(THRESHOLDS)
    for name, value in thresholds.items():
        out[name] = check_threshold(name, value, *_LIMITS[name])
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float32)
    z = z - z.max(1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(1, keepdims=True)
    return z


def _prediction_summary(dynamics, epoch: int) -> dict | None:
    """{"prediction" int64 [N], "confidence" (softmax of the predicted class), "label_prob" (of the label, or
    None without labels)} of one epoch, or None without predictions; cached (16 bytes a sample), so that
    scrubbing computes each epoch once."""
    def build():
        logits = dynamics.prediction(epoch)
        if logits is None:
            return None
        p = softmax(logits)
        out = {"prediction": p.argmax(1), "confidence": p.max(1), "label_prob": None}
        labels = dynamics.labels
        if labels is not None:
            if len(labels) and int(labels.max()) >= p.shape[1]:
                raise AnalysisError(f"{dynamics.name!r}: label {int(labels.max())} is out of range for "
                                    f"predictions with {p.shape[1]} classes")
            out["label_prob"] = p[np.arange(len(labels)), labels]
        return out

    return cache.cached(dynamics, ("predictions", int(epoch)), build,
                        lambda v: 0 if v is None else sum(a.nbytes for a in v.values() if a is not None))


def distance_to_epoch(dynamics, epoch: int, ref: int) -> np.ndarray:
    """||h_i(epoch) - h_i(ref)|| for every sample, float32 [N]; cached (N floats an epoch)."""
    def build():
        a, b = dynamics.representation(epoch), dynamics.representation(ref)
        out = np.empty(len(a), np.float32)
        buf = np.empty((min(_BLOCK, len(a)), a.shape[1]), np.float32)
        for s in range(0, len(a), _BLOCK):
            d = np.subtract(a[s:s + _BLOCK], b[s:s + _BLOCK], out=buf[:min(_BLOCK, len(a) - s)])
            out[s:s + len(d)] = np.sqrt(np.einsum("ij,ij->i", d, d))
        return out

    return cache.cached(dynamics, ("distance", int(epoch), int(ref)), build, lambda v: v.nbytes)


def _previous_epoch(dynamics, e: int, previous) -> int | None:
    if previous is None:
        pos = dynamics.epochs.index(e)
        return dynamics.epochs[pos - 1] if pos > 0 else None
    p = check_epoch(dynamics, previous, "previous epoch")
    if p >= e:
        raise AnalysisError(f"previous epoch {p} must be earlier than epoch {e}")
    return p


def training_events(dynamics, epoch, previous=None, **thresholds) -> Events:
    """Training events of ``epoch`` against ``previous`` (default: the previous recorded epoch).

    Kinds: ``prediction_flip`` (argmax changed), ``became_wrong`` / ``became_correct`` (flips across the
    label), ``confidence_change`` (|p_t(label) - p_prev(label)| > ``confidence``, default 0.5),
    ``significant_movement`` = ``moved_closer`` + ``moved_farther``: with d_t(i) = ||h_i(t) - h_i(final)||,
    the change d_t - d_prev of a sample counts when its size exceeds mean + ``movement_sigmas`` (default 2)
    standard deviations of the sizes of the changes in the same direction. Kinds that cannot be computed (the
    first epoch, missing predictions, no labels) are listed in ``Events.not_computable`` with the reason.
    """
    th = check_thresholds(thresholds)
    e = check_epoch(dynamics, epoch)
    prev = _previous_epoch(dynamics, e, previous)
    final = int(dynamics.epochs[-1])
    if prev is None:
        reason = f"epoch {e} is the first recorded epoch: there is no earlier epoch to compare it with"
        return Events(e, None, final, th, {}, {k: reason for k in KINDS}, np.zeros(0, np.int64), {},
                      dynamics.class_names)
    sets: dict[str, np.ndarray] = {}
    reasons: dict[str, str] = {}
    cols: dict[str, np.ndarray | None] = dict.fromkeys(_COLUMNS)
    labels = dynamics.labels
    cols["label"] = labels
    cols["split"] = dynamics.split

    now, before = _prediction_summary(dynamics, e), _prediction_summary(dynamics, prev)
    if now is None or before is None:
        which = " and ".join(f"epoch {x}" for x, p in ((prev, before), (e, now)) if p is None)
        for k in _NEEDS_PREDICTIONS:
            reasons[k] = f"no predictions at {which} (no recorded logits and no head to compute them)"
    else:
        cols.update(prediction=now["prediction"], prev_prediction=before["prediction"],
                    confidence=now["confidence"], prev_confidence=before["confidence"])
        sets["prediction_flip"] = np.flatnonzero(now["prediction"] != before["prediction"])
        if labels is None:
            for k in _NEEDS_LABELS:
                reasons[k] = "the dynamics have no labels"
        else:
            right_now, right_before = now["prediction"] == labels, before["prediction"] == labels
            sets["became_wrong"] = np.flatnonzero(right_before & ~right_now)
            sets["became_correct"] = np.flatnonzero(~right_before & right_now)
            cols["label_prob"], cols["prev_label_prob"] = now["label_prob"], before["label_prob"]
            sets["confidence_change"] = np.flatnonzero(
                np.abs(now["label_prob"] - before["label_prob"]) > th["confidence"])

    delta = distance_to_epoch(dynamics, e, final) - distance_to_epoch(dynamics, prev, final)
    cols["movement"] = delta
    for name, mask in (("moved_closer", delta < 0), ("moved_farther", delta > 0)):
        size = np.abs(delta[mask]).astype(np.float64)
        mean = float(size.mean()) if len(size) else 0.0
        # changes equal up to round-off (every sample reaching the final epoch together) stand out by nothing
        spread = max(float(size.std()) if len(size) else 0.0, _RELATIVE_NOISE * mean)
        cut = mean + th["movement_sigmas"] * spread
        sets[name] = np.flatnonzero(mask & (np.abs(delta) > cut))
    sets["significant_movement"] = np.union1d(sets["moved_closer"], sets["moved_farther"])

    keep = np.unique(np.concatenate([np.zeros(0, np.int64)] + list(sets.values()))).astype(np.int64)
    kept = {name: (None if arr is None else np.asarray(arr)[keep]) for name, arr in cols.items()}
    kept["split"] = np.where(kept["split"] == 0, "train", "test")
    return Events(e, prev, final, th, sets, reasons, keep, kept, dynamics.class_names)
