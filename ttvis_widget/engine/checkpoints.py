"""``Checkpoints``: the per-epoch results and training state of one run folder (or of memory), every write
atomic."""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..store.atomic import atomic_write_bytes, atomic_write_npy, atomic_write_npz, remove_orphaned_temporaries


def cpu_state(module) -> dict:
    """A detached CPU copy of ``module``'s state_dict (what a checkpoint saves)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class Checkpoints:
    """``embedding_{e}.npy`` (the mark of a finished epoch, written last), ``<name>.pt`` (torch state_dicts and
    plain containers of tensors: loadable with weights_only=True) and ``<name>.npz`` (arrays) under one folder.
    ``None`` folder: everything in memory (nothing to resume from)."""

    def __init__(self, folder: str | os.PathLike | None):
        self.folder = None if folder is None else Path(folder)
        self._mem: dict = {}

    # embeddings -------------------------------------------------------------------------------
    def emb_path(self, epoch: int) -> Path:
        return self.folder / f"embedding_{int(epoch)}.npy"

    def has_embedding(self, epoch: int) -> bool:
        if self.folder is None:
            return ("emb", int(epoch)) in self._mem
        return self.emb_path(epoch).exists()

    def save_embedding(self, epoch: int, emb: np.ndarray) -> None:
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if self.folder is None:
            self._mem[("emb", int(epoch))] = emb
        else:
            atomic_write_npy(self.emb_path(epoch), emb)

    def load_embedding(self, epoch: int) -> np.ndarray:
        if self.folder is None:
            return self._mem[("emb", int(epoch))]
        return np.load(self.emb_path(epoch), allow_pickle=False)

    # torch objects ----------------------------------------------------------------------------
    def _pt_path(self, name: str) -> Path:
        return self.folder / f"{name}.pt"

    def has(self, name: str) -> bool:
        if self.folder is None:
            return ("pt", name) in self._mem
        return self._pt_path(name).exists()

    def save_torch(self, name: str, obj) -> None:
        import torch

        if self.folder is None:
            self._mem[("pt", name)] = obj
            return
        buf = io.BytesIO()
        torch.save(obj, buf)
        atomic_write_bytes(self._pt_path(name), buf.getvalue())

    def load_torch(self, name: str):
        import torch

        if self.folder is None:
            return self._mem[("pt", name)]
        return torch.load(self._pt_path(name), map_location="cpu", weights_only=True)

    # arrays -------------------------------------------------------------------------------------
    def save_npz(self, name: str, arrays: dict) -> None:
        if self.folder is None:
            self._mem[("npz", name)] = dict(arrays)
        else:
            atomic_write_npz(self.folder / f"{name}.npz", arrays)

    def has_npz(self, name: str) -> bool:
        if self.folder is None:
            return ("npz", name) in self._mem
        return (self.folder / f"{name}.npz").exists()

    def load_npz(self, name: str) -> dict:
        if self.folder is None:
            return self._mem[("npz", name)]
        with np.load(self.folder / f"{name}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


class RunLock:
    """One fitter per run folder, across threads and processes: an exclusive ``flock`` on ``<folder>/.lock``
    (one open file per ``RunLock``, so two locks of one process exclude each other too). The OS drops the lock
    when its holder dies, so the lock of a killed fit is stale by construction and the next ``acquire`` takes it
    over; the file names the holder (pid, host) for messages only."""

    NAME = ".lock"

    def __init__(self, folder):
        self.path = Path(folder) / self.NAME
        self._fh = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def _try(self) -> bool:
        import fcntl

        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {os.uname().nodename}\n")
        fh.flush()
        self._fh = fh
        remove_orphaned_temporaries(self.path.parent)  # a killed fitter's half-written files: it held this lock
        return True

    def acquire(self, blocking: bool = True, poll: float = 0.2, waiting=None, stop=None) -> bool:
        """Take the lock; ``blocking``: wait for it, calling ``waiting()`` every ``poll`` seconds (a follower
        reads what the holder writes meanwhile) and giving up (False) once ``stop.is_set()``."""
        import time

        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._try():
            if not blocking or (stop is not None and stop.is_set()):
                return False
            if waiting is not None:
                waiting()
            time.sleep(poll)
        return True

    def holder(self) -> str | None:
        """'<pid> <host>' of the last holder (it may have ended), or None."""
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def release(self) -> None:
        if self._fh is not None:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
