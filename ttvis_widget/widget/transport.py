"""Binary transport between the kernel and the widget's front end (``js/src/transport.js`` mirrors it).

Nothing here goes into synced trait state: everything travels in custom comm messages with buffers, so a
saved notebook never carries the data. Per point and epoch the front end receives

* position: two uint16 quantized against the run's one global ``bounds`` (4 bytes; error <= range/131070),
* predicted class: uint16 (``NO_CLASS`` when the run has no predictions),
* confidence: uint8 (softmax max, 0..255).

Messages kernel -> front end (``content``, ``buffers``):

* ``{"type": "meta", "rid", "n", "n_epochs", "epochs", "bounds", "has_pred", "has_labels", "n_chunks",
  "n_territories", "qmax", "no_class"}`` with buffers ``[labels uint16 [N], split uint8 [N]]``;
* ``{"type": "chunk", "rid", "seq", "e0", "ne", "s0", "ns"}`` with buffers ``[pos uint16 [ne, ns, 2]]``
  (+ ``[pred uint16 [ne, ns], conf uint8 [ne, ns]]`` when ``has_pred``); epochs are indices into
  ``epochs``, samples ``s0 .. s0+ns``; the first chunk is the first epoch (or its first part);
* ``{"type": "done", "rid"}`` once all positions are sent;
* ``{"type": "territory", "rid", "epochs": [epoch indices]}`` with one PNG per index (row 0 = y max): the first
  epoch's right after the first chunk, the others after ``done`` (computed in the background);
* ``{"type": "sample", "index", "rid", "media", "text" | "error"}`` with the sample's PNG as the buffer (images),
  in answer to a hover (widget.py); ``{"type": "focus", "index"}`` from ``TimeTravelWidget.find``.

Messages front end -> kernel: ``{"type": "request", "rid", "paced"}`` (a view asks for its own stream; paced:
everything after the first epoch and its territory waits for the view's ``{"type": "drawn", "rid"}``, sent
after its first frame, so the rest of the stream does not hold up that frame) and
``{"type": "sample", "index"}`` (a hovered sample's image or text), declared and checked in widget.py /
messages.py; anything else, or anything out of range, is refused with ``{"type": "refused", "rid", "message",
"field", "reason"}`` (docs/CONTRACTS.md, "Messages").

Every message's buffers together stay under ``CHUNK_LIMIT`` bytes (a few KB of JSON aside), except a single
territory PNG larger than that, which goes alone.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Sequence

import numpy as np

CHUNK_LIMIT = 8 * 1024 * 1024
#: threads computing the next epochs' wire arrays while one is sent: numpy releases the GIL, and at 1M samples an
#: epoch's predicted class, confidence and quantized positions cost ~0.15 s of one core
PREFETCH_WORKERS = max(1, min(2, os.cpu_count() or 1))
QMAX = 65535
NO_CLASS = 65535
BYTES_POS = 4  # two uint16 per point and epoch


def _ranges(bounds) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    rx = xmax - xmin if xmax > xmin else 1.0
    ry = ymax - ymin if ymax > ymin else 1.0
    return xmin, ymin, rx, ry


def quantize(xy: np.ndarray, bounds) -> np.ndarray:
    """float [..., 2] -> uint16 [..., 2] against ``bounds`` = (xmin, ymin, xmax, ymax); rounds to nearest."""
    xy = np.asarray(xy, dtype=np.float64)
    xmin, ymin, rx, ry = _ranges(bounds)
    q = np.empty(xy.shape, dtype="<u2")
    q[..., 0] = np.clip(np.rint((xy[..., 0] - xmin) / rx * QMAX), 0, QMAX)
    q[..., 1] = np.clip(np.rint((xy[..., 1] - ymin) / ry * QMAX), 0, QMAX)
    return q


def dequantize(q: np.ndarray, bounds) -> np.ndarray:
    """uint16 [..., 2] -> float32 [..., 2], exactly as the vertex shader and the picking code do it."""
    xmin, ymin, rx, ry = _ranges(bounds)
    q = np.asarray(q, dtype=np.float32)
    out = np.empty(q.shape, dtype=np.float32)
    out[..., 0] = np.float32(xmin) + q[..., 0] / np.float32(QMAX) * np.float32(rx)
    out[..., 1] = np.float32(ymin) + q[..., 1] / np.float32(QMAX) * np.float32(ry)
    return out


def quantize_confidence(conf: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(conf, dtype=np.float32) * 255), 0, 255).astype(np.uint8)


def bytes_per_point_epoch(has_pred: bool) -> int:
    return BYTES_POS + (3 if has_pred else 0)


def plan_chunks(n_epochs: int, n_samples: int, has_pred: bool = True,
                limit: int = CHUNK_LIMIT) -> list[tuple[int, int, int, int]]:
    """Split the [epochs x samples] block into ``(e0, ne, s0, ns)`` pieces whose buffers fit ``limit``.

    The first piece is the first epoch alone (so the first frame can be drawn early); later pieces group
    whole epochs, or split one epoch by samples when a single epoch exceeds the limit.
    """
    per = bytes_per_point_epoch(has_pred)
    per_epoch = per * n_samples
    max_samples = max(1, limit // per)
    out: list[tuple[int, int, int, int]] = []

    def one_epoch(e):
        if per_epoch <= limit:
            out.append((e, 1, 0, n_samples))
        else:
            for s0 in range(0, n_samples, max_samples):
                out.append((e, 1, s0, min(max_samples, n_samples - s0)))

    if n_epochs == 0 or n_samples == 0:
        return out
    one_epoch(0)
    e = 1
    if per_epoch > limit:
        for e in range(1, n_epochs):
            one_epoch(e)
        return out
    group = max(1, limit // max(per_epoch, 1))
    while e < n_epochs:
        ne = min(group, n_epochs - e)
        out.append((e, ne, 0, n_samples))
        e += ne
    return out


class Payload:
    """Everything the front end needs, in wire dtypes; per-epoch arrays are computed on first use and kept,
    so the first epoch can be sent before the others are even read."""

    def __init__(self, epochs: Sequence[int], bounds, n: int, labels: np.ndarray, split: np.ndarray,
                 has_pred: bool, epoch_arrays):
        """``epoch_arrays(k) -> (positions float [N, 2], predicted class [N] | None, confidence [N] | None)``
        for epoch index ``k``."""
        self.epochs = [int(x) for x in epochs]
        self.bounds = tuple(float(b) for b in bounds)
        self.n = int(n)
        self.labels = labels
        self.split = split
        self.has_pred = bool(has_pred)
        self._epoch_arrays = epoch_arrays
        self._cache: dict[int, tuple] = {}
        self.territories: dict[int, bytes] = {}  # epoch index -> PNG (filled lazily)

    def epoch(self, k: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(uint16 [N, 2] positions, uint16 [N] predictions | None, uint8 [N] confidence | None) of epoch index k."""
        if k not in self._cache:
            xy, pred, conf = self._epoch_arrays(k)
            pos = quantize(xy, self.bounds)
            if pos.shape != (self.n, 2):
                raise ValueError(f"epoch {self.epochs[k]}: positions have shape {pos.shape}; expected ({self.n}, 2)")
            p = c = None
            if self.has_pred:
                p = np.clip(np.asarray(pred), 0, NO_CLASS - 1).astype("<u2")
                c = np.full(self.n, 255, np.uint8) if conf is None else quantize_confidence(conf)
            self._cache[k] = (pos, p, c)
        return self._cache[k]

    def block(self, e0: int, ne: int, s0: int, ns: int) -> list[np.ndarray]:
        parts = [self.epoch(k) for k in range(e0, e0 + ne)]
        out = [np.ascontiguousarray(np.stack([pt[0][s0:s0 + ns] for pt in parts]))]
        if self.has_pred:
            out.append(np.ascontiguousarray(np.stack([pt[1][s0:s0 + ns] for pt in parts])))
            out.append(np.ascontiguousarray(np.stack([pt[2][s0:s0 + ns] for pt in parts])))
        return out


