"""CPU threads and host memory of a fit: torch's thread count for a block, the node matrix filled in chunks,
and giving freed heap pages back to the system between epochs."""
from __future__ import annotations

import contextlib
import os

import numpy as np

#: torch CPU threads of the parametric methods: min(2, cores). Their small matrix products gain from a second
#: thread and little beyond it, and the cores are often shared with the notebook's own work.
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))


@contextlib.contextmanager
def torch_threads(n: int | None, device: str = "cpu"):
    """Run a block with ``n`` torch CPU threads (restored afterwards). Pass ``num_threads=1`` to a method
    when the cores are shared with other busy processes (OpenMP spin-waiting under oversubscription can make
    2 threads much slower than 1 there)."""
    import torch

    if n is None or str(device).startswith("cuda"):
        yield
        return
    old, n = torch.get_num_threads(), max(1, int(n))
    if n == old:  # each set_num_threads call re-forms the OpenMP team: skip the needless ones (_threads.py)
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def stack_rows(arrays, device="cpu", chunk: int = 8192):
    """One float32 tensor on ``device`` holding the rows of ``arrays`` (numpy arrays or memory maps, same
    width) one after the other, filled in chunks: no whole-matrix temporary besides the result."""
    import torch

    arrays = [a for a in arrays if len(a)]
    out = torch.empty((sum(len(a) for a in arrays), arrays[0].shape[1]), dtype=torch.float32, device=device)
    host = out.numpy() if out.device.type == "cpu" else None
    o = 0
    for a in arrays:
        for s in range(0, len(a), chunk):
            part = a[s:s + chunk]
            if host is not None:
                host[o + s:o + s + len(part)] = part
            else:
                # a copy: a memory map's rows are read-only, which torch.from_numpy warns about
                out[o + s:o + s + len(part)] = torch.from_numpy(np.array(part, np.float32)).to(device)
        o += len(a)
    return out


_LIBC_TRIM = None


def release_memory() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim(0)``; elsewhere a no-op, False).

    Why: freed tensors stay in glibc's arenas, fragmented, and a process that fits epoch after epoch grows
    with every one; trimmed after each epoch it stays flat, and a notebook gets the memory back after the fit.
    It does not lower the peak within an epoch. Costs a few milliseconds."""
    global _LIBC_TRIM
    if _LIBC_TRIM is None:
        try:
            import ctypes
            import ctypes.util

            _LIBC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
            _LIBC_TRIM = False
    if not _LIBC_TRIM:
        return False
    _LIBC_TRIM(0)
    return True
