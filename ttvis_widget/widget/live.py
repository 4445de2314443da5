"""Incremental streams to the views of a widget whose epochs arrive over time (a background or live fit) or
that the browser cannot hold at once (a window of epochs around the current time).

Per view (its ``rid``) the kernel knows which epoch indices the view holds; everything is sent in stream
order from whichever thread has news (the fit thread, the comm's), under one lock:

* ``meta`` (as transport.py; ``n_epochs`` = every recorded epoch, fitted or not; ``window``: how many epochs
  the view may hold, 0 = all; ``live``: more chunks will follow ``meta``),
* ``chunk`` of each epoch as it is fitted (``slot``: its layer on the GPU when windowed),
* ``epochs`` ``{epochs: [...]}``: the recording grew (live mode); the view extends its timeline,
* ``bounds`` ``{bounds: [...]}``: later chunks are quantized against these; the view re-quantizes what it
  holds (bounds.js): positions keep their place, so nothing jumps,
* ``evict`` ``{epochs: [k...]}``: the view drops these epochs (windowed),
* ``windowed`` ``{window: W}``: a live recording grew past the budget: the view drops what it holds and from
  now on holds a window of ``W`` epochs in slots (what it should hold follows as chunks),
* (view -> kernel) ``window`` moves a windowed view's time, ``held`` ``{epoch}`` acknowledges an epoch it
  received; a view that acknowledges gets at most ``IN_FLIGHT`` epochs ahead of its acknowledgements,
* ``done`` once every recorded epoch is fitted and sent (windowed: held or available on request), then
  ``territory`` messages.

Windowed views are fed by one sender thread per widget, one epoch at a time, nearest to the view's current
time first and three quarters ahead in the direction of motion: a ``window`` message only moves the target, so
epochs the user has scrubbed past are never sent (cancelled), and a slot is freed (``evict``) only when an epoch
that belongs to the window needs it, so the view keeps its held epochs to draw the nearest of meanwhile. The
quantized wire arrays of recently sent epochs stay in a cache of ``CACHE_BUDGET`` bytes: going back to an epoch
is a send, not a re-quantization.

Growing bounds: when a new epoch leaves the box, the box grows with ``HEADROOM`` of its extent on each side
(so a fit that spreads out re-quantizes a handful of times, not at every epoch), and at the end of the fit it
becomes the run's own padded box (the territories' frame).
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from . import transport as tr

log = logging.getLogger(__name__)

HEADROOM = 0.25
#: what one view may hold of positions, predictions and confidences (GPU texture + its CPU copy: 4 + 7 bytes per
#: point and epoch); beyond it the view holds a window of epochs around its time. 256 MB: a tab's memory is a
#: few GB at most, integrated GPUs share it, and a comparison shows two views
BROWSER_BUDGET = 256 * 1024 * 1024
BYTES_HELD = 11  # per point and epoch in the browser: uint16x2 on the GPU, and uint16x2 + uint16 + uint8 on the CPU
#: the kernel's cache of quantized epochs (7 bytes per point: positions, class, confidence) of windowed views:
#: as much as one view holds, so a scrub back over the last window or two re-sends without recomputing
CACHE_BUDGET = 256 * 1024 * 1024
BYTES_WIRE = 7
#: epochs sent to a windowed view and not yet acknowledged (``held``) at most: a deeper queue sits in the pipes
#: to the browser, where it can no longer be cancelled and keeps the page from drawing while it drains
IN_FLIGHT = 2


def window_size(n: int, n_epochs: int, budget: int = BROWSER_BUDGET) -> int:
    """Epochs a view holds at once: all (0) when they fit ``budget``, else as many as fit (at least 3)."""
    if n * n_epochs * BYTES_HELD <= budget:
        return 0
    return max(3, min(n_epochs, budget // max(1, n * BYTES_HELD)))


def wanted(center: int, direction: int, size: int, n_epochs: int) -> list[int]:
    """The epoch indices a window of ``size`` around ``center`` holds, nearest first; three quarters of it lie
    ahead in the direction of motion (prefetch), half and half at rest."""
    ahead = size // 2 if direction == 0 else (3 * size) // 4
    behind = size - 1 - ahead
    lo, hi = (center - behind, center + ahead) if direction >= 0 else (center - ahead, center + behind)
    lo, hi = max(0, lo), min(n_epochs - 1, hi)
    while hi - lo + 1 < min(size, n_epochs):  # against an end: extend the other way
        if lo > 0:
            lo -= 1
        elif hi < n_epochs - 1:
            hi += 1
        else:
            break
    order = sorted(range(lo, hi + 1), key=lambda k: (abs(k - center), -(k - center) * direction))
    return order


def grown_bounds(bounds, xy: np.ndarray):
    """``bounds`` when ``xy`` lies inside it, else a box around both with HEADROOM on each side."""
    lo, hi = np.nanmin(xy, 0), np.nanmax(xy, 0)
    if bounds is not None and lo[0] >= bounds[0] and lo[1] >= bounds[1] and hi[0] <= bounds[2] and hi[1] <= bounds[3]:
        return bounds
    if bounds is not None:
        lo = np.minimum(lo, bounds[:2])
        hi = np.maximum(hi, bounds[2:])
    ext = np.maximum(hi - lo, 1e-6)
    return tuple(float(v) for v in (lo[0] - HEADROOM * ext[0], lo[1] - HEADROOM * ext[1],
                                    hi[0] + HEADROOM * ext[0], hi[1] + HEADROOM * ext[1]))


class View:
    def __init__(self, rid: str, window: int):
        self.rid = rid
        self.window = window
        self.held: dict[int, int] = {}  # epoch index -> GPU slot (windowed) or the index itself
        self.center = 0
        self.direction = 0
        self.done_sent = False
        self.in_flight: set[int] = set()  # windowed: sent, not yet acknowledged by the view
        self.acks = False  # the view acknowledges what it holds (then at most IN_FLIGHT epochs are in flight)


class Streams:
    """The views of one widget and what each holds. ``widget`` provides ``send``, ``epochs``, ``dynamics``,
    ``run`` (``embedding(e)``), ``_ready_indices()`` and ``_complete``."""

    def __init__(self, widget, bounds=None, budget: int | None = None):
        """``budget``: bytes a view may hold (default: ``BROWSER_BUDGET`` as it is now, so tests and benchmarks
        can lower it for a small run)."""
        self.w = widget
        self.lock = threading.RLock()
        self.views: dict[str, View] = {}
        self.bounds = None if bounds is None else tuple(float(b) for b in bounds)
        self.budget = BROWSER_BUDGET if budget is None else int(budget)
        self._payload: tr.Payload | None = None
        self.bytes_sent = 0
        self._wake = threading.Condition()  # the sender thread's own state (never held while sending)
        self._pump_thread: threading.Thread | None = None
        self._busy = self._again = False  # the sender has windowed work / was given more since its last look

    # ---- the wire arrays ---------------------------------------------------------------------------
    @property
    def payload(self) -> tr.Payload:
        if self._payload is None:
            w = self.w
            d, eps = w.dynamics, list(w.epochs)
            has_pred = d.prediction(eps[0]) is not None
            self._payload = tr.build_payload(
                lambda k: w.run.embedding(eps[k]), self.bounds or (0.0, 0.0, 1.0, 1.0), eps, d.labels, d.split,
                predictions=(lambda k: d.predicted_class(eps[k])) if has_pred else None,
                confidence=(lambda k: d.confidence(eps[k])) if has_pred else None, n=d.n_samples)
        return self._payload

    def _send(self, content, buffers=()) -> None:
        self.bytes_sent += sum(memoryview(b).nbytes for b in buffers)
        self.w.send(content, buffers=list(buffers))

    def _send_epoch(self, v: View, k: int) -> None:
        if v.window:
            used = set(v.held.values())
            slot = next(s for s in range(v.window) if s not in used)
        else:
            slot = k
        p = self.payload
        if v.window and k in p._cache:  # recently used last: the cache drops the least recently sent
            p._cache[k] = p._cache.pop(k)
        for seq, (e0, ne, s0, ns) in enumerate(tr.plan_chunks(1, p.n, p.has_pred)):
            bufs = [memoryview(a) for a in p.block(k, 1, s0, ns)]
            self._send({"type": "chunk", "rid": v.rid, "seq": seq, "e0": k, "ne": 1, "s0": s0, "ns": ns,
                        "slot": slot}, bufs)
        v.held[k] = slot
        if v.window:
            v.in_flight.add(k)
            self._trim_cache(p)

    def _trim_cache(self, p: tr.Payload) -> None:
        """Keep the quantized epochs of windowed views within CACHE_BUDGET (at least one)."""
        keep = max(1, CACHE_BUDGET // max(1, p.n * BYTES_WIRE))
        while len(p._cache) > keep:
            p._cache.pop(next(iter(p._cache)))

    # ---- events -------------------------------------------------------------------------------------
    def open(self, rid: str) -> None:
        """A view asks for its stream: meta, then what it may hold of the epochs fitted so far."""
        with self.lock:
            w = self.w
            ready = w._ready_indices()
            if self.bounds is None and ready:
                self.bounds = grown_bounds(None, w.run.embedding(w.epochs[ready[0]]))
            v = View(rid, window_size(w.dynamics.n_samples, len(w.epochs), self.budget))
            self.views[rid] = v
            p = self.payload
            p.bounds = self.bounds or (0.0, 0.0, 1.0, 1.0)
            extra = {"window": v.window, "live": not w._complete}
            self._send(*tr.meta_message(p, rid, extra=extra))
            self._fill(v, ready)

    def _fill(self, v: View, ready: list[int]) -> None:
        """Send ``v`` the ready epochs it should hold and does not; windowed views: wake the sender thread."""
        if v.window:
            self._kick()
        else:
            for k in ready:
                if k not in v.held:
                    self._send_epoch(v, k)
        self._maybe_done(v, ready)

    # ---- the sender thread of windowed views -----------------------------------------------------------------
    def _kick(self) -> None:
        """Give the sender thread work (started when none runs); never waits for a send in progress."""
        with self._wake:
            self._busy = self._again = True
            if self._pump_thread is None:
                self._pump_thread = threading.Thread(target=self._pump, name="ttvis-window", daemon=True)
                self._pump_thread.start()

    def _step(self, v: View, ready: set[int]) -> bool:
        """Send ``v`` the one epoch it most needs (evicting one it needs least when its slots are full); False
        when it holds everything it should."""
        want = [k for k in wanted(v.center, v.direction, v.window, len(self.w.epochs)) if k in ready]
        missing = [k for k in want if k not in v.held]
        if not missing or (v.acks and len(v.in_flight) >= IN_FLIGHT):
            return False
        if len(v.held) >= v.window:
            spare = [k for k in v.held if k not in want]
            victim = max(spare, key=lambda k: abs(k - v.center))
            del v.held[victim]
            self._send({"type": "evict", "rid": v.rid, "epochs": [victim]})
        self._send_epoch(v, missing[0])
        return True

    def _pump(self) -> None:
        """Windowed views' sender: one epoch per turn, re-reading each view's time between them (a newer
        ``window`` message re-aims it: what was scrubbed past is never sent). Ends when nothing is left."""
        while True:
            with self._wake:
                self._again = False
            with self.lock:
                try:
                    ready = set(self.w._ready_indices())
                    sent = False
                    for v in list(self.views.values()):
                        if v.window and self._step(v, ready):
                            sent = True
                except Exception as exc:  # noqa: BLE001 - a closed comm, a bug: logged; the next move retries
                    log.warning("ttvis_widget: streaming a window of epochs failed", exc_info=exc)
                    sent = False
            if sent:
                time.sleep(0.0005)  # lets a thread waiting for the lock (a fit's next epoch) take it
                continue
            with self._wake:
                if self._again:  # kicked while this turn looked: look again
                    continue
                self._busy, self._pump_thread = False, None
                self._wake.notify_all()
                return

    def settle(self, timeout: float | None = None) -> bool:
        """Block until every windowed view holds what its window should (tests, scripts); False on timeout."""
        with self._wake:
            return self._wake.wait_for(lambda: not self._busy, timeout)

    def _maybe_done(self, v: View, ready) -> None:
        if not v.done_sent and self.w._complete and len(ready) == len(self.w.epochs):
            v.done_sent = True
            self._send(*tr.done_message(v.rid))

    def epoch_ready(self, k: int) -> None:
        """Epoch index ``k`` is fitted: widen the bounds if needed, send it to the views that should hold it."""
        with self.lock:
            xy = self.w.run.embedding(self.w.epochs[k])
            self.set_bounds(grown_bounds(self.bounds, xy))
            ready = self.w._ready_indices()
            for v in list(self.views.values()):
                self._fill(v, ready)

    def epoch_replaced(self, k: int) -> None:
        """Epoch index ``k``, sent as a preview, has other final positions: the views holding it get it again
        (a chunk overwrites what the view holds of that epoch)."""
        with self.lock:
            xy = self.w.run.embedding(self.w.epochs[k])
            if self._payload is not None:
                self._payload._cache.pop(k, None)
            self.set_bounds(grown_bounds(self.bounds, xy))
            for v in self.views.values():
                v.held.pop(k, None)  # sent again by epoch_ready (windowed: into a free slot, its own among them)
            self.epoch_ready(k)

    def epoch_withdrawn(self, k: int) -> None:
        """Epoch index ``k`` was shown as a preview and its fit did not finish (stopped, failed): the views holding
        it drop it (an ``evict``), so no view shows positions that no run holds."""
        with self.lock:
            if self._payload is not None:
                self._payload._cache.pop(k, None)
            for v in self.views.values():
                v.in_flight.discard(k)
                if v.held.pop(k, None) is not None:
                    v.done_sent = False
                    self._send({"type": "evict", "rid": v.rid, "epochs": [k]})

    def set_bounds(self, bounds) -> None:
        with self.lock:
            bounds = tuple(float(b) for b in bounds)
            if bounds == self.bounds:
                return
            self.bounds = bounds
            self._payload = None  # re-quantized on demand against the new box
            for v in self.views.values():
                self._send({"type": "bounds", "rid": v.rid, "bounds": list(bounds)})

    def epochs_changed(self) -> None:
        """The recording grew (live): every view extends its timeline; a view that held every epoch and can no
        longer (the budget) switches to a window, kept around its time from now on."""
        with self.lock:
            self._payload = None
            n = len(self.w.epochs)
            size = window_size(self.w.dynamics.n_samples, n, self.budget)
            for v in self.views.values():
                v.done_sent = False
                self._send({"type": "epochs", "rid": v.rid, "epochs": list(self.w.epochs), "n_epochs": n})
                if size and not v.window:
                    v.window, v.held = size, {}
                    self._send({"type": "windowed", "rid": v.rid, "window": size})
                    self._kick()

    def finished(self) -> None:
        with self.lock:
            ready = self.w._ready_indices()
            for v in self.views.values():
                self._fill(v, ready)

    def move(self, rid: str, center: int, direction: int) -> None:
        """A windowed view's time moved to epoch index ``center`` (``direction`` of motion -1, 0, 1): slide."""
        v = self.views.get(rid)  # no lock: the sender reads the new time before its next epoch
        if v is None or not v.window:
            return
        v.center, v.direction = int(center), int(direction)
        self._kick()

    def acknowledged(self, rid: str, k: int) -> None:
        """A windowed view holds epoch index ``k`` now (its ``held`` message): room for the next one."""
        v = self.views.get(rid)
        if v is None or not v.window:
            return
        v.acks = True
        v.in_flight.discard(int(k))
        self._kick()

    def close(self, rid: str) -> None:
        with self.lock:
            self.views.pop(rid, None)
