"""Reader of the original tool's era-A layout, ``Model/{EPOCH_NAME}_{e}/`` (2022 - Oct 2024; docs/FORMATS.md
"Era A"): recorded or model-computed representations, config.json keyed by method, sprites or derived images."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import TrainingDynamicsError, UntrustedCodeError
from ..atomic import atomic_write_json, atomic_write_npy
from ..dynamics import check_epoch_sequence, check_labels, file_signature, png_bytes
from ..strays import entries, image_strays, is_temporary, not_read, parse_int
from .base import _OriginalBase
from .files import _check_header, _open_npy, _state_dict, _to_numpy, _torch_load, read_lenient_json
from .model_code import _TRUST_HINT, _build_model


#: an epoch folder's files that are read; other files named like them are reported as not read
EPOCH_FILES = ("train_data.npy", "test_data.npy", "subject_model.pth")
_EPOCH_STEMS = ("train_data", "test_data", "subject_model")
#: the original tool's per-epoch train/test accuracies (Vis/subject_model_eval.py)
EVAL_FILE = "subject_model_eval.json"


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
                if (d / "test_data.npy").exists():
                    raise TrainingDynamicsError(d / "train_data.npy", f"training representations of epoch {e} are "
                                                                      "missing, but test_data.npy is there")
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
        for e in self.epochs:
            for f in entries(self.epoch_dir(e)):
                if f.name not in EPOCH_FILES and (f.name.startswith(_EPOCH_STEMS) or is_temporary(f.name)):
                    self._skip(f.path, not_read(f.name, f"an epoch folder's files are {', '.join(EPOCH_FILES)}"))
        for d in self._image_dirs:
            self.skipped += image_strays(d, self.n_samples)
        self._eval_figures = self._read_eval_figures()
        self._report_skipped()

    def _read_eval_figures(self) -> dict[int, dict]:
        """Accuracies from ``Model/subject_model_eval.json`` (the original's subject_model_eval.py:
        ``{"train_acc": {"<e>": fraction}, "test_acc": {...}}``). What does not parse is named in a warning, and
        those figures are computed from the logits instead."""
        p = self.model_dir / EVAL_FILE
        if not p.is_file():
            return {}
        try:
            obj = read_lenient_json(p, "subject-model evaluation")
        except TrainingDynamicsError as e:
            self._skip(p, f"not read ({e.problem}); the accuracies are computed from the logits instead")
            return {}
        if not isinstance(obj, dict):
            self._skip(p, 'not read: expected {"train_acc": {epoch: accuracy}, "test_acc": {...}}')
            return {}
        out = {}
        for src, dst in (("train_acc", "train_accuracy"), ("test_acc", "test_accuracy")):
            block = obj.get(src, {})
            if not isinstance(block, dict):
                self._skip(p, f"{src!r} not read: expected an object {{epoch: accuracy}}, got {block!r}")
                continue
            for k, v in block.items():
                ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
                if parse_int(k) is None or not ok:
                    self._skip(p, f"{src}[{k!r}] = {v!r} not read: expected an epoch number and a finite accuracy")
                elif int(k) in self.epochs:
                    out.setdefault(int(k), {})[dst] = float(v)
        return out

    def _recorded_figures(self):
        return self._eval_figures

    def _figure_files(self, e):
        d = self.epoch_dir(e)
        return [d / "train_data.npy", d / "test_data.npy", self.checkpoint_path(e), self.model_py]

    def _find_epochs(self, cfg_path) -> list[int]:
        c = self.config
        prefix = f"{self.epoch_name}_"
        if not self.model_dir.is_dir():
            raise TrainingDynamicsError(self.model_dir, "Model folder is missing")
        found = set()
        for entry in entries(self.model_dir):
            if not entry.name.lower().startswith(prefix.lower()):
                continue  # the original tool's own outputs live here too (docs/FORMATS.md, "Not read")
            e = parse_int(entry.name[len(prefix):]) if entry.name.startswith(prefix) else None
            if e is None or not entry.is_dir():
                self._skip(entry.path, not_read(entry.name, f"epoch folders are Model/{prefix}<e>/ with <e> the epoch "
                                                            "number in decimal"))
            else:
                found.add(e)
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
            for e in sorted(found - set(wanted)):
                self._skip(self.epoch_dir(e), f"not read: outside the epochs config.json asks for (EPOCH_START "
                                              f"{start}, EPOCH_END {end}, EPOCH_PERIOD {period})")
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
        sig = file_signature([self.checkpoint_path(epoch), self.model_py, self._train_data_path, self._test_data_path])
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
            from ..dynamics import check_matrix

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
            from ..writer import images_from_inputs

            self._derived_images = images_from_inputs(np.concatenate(xs))
            if self._derived_images is None:
                self.media = None
                return None
        return png_bytes(self._derived_images[i])