def _wire_labels(labels, n: int) -> np.ndarray:
    lab = np.full(n, NO_CLASS, dtype="<u2")
    if labels is not None:
        lab[:] = np.clip(np.asarray(labels), 0, NO_CLASS - 1)
    return lab


def build_payload(embeddings, bounds, epochs: Sequence[int], labels=None, split=None,
                  predictions: Sequence[np.ndarray | None] | None = None,
                  confidence: Sequence[np.ndarray | None] | None = None, n: int | None = None) -> Payload:
    """``embeddings``: float [E, N, 2] or a function ``k -> [N, 2]``; ``predictions``/``confidence``: per epoch
    (class ids / softmax max), sequences or functions of the epoch index."""
    get_xy = embeddings if callable(embeddings) else (lambda k, a=np.asarray(embeddings): a[k])
    if n is None:
        n = int(np.asarray(get_xy(0)).shape[0])
    has_pred = predictions is not None and (callable(predictions) or all(p is not None for p in predictions))
    get_p = predictions if callable(predictions) else (lambda k: predictions[k])
    get_c = confidence if callable(confidence) or confidence is None else (lambda k: confidence[k])

    def arrays(k):
        return (get_xy(k), get_p(k) if has_pred else None,
                get_c(k) if (has_pred and get_c is not None) else None)

    sp = np.zeros(n, np.uint8) if split is None else np.asarray(split, dtype=np.uint8)
    return Payload(epochs, bounds, n, _wire_labels(labels, n), sp, has_pred, arrays)


