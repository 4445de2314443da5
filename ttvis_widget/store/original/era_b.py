"""Reader of the original tool's era-B layout, ``dataset/{representation,prediction,label}`` (Dec 2024 -
Apr 2025; docs/FORMATS.md "Era B")."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import TrainingDynamicsError
from ..dynamics import check_epoch_sequence, check_labels
from .base import _PerEpochFiles
from ..strays import entries, image_strays, not_read, numbered
from .files import _open_npy, _optional_json_object, _read_index


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
        found, self.skipped = numbered(rep_dir, "", ".npy", False, "one <e>.npy per epoch, <e> its number in decimal")
        self.epochs = check_epoch_sequence(found, rep_dir, allow_gaps)
        self._check_epoch_headers(preds_expected=(ds / "prediction").is_dir())
        # per-epoch files of other folders: their names parse, and each belongs to a recorded epoch
        for folder, suffix in ((ds / "prediction", ".npy"), (root / "model", ".pth")):
            other, skipped = numbered(folder, "", suffix, False, f"one <e>{suffix} per epoch, <e> its number in decimal")
            self.skipped += skipped
            for e in sorted(set(other) - set(self.epochs)):
                self._skip(other[e], f"not read: epoch {e} has no representation (dataset/representation/{e}.npy)")
        for f in entries(ds / "label"):
            if f.name != "labels.npy":
                self._skip(f.path, not_read(f.name, "dataset/label/ holds labels.npy"))
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
            if self._pattern == "dataset/image/${index}.png":
                self.skipped += image_strays(ds / "image", self.n_samples)
        self._report_skipped()

    def _rep_path(self, e):
        return self.content_path / "dataset" / "representation" / f"{e}.npy"

    def _pred_path(self, e):
        return self.content_path / "dataset" / "prediction" / f"{e}.npy"

    def checkpoint_path(self, epoch):
        return self.content_path / "model" / f"{int(epoch)}.pth"

    def _image_path(self, i):
        p = self.content_path / self._pattern.replace("${index}", str(int(i)))
        return p if p.is_file() else None

