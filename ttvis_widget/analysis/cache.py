"""One bounded cache for what the analysis functions build once per epoch and reuse per query.

The widget calls ``neighbors``/``similar``/``training_events`` on every hover, click or epoch change; what
each call needs from an epoch (a search index holding the representations on the compute device, a k-d tree
of the 2-D positions, the distances to the final epoch) is built on the first call and kept here, keyed by
the object it came from (a ``TrainingDynamics`` or a run; held weakly, so entries go with their owner) and
a key. Entries are evicted least recently used first once their total size passes ``limit()`` bytes; the
entry just built always stays, so a single index larger than the budget still serves the call that built it.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Callable

#: default budget: four epochs' search indices at 60k x 512 float32 (123 MB each) plus small entries
DEFAULT_LIMIT = 512 << 20

_lock = threading.RLock()
_entries: "OrderedDict[tuple, tuple[object, int]]" = OrderedDict()
_finalizers: dict[int, weakref.finalize] = {}
_limit = [DEFAULT_LIMIT]
_total = [0]


def limit() -> int:
    return _limit[0]


def set_limit(nbytes: int) -> int:
    """Change the budget (bytes); returns the previous one. Entries over the new budget go at once."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
        raise ValueError(f"cache limit must be a non-negative number of bytes, got {nbytes!r}")
    with _lock:
        prev, _limit[0] = _limit[0], nbytes
        _evict(keep=None)
    return prev


def cached(owner, key: tuple, build: Callable[[], object], nbytes: Callable[[object], int]):
    """``build()`` for ``(owner, *key)``, from the cache when present. Owners that cannot be weakly referenced
    are not cached (their results are built on every call)."""
    try:
        ref_ok = weakref.ref(owner) is not None
    except TypeError:
        ref_ok = False
    if not ref_ok:
        return build()
    full = (id(owner),) + tuple(key)
    with _lock:
        hit = _entries.get(full)
        if hit is not None:
            _entries.move_to_end(full)
            return hit[0]
    value = build()  # outside the lock: building an index takes time, other owners need not wait
    size = int(nbytes(value))
    with _lock:
        oid = id(owner)
        if oid not in _finalizers:
            _finalizers[oid] = weakref.finalize(owner, forget, oid)
        old = _entries.pop(full, None)
        if old is not None:  # built twice by two threads: keep one
            _total[0] -= old[1]
        _entries[full] = (value, size)
        _total[0] += size
        _evict(keep=full)
    return value


def _evict(keep) -> None:
    while _total[0] > _limit[0] and _entries:
        oldest = next(iter(_entries))
        if oldest == keep:
            break
        _total[0] -= _entries.pop(oldest)[1]


def forget(owner_id: int | None = None) -> None:
    """Drop every entry of one owner (by ``id``), or all entries."""
    with _lock:
        for k in [k for k in _entries if owner_id is None or k[0] == owner_id]:
            _total[0] -= _entries.pop(k)[1]
        if owner_id is None:
            for f in _finalizers.values():
                f.detach()
            _finalizers.clear()
        else:
            f = _finalizers.pop(owner_id, None)
            if f is not None:
                f.detach()


def clear(owner=None) -> None:
    """Drop the cached indices of ``owner`` (a dynamics or a run), or of everything."""
    forget(None if owner is None else id(owner))


def info() -> dict:
    """{"entries", "bytes", "limit"}: what the cache holds now."""
    with _lock:
        return {"entries": len(_entries), "bytes": _total[0], "limit": _limit[0]}
