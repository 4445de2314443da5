"""Reader of the original tool's era-C ("MTPNet") layout, ``dataset/`` + ``epochs/epoch_{k}/`` (Apr 2025 on;
docs/FORMATS.md "Era C")."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import TrainingDynamicsError
from ..dynamics import check_epoch_sequence, check_labels
from .base import _PerEpochFiles
from ..strays import entries, image_strays, not_read, numbered
from .files import _open_npy, _optional_json_object, _read_index


#: the files of an epoch folder: read, or the original's own that are not (docs/FORMATS.md, "Not read")
EPOCH_FILES = ("embeddings.npy", "predictions.npy", "model.pth", "intra_similarity.npy", "inter_similarity.npy")


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
        found, self.skipped = numbered(ep_dir, "epoch_", "", True, "one epoch_<k>/ folder per epoch, <k> its number")
        # the original tool allows any step; unevenly spaced epochs still need allow_gaps here
        self.epochs = check_epoch_sequence(found, ep_dir, allow_gaps)
        self._check_epoch_headers(preds_expected=False)
        for e in self.epochs:
            for f in entries(ep_dir / f"epoch_{e}"):
                if f.name not in EPOCH_FILES:
                    self._skip(f.path, not_read(f.name, f"an epoch folder holds {', '.join(EPOCH_FILES)}"))
        if any(self._has_pred.values()):
            for e in self.epochs:
                if not self._has_pred[e]:
                    self._skip(self._pred_path(e), "missing here but present in other epochs: this epoch's logits "
                                                   "come from model.pth's classifier, or it has none")
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
        for d in self._image_dirs:
            self.skipped += image_strays(d, self.n_samples)
        self._report_skipped()

    def _rep_path(self, e):
        return self.content_path / "epochs" / f"epoch_{e}" / "embeddings.npy"

    def _pred_path(self, e):
        return self.content_path / "epochs" / f"epoch_{e}" / "predictions.npy"

    def checkpoint_path(self, epoch):
        return self.content_path / "epochs" / f"epoch_{int(epoch)}" / "model.pth"

