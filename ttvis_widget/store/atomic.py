"""Atomic writes: write to a temporary file in the same folder, then rename over the target."""
from __future__ import annotations

import io
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


@contextmanager
def _atomic_file(path):
    """Yield a binary file in path's folder; on success it is fsynced and renamed over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with _atomic_file(path) as f:
        f.write(data)


def atomic_write_npy(path, array: np.ndarray) -> None:
    with _atomic_file(path) as f:
        np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)


def atomic_write_npz(path, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())
