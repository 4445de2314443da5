"""Nothing in a data folder is silently skipped: the readers list what they do not read here.

An entry that looks like part of a layout but is not read (a name that does not parse, such as ``Epoch_x`` or
``3.npy.bak``, an epoch folder the manifest does not list, a temporary file left by an interrupted write) is
reported as a :class:`~ttvis_widget.TrainingDynamicsWarning` naming it, when skipping it is safe; what cannot be
skipped safely raises a TrainingDynamicsError instead (docs/FORMATS.md, "Nothing silently skipped", says which).
The readers keep the list as ``dynamics.skipped`` too.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from ..errors import TrainingDynamicsWarning

#: clutter that operating systems and tools leave in any folder; never data, never named
IGNORED = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__", ".ipynb_checkpoints"})
#: warnings per call that name one entry each; the rest are counted in one more warning
MAX_NAMED = 10

_INT = re.compile(r"(0|[1-9][0-9]*)")
_TMP = re.compile(r"\..+\.tmp")  # store/atomic.py's temporary files: .<name>.<random>.tmp


def parse_int(text: str) -> int | None:
    """A non-negative decimal integer written as the writers write it (ASCII digits, no sign, no leading zero)."""
    return int(text) if _INT.fullmatch(text) else None


def entries(folder) -> list[os.DirEntry]:
    """The entries of ``folder`` sorted by name, without OS clutter; [] when it is not a folder."""
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if e.name not in IGNORED), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def is_temporary(name: str) -> bool:
    """A temporary file of an atomic write (store/atomic.py) that an interrupted write left behind."""
    return bool(_TMP.fullmatch(name))


def not_read(entry_name: str, expected: str) -> str:
    """The reason given for an entry that is not read; ``expected`` says what the folder holds."""
    if is_temporary(entry_name):
        return "a temporary file left by an interrupted write; not read"
    return f"not read: {expected}"


def numbered(folder: Path, prefix: str, suffix: str, folders: bool, expected: str):
    """Entries of ``folder`` named ``<prefix><int><suffix>`` (folders or files): ``({int: path}, skipped)``, where
    skipped lists the other entries with the reason (``expected`` says what the folder holds)."""
    found, skipped = {}, []
    for e in entries(folder):
        name = e.name
        core = name[len(prefix):len(name) - len(suffix)] if name.startswith(prefix) and name.endswith(suffix) \
            and len(name) > len(prefix) + len(suffix) else ""
        k = parse_int(core)
        if k is None or e.is_dir() != folders:
            skipped.append((Path(e.path), not_read(name, expected)))
        else:
            found[k] = Path(e.path)
    return found, skipped


def image_strays(folder: Path, n_samples: int) -> list[tuple[Path, str]]:
    """Entries of a per-sample image folder (``<i>.png``) that are not read: other names, indices >= N."""
    out = []
    for e in entries(folder):
        stem = e.name[:-4] if e.name.endswith(".png") else None
        i = None if stem is None else parse_int(stem)
        if i is None or not e.is_file():
            out.append((Path(e.path), not_read(e.name, "this folder holds one <i>.png per sample")))
        elif i >= n_samples:
            out.append((Path(e.path), f"not read: sample {i} is out of range (N = {n_samples})"))
    return out


def warn_skipped(skipped: list[tuple[Path, str]], stacklevel: int = 4) -> None:
    """One TrainingDynamicsWarning per skipped entry, the first MAX_NAMED of them; then one that counts the rest."""
    for path, problem in skipped[:MAX_NAMED]:
        warnings.warn(TrainingDynamicsWarning(path, problem), stacklevel=stacklevel)
    rest = skipped[MAX_NAMED:]
    if rest:
        names = ", ".join(str(p) for p, _ in rest[:5])
        warnings.warn(TrainingDynamicsWarning(
            None, f"{len(rest)} more entries are not read ({names}{', ...' if len(rest) > 5 else ''}); "
                  "dynamics.skipped lists them all with the reason"), stacklevel=stacklevel)
