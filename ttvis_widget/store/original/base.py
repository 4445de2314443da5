"""What the original tool's three readers share: sample images by file, texts, checkpoint heads (inferred from
plain weights, or the trusted model's ``prediction()``), and for eras B and C one array per epoch."""
from __future__ import annotations

from pathlib import Path

from ...errors import TrainingDynamicsError
from ..dynamics import TrainingDynamics
from ..head import infer_linear_head
from .files import _check_header, _open_npy, _state_dict, _torch_load
from .model_code import _build_model, _load_model_class, _prediction_head


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

    def _figure_files(self, e):
        return [self._rep_path(e), self._pred_path(e), self.checkpoint_path(e), self.model_py]

    def _load_representation(self, epoch):
        p = self._rep_path(epoch)
        return _open_npy(p, f"representation of epoch {epoch}"), p

    def _load_prediction(self, epoch):
        if not self._has_pred.get(epoch):
            return None, None
        p = self._pred_path(epoch)
        return _open_npy(p, f"prediction of epoch {epoch}"), p

