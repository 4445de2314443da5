"""Where computed results of a content folder go (its ``output_dir``): ``<content_path>/ttvis_cache`` when that
can be written, else -- a shared dataset, a read-only mount, someone else's folder -- a per-user cache keyed by
the content's identity, with a one-line notice instead of a failure.

The per-user cache is ``$TTVIS_CACHE`` when set, else the platform's user cache folder (platformdirs:
``~/.cache/ttvis_widget`` under XDG rules, ``~/Library/Caches/ttvis_widget``, ``%LOCALAPPDATA%\\ttvis_widget``).
A content folder's results live in ``<cache>/content/<name>-<identity>/``, where the identity hashes the names
and sizes of its files and the first and last 64 KiB of each (the largest 4096 files; names and sizes of the
rest): the same dataset seen at two paths (two mounts of one share) shares its results, and another dataset
at a path once used gets its own. Runs inside are keyed again by a fingerprint of the data (engine/run.py), so
a stale entry is never loaded as a result of other data.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from pathlib import Path

from .atomic import ResultWriteError, atomic_write_json

OUTPUT_DIRNAME = "ttvis_cache"
ENV = "TTVIS_CACHE"
_HASHED_FILES = 4096
_EDGE = 1 << 16


class CacheLocationNotice(UserWarning):
    """The content folder cannot be written; its results go to the per-user cache (``path``)."""

    def __init__(self, content_path, path):
        self.content_path, self.path = os.fspath(content_path), os.fspath(path)
        super().__init__(f"{self.content_path} cannot be written: results go to {self.path} (set ${ENV} to "
                         "choose another folder)")


class NoWritableCacheError(ResultWriteError):
    """Neither the content folder nor the per-user cache can be written."""


def user_cache_root() -> Path:
    """``$TTVIS_CACHE``, else the platform's user cache folder for ttvis_widget."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ttvis_widget", appauthor=False))


def can_write(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (or, when it does not exist, in its nearest existing parent,
    where it would be made). Tried for real -- file modes do not say it for root or on a read-only mount -- with
    a temporary file that is removed at once."""
    folder = Path(folder)
    while not folder.exists():
        if folder.parent == folder:
            return False
        folder = folder.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".ttvis-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def content_identity(content_path: Path) -> str:
    """A hash of what the folder holds (names, sizes, first and last 64 KiB of files), not of where it is."""
    root = Path(content_path)
    files = []
    if root.is_file():
        files = [(root.name, root)]
    else:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not (Path(dirpath) == root and d == OUTPUT_DIRNAME))
            for name in sorted(filenames):
                p = Path(dirpath) / name
                files.append((p.relative_to(root).as_posix(), p))
    sizes = {}
    for rel, p in files:
        try:
            sizes[rel] = p.stat().st_size
        except OSError:
            sizes[rel] = -1
    hashed = set(sorted(sizes, key=lambda r: (-sizes[r], r))[:_HASHED_FILES])
    h = hashlib.sha1()
    for rel, p in files:
        h.update(f"{rel}\0{sizes[rel]}\0".encode())
        if rel in hashed and sizes[rel] >= 0:
            try:
                with open(p, "rb") as f:
                    h.update(f.read(_EDGE))
                    if sizes[rel] > 2 * _EDGE:
                        f.seek(-_EDGE, os.SEEK_END)
                        h.update(f.read(_EDGE))
            except OSError:
                pass
    return h.hexdigest()[:16]


def user_cache_dir(content_path: Path, name: str | None = None) -> Path:
    """The per-user folder for the results of ``content_path``."""
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", name or Path(content_path).name or "content")[:40] or "content"
    return user_cache_root() / "content" / f"{label}-{content_identity(content_path)}"


def output_dir_for(content_path, name: str | None = None) -> Path:
    """``content_path/ttvis_cache`` when it can be written, else the per-user cache folder of this content (made
    now, with a ``content.json`` naming where the content was seen, and a ``CacheLocationNotice``)."""
    content_path = Path(content_path)
    own = content_path / OUTPUT_DIRNAME
    if can_write(own if own.exists() else content_path):
        return own
    alt = user_cache_dir(content_path, name)
    if not can_write(alt):
        raise NoWritableCacheError(alt, PermissionError(
            13, f"neither {own} nor the per-user cache can be written; set ${ENV} to a folder you can write"))
    alt.mkdir(parents=True, exist_ok=True)
    atomic_write_json(alt / "content.json", {"content_path": str(content_path.resolve()), "name": name})
    warnings.warn(CacheLocationNotice(content_path, alt), stacklevel=3)
    return alt
