"""Reading the original tool's files safely: lenient JSON, .npy with a header check and no pickles, .pth with
``weights_only=True``, state_dicts, train/test index files, and file signatures for caches keyed by the data.
Every problem is a ``TrainingDynamicsError`` naming the file."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ...errors import TrainingDynamicsError
from ..dynamics import check_shape


def read_lenient_json(path: Path, what: str = "JSON file"):
    """Parse JSON that may carry ``//`` / ``/* */`` comments and trailing commas (the original tool's documented
    config example has both)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise TrainingDynamicsError(path, f"{what} is missing") from e
    except (OSError, UnicodeDecodeError) as e:
        raise TrainingDynamicsError(path, f"cannot read {what} ({e})") from e
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(_strip_json_extras(text))
    except json.JSONDecodeError as e:
        raise TrainingDynamicsError(path, f"{what} is not valid JSON ({e})") from e


def _strip_json_extras(text: str) -> str:
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':  # copy a string literal verbatim
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            out.append(c)
            i += 1
    cleaned = "".join(out)
    return re.sub(r",(\s*[}\]])", r"\1", cleaned)


def _present(path: Path, what: str, required: bool) -> bool:
    """Whether ``path`` is a file; a missing required file is a TrainingDynamicsError naming it."""
    if path.is_file():
        return True
    if required:
        raise TrainingDynamicsError(path, f"{what} is missing")
    return False


def _open_npy(path: Path, what: str, required: bool = True):
    path = Path(path)
    if not _present(path, what, required):
        return None
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise TrainingDynamicsError(path, f"cannot read {what} ({e.strerror or e})") from e
    if magic != b"\x93NUMPY":
        raise TrainingDynamicsError(path, f"cannot read {what}: not a .npy file (bad header)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        msg = str(e)
        if "pickle" in msg.lower():
            raise TrainingDynamicsError(path, f"{what} holds Python objects (a pickled/object array); "
                                              "expected a numeric array") from e
        raise TrainingDynamicsError(path, f"cannot read {what} as a .npy array ({e})") from e
    except Exception as e:  # noqa: BLE001 - anything unreadable is a data error
        raise TrainingDynamicsError(path, f"cannot read {what} as a .npy array ({e})") from e


def _torch_load(path: Path, what: str, required: bool = True, mmap: bool = False):
    path = Path(path)
    if not _present(path, what, required):
        return None
    import torch

    try:
        if mmap:
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:
                pass  # legacy (non-zip) files cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise TrainingDynamicsError(path, f"cannot read {what} as a plain-tensor .pth file "
                                          f"(loaded with weights_only=True): {type(e).__name__}: {e}") from e


def _state_dict(obj, path: Path) -> dict:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise TrainingDynamicsError(path, "expected a state_dict (a dict of tensors)")
    return obj


def _to_numpy(t) -> np.ndarray:
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _check_header(arr, path, what, n_rows=None, width=None, width_from="the other epochs") -> int:
    """Shape/dtype checks on a memory-mapped array (no data read); returns its column count."""
    check_shape(arr, path, what, n_rows, width, width_from)
    return int(arr.shape[1])


def _read_index(path: Path, n: int) -> np.ndarray:
    """{"train": [...], "test": [...]} -> split uint8 [N] (samples named in neither count as train)."""
    idx = read_lenient_json(path, "train/test index")
    if not isinstance(idx, dict) or not any(k in idx for k in ("train", "test")):
        raise TrainingDynamicsError(path, 'expected {"train": [...], "test": [...]}')
    split = np.zeros(n, np.uint8)
    seen = {}
    for part, key in ((0, "train"), (1, "test")):
        ids = idx.get(key, [])
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise TrainingDynamicsError(path, f'"{key}" must be a list of integer sample ids')
        arr = np.asarray(ids, np.int64)
        if len(arr) and (arr.min() < 0 or arr.max() >= n):
            raise TrainingDynamicsError(path, f'"{key}" holds sample ids outside [0, {n}) (N = {n})')
        for i in arr.tolist():
            if seen.get(i, part) != part:
                raise TrainingDynamicsError(path, f"sample {i} is listed both in train and test")
            seen[i] = part
        split[arr] = part
    return split


def _optional_json_object(path: Path, what: str, problem: str) -> dict:
    """The JSON object in ``path`` ({} when the file is absent); anything else is a TrainingDynamicsError."""
    if not path.exists():
        return {}
    obj = read_lenient_json(path, what)
    if not isinstance(obj, dict):
        raise TrainingDynamicsError(path, problem)
    return obj
