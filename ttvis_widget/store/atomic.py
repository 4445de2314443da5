"""Atomic writes: write to a temporary file in the same folder, then rename over the target. A write that fails
(a full disk, a folder that cannot be written) leaves the target as it was, removes the temporary file and
raises ``ResultWriteError`` naming the target."""
from __future__ import annotations

import errno as _errno
import io
import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np


class ResultWriteError(OSError):
    """A result file could not be written (``errno``: ENOSPC for a full disk, EROFS/EACCES for a folder that
    cannot be written, ...). ``filename`` is the target; the file, if it existed, is left as it was."""

    def __init__(self, path, cause: OSError):
        code = cause.errno if cause.errno is not None else _errno.EIO
        why = cause.strerror or str(cause) or type(cause).__name__
        what = "the disk is full" if code == _errno.ENOSPC else why
        super().__init__(code, f"could not write {os.fspath(path)}: {what}; the previous state of the file "
                               "is left as it was (nothing was replaced)", os.fspath(path))
        self.cause = cause

    def __str__(self) -> str:
        return self.strerror


class _FdWriter:
    """A minimal binary file over a raw descriptor: every byte goes through ``os.write`` (one place where a
    write can fail, and where the fault tests inject ENOSPC)."""

    def __init__(self, fd: int):
        self.fd = fd

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(self.fd, view[done:done + (1 << 24)])
        return done

    def flush(self) -> None:
        pass


@contextmanager
def _atomic_file(path):
    """Yield a binary file in path's folder; on success it is fsynced and renamed over path. Any OSError on the
    way becomes ``ResultWriteError`` naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the writer's pid in the name: a later writer can tell a killed writer's leftover from a live one's file
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
        try:
            yield _FdWriter(fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(err, OSError) and not isinstance(err, ResultWriteError):
            raise ResultWriteError(path, err) from err
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
    atomic_write_bytes(path, buf.getbuffer())


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


_TEMPORARY = re.compile(r"\..+\.([0-9]+)-[^.]+\.tmp")  # .<target name>.<pid>-<random>.tmp


def remove_orphaned_temporaries(folder) -> list[Path]:
    """Delete, under ``folder``, the temporary files of writers that are no longer running on this machine (a
    fit killed mid-write leaves its half-written file behind); returns what was deleted. The caller holds the
    folder's writer lock; a file whose writer is alive, or whose name carries no pid, is left alone."""
    gone = []
    for f in Path(folder).rglob(".*.tmp"):
        m = _TEMPORARY.fullmatch(f.name)
        if m is None or _alive(int(m.group(1))):
            continue
        try:
            f.unlink()
            gone.append(f)
        except FileNotFoundError:
            pass
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