def meta_message(p: Payload, rid: str, n_territories: int = 0, extra: dict | None = None):
    chunks = plan_chunks(len(p.epochs), p.n, p.has_pred)
    content = {"type": "meta", "rid": rid, "n": p.n, "n_epochs": len(p.epochs), "epochs": p.epochs,
               "bounds": list(p.bounds), "has_pred": p.has_pred, "has_labels": bool((p.labels != NO_CLASS).any()),
               "n_chunks": len(chunks), "n_territories": int(n_territories), "qmax": QMAX, "no_class": NO_CLASS}
    if extra:
        content.update(extra)
    return content, [memoryview(np.ascontiguousarray(p.labels)), memoryview(np.ascontiguousarray(p.split))]


def chunk_messages(p: Payload, rid: str, limit: int = CHUNK_LIMIT,
                   workers: int | None = None) -> Iterator[tuple[dict, list]]:
    """The chunks of every epoch in order; ``workers`` threads (default ``PREFETCH_WORKERS``) compute the next
    few epochs' wire arrays while the caller sends the current one (a few epochs ahead at most)."""
    workers = PREFETCH_WORKERS if workers is None else max(1, int(workers))
    plan = plan_chunks(len(p.epochs), p.n, p.has_pred, limit)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="ttvis-payload") if workers > 1 and len(p.epochs) > 1 \
        else None
    futures: dict = {}
    try:
        for seq, (e0, ne, s0, ns) in enumerate(plan):
            if pool is not None:
                for k in range(e0, min(len(p.epochs), e0 + ne + 2 * workers)):
                    if k not in futures:
                        futures[k] = pool.submit(p.epoch, k)
                for k in range(e0, e0 + ne):
                    futures[k].result()  # re-raises a failed epoch's error here, in order
            bufs = [memoryview(a) for a in p.block(e0, ne, s0, ns)]
            yield {"type": "chunk", "rid": rid, "seq": seq, "e0": e0, "ne": ne, "s0": s0, "ns": ns}, bufs
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def territory_messages(pngs: Iterator[tuple[int, bytes]], rid: str,
                       limit: int = CHUNK_LIMIT) -> Iterator[tuple[dict, list]]:
    """Group (epoch index, PNG) pairs into messages of at most ``limit`` bytes (one PNG may exceed it alone)."""
    idx: list[int] = []
    bufs: list[bytes] = []
    size = 0
    for k, png in pngs:
        if bufs and size + len(png) > limit:
            yield {"type": "territory", "rid": rid, "epochs": idx}, bufs
            idx, bufs, size = [], [], 0
        idx.append(int(k))
        bufs.append(png)
        size += len(png)
    if bufs:
        yield {"type": "territory", "rid": rid, "epochs": idx}, bufs


def done_message(rid: str):
    return {"type": "done", "rid": rid}, []


# ---- decoding (the same steps as js/src/transport.js; used by tests and for debugging) -------------------

def _u16(buf) -> np.ndarray:
    return np.frombuffer(bytes(buf), dtype="<u2")


def decode_messages(messages: Sequence[tuple[dict, list]]) -> dict:
    """Rebuild ``positions`` float32 [E, N, 2] (dequantized), ``predictions``, ``confidence`` (float 0..1),
    ``labels`` (int, -1 unknown), ``split``, ``territories`` {epoch index: PNG} from a message stream."""
    out: dict = {}
    for content, buffers in messages:
        t = content["type"]
        if t == "meta":
            n, ne = content["n"], content["n_epochs"]
            out["meta"] = content
            lab = _u16(buffers[0]).astype(np.int64)
            lab[lab == content["no_class"]] = -1
            out["labels"] = lab
            out["split"] = np.frombuffer(bytes(buffers[1]), dtype=np.uint8).copy()
            out["_q"] = np.zeros((ne, n, 2), np.uint16)
            out["_pred"] = np.zeros((ne, n), np.uint16) if content["has_pred"] else None
            out["_conf"] = np.zeros((ne, n), np.uint8) if content["has_pred"] else None
            out["_loaded"] = np.zeros((ne, n), bool)
            out["territories"] = {}
        elif t == "chunk":
            e0, ne, s0, ns = content["e0"], content["ne"], content["s0"], content["ns"]
            out["_q"][e0:e0 + ne, s0:s0 + ns] = _u16(buffers[0]).reshape(ne, ns, 2)
            if out["_pred"] is not None:
                out["_pred"][e0:e0 + ne, s0:s0 + ns] = _u16(buffers[1]).reshape(ne, ns)
                out["_conf"][e0:e0 + ne, s0:s0 + ns] = np.frombuffer(bytes(buffers[2]), np.uint8).reshape(ne, ns)
            out["_loaded"][e0:e0 + ne, s0:s0 + ns] = True
        elif t == "territory":
            for k, png in zip(content["epochs"], buffers):
                out["territories"][k] = bytes(png)
        elif t == "done":
            out["done"] = True
    meta = out["meta"]
    out["positions"] = dequantize(out.pop("_q"), meta["bounds"])
    pred, conf = out.pop("_pred"), out.pop("_conf")
    out["predictions"] = None if pred is None else pred.astype(np.int64)
    out["confidence"] = None if conf is None else conf.astype(np.float32) / 255
    out["complete"] = bool(out.pop("_loaded").all())
    return out
