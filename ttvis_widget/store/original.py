"""Readers for the original tool's three on-disk layouts (docs/FORMATS.md: "Era A", "Era B", "Era C" and
"Validation in common" say what is read, validated and refused).

* ``era_a`` (2022 - Oct 2024): ``Model/{EPOCH_NAME}_{e}/`` with ``subject_model.pth`` and optionally
  ``train_data.npy`` / ``test_data.npy``; ``Training_data/`` and ``Testing_data/`` tensors; ``sprites/``
  or ``Sprites/``; ``config.json`` keyed by method name.
* ``era_b`` (Dec 2024 - Apr 2025): ``dataset/{representation,prediction}/{e}.npy``,
  ``dataset/label/labels.npy``, root ``index.json``, ``model/{e}.pth``, ``model.py``, ``config.json``.
* ``era_c`` (Apr 2025 -): ``dataset/{info.json,labels.npy,index.json,image/,text.txt}``,
  ``epochs/epoch_{k}/{embeddings.npy,predictions.npy,model.pth}``, ``scripts/model.py``.

Every folder is untrusted input: arrays are read with ``allow_pickle=False``, checkpoints with
``weights_only=True``, and the folder's ``model.py`` only runs when the caller passed
``trust_model_code=True`` (it is imported from its path and its class is looked up by name, never
evaluated). Nothing is ever written into the user's files; computed results go to ``output_dir``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

import numpy as np

from ..errors import TrainingDynamicsError, UntrustedCodeError
from .atomic import atomic_write_json, atomic_write_npy
from .dynamics import TrainingDynamics, check_epoch_sequence, check_labels, png_bytes
from .head import CallableHead, infer_linear_head

__all__ = ["open_layout", "EraADynamics", "EraBDynamics", "EraCDynamics", "read_lenient_json"]

_TRUST_HINT = ("pass trust_model_code=True to allow running it (only for folders you trust: "
               "it executes that file's code)")


# ------------------------------------------------------------------------------------------------ files
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


def _open_npy(path: Path, what: str, required: bool = True):
    path = Path(path)
    if not path.is_file():
        if required:
            raise TrainingDynamicsError(path, f"{what} is missing")
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
    if not path.is_file():
        if required:
            raise TrainingDynamicsError(path, f"{what} is missing")
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
    if arr.dtype.kind not in "fiu":
        raise TrainingDynamicsError(path, f"{what} has dtype {arr.dtype}; expected a float array")
    if arr.ndim != 2:
        raise TrainingDynamicsError(path, f"{what} has shape {arr.shape}; expected 2 dimensions [N, D]")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise TrainingDynamicsError(path, f"{what} has {arr.shape[0]} rows; expected {n_rows} (one per sample)")
    if width is not None and arr.shape[1] != width:
        raise TrainingDynamicsError(path, f"{what} has {arr.shape[1]} columns; expected {width} as in {width_from}")
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


def _file_signature(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        p = Path(p)
        try:
            st = p.stat()
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(f"{p.name}:-;".encode())
    return h.hexdigest()[:16]


def _load_model_class(model_py: Path, class_name: str | None):
    """Import ``model_py`` from its path and return the class named ``class_name`` (never evaluated)."""
    import torch

    model_py = Path(model_py)
    if not model_py.is_file():
        raise TrainingDynamicsError(model_py, "model code is missing")
    # keyed by path and file signature, so an edited model.py is imported afresh
    mod_name = "ttvis_user_model_" + hashlib.sha256(
        (str(model_py.resolve()) + _file_signature([model_py])).encode()).hexdigest()[:12]
    mod = sys.modules.get(mod_name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(mod_name, model_py)
        if spec is None or spec.loader is None:
            raise TrainingDynamicsError(model_py, "cannot import the model code")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        try:
            spec.loader.exec_module(mod)
        except Exception as e:  # noqa: BLE001
            sys.modules.pop(mod_name, None)
            raise TrainingDynamicsError(model_py, f"importing the model code failed: {type(e).__name__}: {e}") from e
    if class_name:
        if not isinstance(class_name, str) or not class_name.isidentifier():
            raise TrainingDynamicsError(model_py, f"model class name {class_name!r} is not a Python identifier")
        cls = getattr(mod, class_name, None)
        if cls is None:
            # configs often name the class in another case (resnet18 vs ResNet18)
            matches = [v for k, v in vars(mod).items() if k.lower() == class_name.lower() and isinstance(v, type)]
            cls = matches[0] if len(matches) == 1 else None
        if not isinstance(cls, type):
            raise TrainingDynamicsError(model_py, f"defines no class {class_name!r}")
        return cls
    cands = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, torch.nn.Module)
             and v.__module__ == mod_name and hasattr(v, "feature") and hasattr(v, "prediction")]
    if len(cands) != 1:
        raise TrainingDynamicsError(model_py, "cannot tell which class is the subject model: name it in the config "
                                              f"(found {[c.__name__ for c in cands]} with feature()/prediction())")
    return cands[0]


def _build_model(cls, state_dict, model_py: Path, ckpt: Path):
    try:
        model = cls()
    except Exception as e:  # noqa: BLE001
        raise TrainingDynamicsError(model_py, f"cannot instantiate {cls.__name__}(): {type(e).__name__}: {e}") from e
    try:
        model.load_state_dict(state_dict)
    except Exception as e:  # noqa: BLE001
        raise TrainingDynamicsError(ckpt, f"does not fit {cls.__name__} from {model_py.name}: {e}") from e
    model.train(False)
    for p in model.parameters():
        p.requires_grad_(False)
    if not (callable(getattr(model, "feature", None)) and callable(getattr(model, "prediction", None))):
        raise TrainingDynamicsError(model_py, f"{cls.__name__} needs feature(x) and prediction(h) methods")
    return model


class ModelPredictionHead(CallableHead):
    """``model.prediction`` of a trusted subject model as a head; ``torch_module(device)`` moves a copy."""

    def __init__(self, model, dim: int, n_classes: int, source: str):
        super().__init__(model.prediction, dim, n_classes, source=source)
        self.model = model
        self._modules = {}

    def torch_module(self, device="cpu"):
        import copy

        from torch import nn

        key = str(device)
        if key not in self._modules:
            inner = self.model if key == "cpu" else copy.deepcopy(self.model).to(device)

            class _Prediction(nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, h):
                    return self.m.prediction(h)

            mod = _Prediction(inner).train(False)
            for p in mod.parameters():
                p.requires_grad_(False)
            self._modules[key] = mod
        return self._modules[key]


def _prediction_head(model, dim, n_classes, source):
    import torch

    if n_classes is None:
        with torch.no_grad():
            n_classes = int(model.prediction(torch.zeros(1, dim)).shape[1])
    return ModelPredictionHead(model, dim, n_classes, source=source)


class _OriginalBase(TrainingDynamics):
    """Shared machinery: image lookup by pattern, trusted model code, checkpoint heads."""

    def __init__(self, root: Path, trust_model_code: bool, allow_gaps: bool):
        super().__init__(root)
        self.trust_model_code = bool(trust_model_code)
        self.allow_gaps = bool(allow_gaps)
        self._image_files: list[Path] | None = None  # candidate folders for {i}.png
        self._model_cls = None
        self._texts = None

    # subclasses set these
    model_py: Path | None = None
    model_class_name: str | None = None

    def checkpoint_path(self, epoch) -> Path | None:
        return None

    def _model_class(self):
        if self._model_cls is None:
            self._model_cls = _load_model_class(self.model_py, self.model_class_name)
        return self._model_cls

    def _load_head(self, epoch):
        ckpt = self.checkpoint_path(epoch)
        if ckpt is None or not ckpt.is_file():
            return None
        sd = _state_dict(_torch_load(ckpt, f"subject model of epoch {epoch}"), ckpt)
        ncls = len(self.classes) if self.classes else self._n_classes
        if self.trust_model_code and self.model_py is not None and self.model_py.is_file():
            model = _build_model(self._model_class(), sd, self.model_py, ckpt)
            return _prediction_head(model, self.dim, ncls, source=f"{self.model_py.name} prediction()")
        return infer_linear_head(sd, self.dim, ncls, ckpt)

    def _image_path(self, i: int) -> Path | None:
        for d in self._image_dirs:
            p = d / f"{i}.png"
            if p.is_file():
                return p
        return None

    _image_dirs: list[Path] = []

    def _load_image(self, i):
        p = self._image_path(i)
        if p is None:
            return None
        try:
            return p.read_bytes()
        except OSError as e:
            raise TrainingDynamicsError(p, f"cannot read sample image ({e.strerror or e})") from e

    def _load_text(self, i):
        if self._texts is None:
            return None
        return self._texts[i] if i < len(self._texts) else None

    def _read_texts(self, path: Path):
        try:
            self._texts = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise TrainingDynamicsError(path, f"cannot read sample texts ({e})") from e


# ------------------------------------------------------------------------------------------------ era A
class EraADynamics(_OriginalBase):
    """``Model/{EPOCH_NAME}_{e}/`` layout (2022 - Oct 2024)."""

    layout = "era_a"

    def __init__(self, content_path, trust_model_code: bool = False, allow_gaps: bool = False):
        root = Path(content_path)
        super().__init__(root, trust_model_code, allow_gaps)
        self.model_dir = root / "Model"
        self.model_py = self.model_dir / "model.py"
        cfg_path = root / "config.json"
        self.config = {}
        self.method = None
        if cfg_path.exists():
            cfg = read_lenient_json(cfg_path, "config.json")
            if not isinstance(cfg, dict):
                raise TrainingDynamicsError(cfg_path, "expected an object keyed by method name")
            if "EPOCH_START" in cfg or "EPOCH_END" in cfg:
                self.config = cfg
            else:
                blocks = [(k, v) for k, v in cfg.items() if isinstance(v, dict)]
                if not blocks:
                    raise TrainingDynamicsError(cfg_path, 'no method block found (expected e.g. {"DVI": {...}})')
                self.method, self.config = blocks[0]
        c = self.config
        self.epoch_name = str(c.get("EPOCH_NAME", "Epoch"))
        training = c.get("TRAINING") if isinstance(c.get("TRAINING"), dict) else {}
        self.model_class_name = training.get("NET")
        classes = c.get("CLASSES")
        if classes is not None:
            if not isinstance(classes, list):
                raise TrainingDynamicsError(cfg_path, "CLASSES must be a list of class names")
            self.classes = [str(x) for x in classes]
        self.epochs = self._find_epochs(cfg_path)

        # sample counts: recorded representations, else label tensors, else the config
        td, te = root / "Training_data", root / "Testing_data"
        self._train_data_path = td / "training_dataset_data.pth"
        self._test_data_path = te / "testing_dataset_data.pth"
        tr_lab = _torch_load(td / "training_dataset_label.pth", "training labels", required=False)
        te_lab = _torch_load(te / "testing_dataset_label.pth", "testing labels", required=False)
        self._computed: set[int] = set()
        n_train = n_test = None
        dim = None
        for e in self.epochs:
            d = self.epoch_dir(e)
            tr = _open_npy(d / "train_data.npy", f"training representations of epoch {e}", required=False)
            if tr is None:
                self._computed.add(e)
                continue
            dim = _check_header(tr, d / "train_data.npy", f"training representations of epoch {e}", n_train, dim)
            n_train = tr.shape[0]
            te_p = d / "test_data.npy"
            ts = _open_npy(te_p, f"test representations of epoch {e}", required=False)
            if ts is None:
                if n_test not in (None, 0) or te_lab is not None or self._test_data_path.exists():
                    raise TrainingDynamicsError(te_p, f"test representations of epoch {e} are missing "
                                                      "(train_data.npy is there and the folder has test data)")
                n_test = 0
            else:
                _check_header(ts, te_p, f"test representations of epoch {e}", n_test, dim,
                              width_from="train_data.npy")
                n_test = ts.shape[0]
        if n_train is None:
            if tr_lab is not None:
                n_train, n_test = len(tr_lab), (0 if te_lab is None else len(te_lab))
            elif "train_num" in training:
                n_train, n_test = int(training["train_num"]), int(training.get("test_num", 0))
            else:
                raise TrainingDynamicsError(td / "training_dataset_label.pth",
                                            "cannot tell the number of samples: no train_data.npy in any epoch "
                                            "folder and no training labels")
        self.n_train, self.n_test = int(n_train), int(n_test or 0)
        self.n_samples = self.n_train + self.n_test
        self._dim = dim
        # labels
        if tr_lab is not None:
            ncls = len(self.classes) if self.classes else None
            lab = [check_labels(_to_numpy(tr_lab), td / "training_dataset_label.pth", self.n_train, ncls)]
            if self.n_test:
                if te_lab is None:
                    raise TrainingDynamicsError(te / "testing_dataset_label.pth",
                                                f"testing labels are missing ({self.n_test} test samples)")
                lab.append(check_labels(_to_numpy(te_lab), te / "testing_dataset_label.pth", self.n_test, ncls))
            self.labels = np.concatenate(lab)
        self.split = np.concatenate([np.zeros(self.n_train, np.uint8), np.ones(self.n_test, np.uint8)])
        # epochs whose representations must be computed: need the model code (or our cache)
        if self._computed:
            for e in sorted(self._computed):
                ck = self.checkpoint_path(e)
                if not ck.is_file():
                    raise TrainingDynamicsError(ck, f"epoch {e} has neither train_data.npy nor subject_model.pth")
            if not self.trust_model_code and not all(self._cache_path(e).is_file() for e in self._computed):
                need = sorted(e for e in self._computed if not self._cache_path(e).is_file())
                raise UntrustedCodeError(
                    self.model_py, f"epochs {need[:10]}{'...' if len(need) > 10 else ''} have no recorded "
                                   f"representations (train_data.npy); computing them runs {self.model_py.name}'s "
                                   f"feature(): {_TRUST_HINT}")
            if self.trust_model_code:
                if not self.model_py.is_file():
                    raise TrainingDynamicsError(self.model_py, "model code is missing (needed to compute "
                                                               "representations of epochs without train_data.npy)")
                if not self._train_data_path.is_file():
                    raise TrainingDynamicsError(self._train_data_path, "training inputs are missing (needed to "
                                                                       "compute representations)")
                self._inputs()  # memory-mapped: checks type and sample counts without reading the data
        # media: sprites, else images derived from the input tensors
        self._image_dirs = [p for p in (root / "sprites", root / "Sprites") if p.is_dir()]
        self._derived_images = None
        if self._image_dirs:
            self.media = "image"
        elif self._train_data_path.is_file():
            x = _torch_load(self._train_data_path, "training inputs", mmap=True)
            if hasattr(x, "shape") and len(x.shape) in (3, 4) and (len(x.shape) == 3 or x.shape[1] in (1, 3)) \
                    and min(x.shape[-2:]) >= 4:
                self.media = "image"

    def _find_epochs(self, cfg_path) -> list[int]:
        c = self.config
        prefix = f"{self.epoch_name}_"
        if not self.model_dir.is_dir():
            raise TrainingDynamicsError(self.model_dir, "Model folder is missing")
        found = set()
        for p in self.model_dir.iterdir():
            if p.is_dir() and p.name.startswith(prefix) and p.name[len(prefix):].isdigit():
                found.add(int(p.name[len(prefix):]))
        if "EPOCH_START" in c or "EPOCH_END" in c:
            try:
                start, end = int(c.get("EPOCH_START", 1)), int(c["EPOCH_END"])
                period = int(c.get("EPOCH_PERIOD", 1))
            except (KeyError, TypeError, ValueError) as e:
                raise TrainingDynamicsError(cfg_path, f"EPOCH_START/EPOCH_END/EPOCH_PERIOD must be integers ({e})") from e
            if period < 1 or end < start:
                raise TrainingDynamicsError(cfg_path, f"bad epoch range EPOCH_START={start} EPOCH_END={end} "
                                                      f"EPOCH_PERIOD={period}")
            wanted = list(range(start, end + 1, period))
            missing = [e for e in wanted if e not in found]
            if missing and not (self.allow_gaps and len(missing) < len(wanted)):
                names = ", ".join(f"Model/{prefix}{e}" for e in missing[:10])
                raise TrainingDynamicsError(
                    self.model_dir, f"config.json asks for epochs {start}..{end} step {period}, but the epoch "
                                    f"folder(s) {names}{'...' if len(missing) > 10 else ''} are missing"
                                    + ("" if self.allow_gaps else " (pass allow_gaps=True to skip missing epochs)"))
            return check_epoch_sequence([e for e in wanted if e in found], self.model_dir, True)
        if not found:
            raise TrainingDynamicsError(self.model_dir, f"no epoch folders Model/{prefix}<e> found")
        return check_epoch_sequence(found, self.model_dir, self.allow_gaps)

    def epoch_dir(self, epoch) -> Path:
        return self.model_dir / f"{self.epoch_name}_{int(epoch)}"

    def checkpoint_path(self, epoch) -> Path:
        return self.epoch_dir(epoch) / "subject_model.pth"

    def _cache_path(self, epoch) -> Path:
        sig = _file_signature([self.checkpoint_path(epoch), self.model_py, self._train_data_path, self._test_data_path])
        return self.output_dir / "era_a_representations" / f"{self.epoch_name}_{int(epoch)}-{sig}.npy"

    def _load_representation(self, epoch):
        d = self.epoch_dir(epoch)
        if epoch not in self._computed:
            tr_p = d / "train_data.npy"
            tr = _open_npy(tr_p, f"training representations of epoch {epoch}")
            _check_header(tr, tr_p, f"training representations of epoch {epoch}", self.n_train, self._dim)
            if not self.n_test:
                return tr, tr_p
            te_p = d / "test_data.npy"
            ts = _open_npy(te_p, f"test representations of epoch {epoch}")
            _check_header(ts, te_p, f"test representations of epoch {epoch}", self.n_test, tr.shape[1],
                          width_from="train_data.npy")
            from .dynamics import check_matrix

            # check each part against its own file so that NaNs name the right one
            check_matrix(tr, tr_p, f"training representations of epoch {epoch}")
            check_matrix(ts, te_p, f"test representations of epoch {epoch}")
            return np.concatenate([np.asarray(tr, np.float32), np.asarray(ts, np.float32)]), d
        cp = self._cache_path(epoch)
        if cp.is_file():
            return _open_npy(cp, f"cached representations of epoch {epoch}"), cp
        if not self.trust_model_code:
            raise UntrustedCodeError(self.model_py, f"representations of epoch {epoch} must be computed with "
                                                    f"{self.model_py.name}: {_TRUST_HINT}")
        reps = self._compute_representation(epoch)
        atomic_write_npy(cp, reps)
        atomic_write_json(cp.parent / "README.json", {
            "what": "representations computed with Model/model.py feature() (train samples, then test)",
            "epoch_name": self.epoch_name})
        return reps, self.checkpoint_path(epoch)

    def _inputs(self):
        import torch

        xs = [_torch_load(self._train_data_path, "training inputs", mmap=True)]
        if self.n_test:
            xs.append(_torch_load(self._test_data_path, "testing inputs", mmap=True))
        for x, p, n in zip(xs, (self._train_data_path, self._test_data_path), (self.n_train, self.n_test)):
            if not isinstance(x, torch.Tensor):
                raise TrainingDynamicsError(p, f"expected one tensor of inputs, got {type(x).__name__}")
            if x.shape[0] != n:
                raise TrainingDynamicsError(p, f"holds {x.shape[0]} samples; expected {n}")
        return xs

    def _compute_representation(self, epoch) -> np.ndarray:
        import torch

        ck = self.checkpoint_path(epoch)
        model = _build_model(self._model_class(), _state_dict(_torch_load(ck, f"subject model of epoch {epoch}"), ck),
                             self.model_py, ck)
        out = []
        with torch.no_grad():
            for x in self._inputs():
                for s in range(0, len(x), 200):
                    out.append(model.feature(x[s:s + 200].float()).flatten(1).float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    def _load_image(self, i):
        if self._image_dirs:
            return super()._load_image(i)
        if self._derived_images is None:
            xs = [_to_numpy(x) for x in self._inputs()]
            from .writer import images_from_inputs

            self._derived_images = images_from_inputs(np.concatenate(xs))
            if self._derived_images is None:
                self.media = None
                return None
        return png_bytes(self._derived_images[i])


# ------------------------------------------------------------------------------------------------ eras B, C
class _PerEpochFiles(_OriginalBase):
    """One [N, D] array per epoch plus optional logits and checkpoints."""

    def _rep_path(self, e) -> Path:
        raise NotImplementedError

    def _pred_path(self, e) -> Path:
        raise NotImplementedError

    def _check_epoch_headers(self, preds_expected: bool):
        n = dim = ncls = None
        ncls = len(self.classes) if self.classes else None
        self._has_pred = {}
        for e in self.epochs:
            rp = self._rep_path(e)
            rep = _open_npy(rp, f"representation of epoch {e}")
            dim = _check_header(rep, rp, f"representation of epoch {e}", n, dim)
            n = rep.shape[0]
            pp = self._pred_path(e)
            pred = _open_npy(pp, f"prediction of epoch {e}", required=preds_expected)
            self._has_pred[e] = pred is not None
            if pred is not None:
                ncls = _check_header(pred, pp, f"prediction of epoch {e}", n, ncls,
                                     width_from="the class list" if self.classes and ncls == len(self.classes)
                                     else "the other epochs")
        self.n_samples, self._dim, self._n_classes = int(n), dim, ncls

    def _load_representation(self, epoch):
        p = self._rep_path(epoch)
        return _open_npy(p, f"representation of epoch {epoch}"), p

    def _load_prediction(self, epoch):
        if not self._has_pred.get(epoch):
            return None, None
        p = self._pred_path(epoch)
        return _open_npy(p, f"prediction of epoch {epoch}"), p


def _optional_json_object(path: Path, what: str, problem: str) -> dict:
    """The JSON object in ``path`` ({} when the file is absent); anything else is a TrainingDynamicsError."""
    if not path.exists():
        return {}
    obj = read_lenient_json(path, what)
    if not isinstance(obj, dict):
        raise TrainingDynamicsError(path, problem)
    return obj


def _int_stems(folder: Path, suffix: str) -> list[int]:
    return [int(p.name[: -len(suffix)]) for p in folder.iterdir()
            if p.is_file() and p.name.endswith(suffix) and p.name[: -len(suffix)].isdigit()]


class EraBDynamics(_PerEpochFiles):
    """``dataset/{representation,prediction,label}`` layout (Dec 2024 - Apr 2025)."""

    layout = "era_b"

    def __init__(self, content_path, trust_model_code: bool = False, allow_gaps: bool = False):
        root = Path(content_path)
        super().__init__(root, trust_model_code, allow_gaps)
        ds = root / "dataset"
        self.model_py = root / "model.py"
        cfg_path = root / "config.json"
        cfg = _optional_json_object(cfg_path, "config.json", "expected a JSON object")
        dcfg = cfg.get("dataset") if isinstance(cfg.get("dataset"), dict) else cfg
        if dcfg.get("classes") is not None:
            if not isinstance(dcfg["classes"], list):
                raise TrainingDynamicsError(cfg_path, '"classes" must be a list of class names')
            self.classes = [str(c) for c in dcfg["classes"]]
        self.task = str(dcfg.get("taskType", "classification"))
        name = dcfg.get("model") or cfg.get("model") or cfg.get("net")
        self.model_class_name = name if isinstance(name, str) else None
        rep_dir = ds / "representation"
        if not rep_dir.is_dir():
            raise TrainingDynamicsError(rep_dir, "folder of per-epoch representations is missing")
        self.epochs = check_epoch_sequence(_int_stems(rep_dir, ".npy"), rep_dir, allow_gaps)
        self._check_epoch_headers(preds_expected=(ds / "prediction").is_dir())
        lab_p = ds / "label" / "labels.npy"
        lab = _open_npy(lab_p, "labels")
        if lab is not None:
            self.labels = check_labels(np.asarray(lab), lab_p, self.n_samples,
                                       len(self.classes) if self.classes else None)
        if (root / "index.json").exists():
            self.split = _read_index(root / "index.json", self.n_samples)
        # sample media from the config's pattern, else dataset/image/{i}.png
        pattern = None
        attrs = dcfg.get("attributes") if isinstance(dcfg.get("attributes"), dict) else {}
        src = (attrs.get("sample") or {}).get("source") if isinstance(attrs.get("sample"), dict) else None
        if isinstance(src, dict) and isinstance(src.get("pattern"), str):
            pattern = src["pattern"]
        self._pattern = None
        if pattern and "${index}" in pattern and pattern.endswith(".png"):
            self._pattern = pattern
        elif (ds / "image").is_dir():
            self._pattern = "dataset/image/${index}.png"
        elif pattern and pattern.endswith(".txt") and "${index}" not in pattern:
            self._read_texts(root / pattern)
            self.media = "text"
        if self._pattern:
            if ".." in Path(self._pattern).parts or Path(self._pattern).is_absolute():
                raise TrainingDynamicsError(cfg_path, f"sample pattern {pattern!r} points outside the folder")
            self.media = "image"

    def _rep_path(self, e):
        return self.content_path / "dataset" / "representation" / f"{e}.npy"

    def _pred_path(self, e):
        return self.content_path / "dataset" / "prediction" / f"{e}.npy"

    def checkpoint_path(self, epoch):
        return self.content_path / "model" / f"{int(epoch)}.pth"

    def _image_path(self, i):
        p = self.content_path / self._pattern.replace("${index}", str(int(i)))
        return p if p.is_file() else None


class EraCDynamics(_PerEpochFiles):
    """``dataset/`` + ``epochs/epoch_{k}/`` ("MTPNet") layout (Apr 2025 -)."""

    layout = "era_c"

    def __init__(self, content_path, trust_model_code: bool = False, allow_gaps: bool = False):
        root = Path(content_path)
        super().__init__(root, trust_model_code, allow_gaps)
        ds = root / "dataset"
        self.model_py = root / "scripts" / "model.py"
        info_p = ds / "info.json"
        info = _optional_json_object(info_p, "dataset info", "expected a JSON object with classes and model")
        if info.get("classes") is not None:
            if not isinstance(info["classes"], list):
                raise TrainingDynamicsError(info_p, '"classes" must be a list of class names')
            self.classes = [str(c) for c in info["classes"]]
        self.model_class_name = info.get("model") if isinstance(info.get("model"), str) else None
        ep_dir = root / "epochs"
        if not ep_dir.is_dir():
            raise TrainingDynamicsError(ep_dir, "folder of epochs (epochs/epoch_<k>/) is missing")
        found = [int(p.name[6:]) for p in ep_dir.iterdir() if p.is_dir() and p.name.startswith("epoch_")
                 and p.name[6:].isdigit()]
        # the original tool allows any step; unevenly spaced epochs still need allow_gaps here
        self.epochs = check_epoch_sequence(found, ep_dir, allow_gaps)
        self._check_epoch_headers(preds_expected=False)
        lab_p = ds / "labels.npy"
        lab = _open_npy(lab_p, "labels", required=False)
        if lab is not None:
            self.labels = check_labels(np.asarray(lab), lab_p, self.n_samples,
                                       len(self.classes) if self.classes else None)
            if self.classes is None and len(self.labels) and self._n_classes is None:
                self._n_classes = int(self.labels.max()) + 1
        if (ds / "index.json").exists():
            self.split = _read_index(ds / "index.json", self.n_samples)
        self._image_dirs = [p for p in (ds / "image", ds / "images") if p.is_dir()]
        if self._image_dirs:
            self.media = "image"
        elif (ds / "text.txt").is_file():
            self._read_texts(ds / "text.txt")
            self.media = "text"

    def _rep_path(self, e):
        return self.content_path / "epochs" / f"epoch_{e}" / "embeddings.npy"

    def _pred_path(self, e):
        return self.content_path / "epochs" / f"epoch_{e}" / "predictions.npy"

    def checkpoint_path(self, epoch):
        return self.content_path / "epochs" / f"epoch_{int(epoch)}" / "model.pth"


_READERS = {"era_a": EraADynamics, "era_b": EraBDynamics, "era_c": EraCDynamics}


def open_layout(layout: str, path, *, trust_model_code: bool = False, allow_gaps: bool = False, **kwargs):
    """Open ``path`` with the reader for ``layout`` ('era_a', 'era_b' or 'era_c')."""
    if layout not in _READERS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {sorted(_READERS)} or 'ttvis'")
    if kwargs:
        raise TypeError(f"unexpected arguments: {sorted(kwargs)}")
    root = Path(path)
    if not root.is_dir():
        raise TrainingDynamicsError(root, "folder does not exist" if not root.exists() else "is not a folder")
    return _READERS[layout](root, trust_model_code=trust_model_code, allow_gaps=allow_gaps)
