"""The folder's own model code, run only with ``trust_model_code=True``: importing ``model.py`` from its path,
looking its class up by name (never evaluated), building it from a checkpoint, and its ``prediction()`` as a
classifier head."""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

from ...errors import TrainingDynamicsError
from ..dynamics import file_signature
from ..head import CallableHead

_TRUST_HINT = ("pass trust_model_code=True to allow running it (only for folders you trust: "
               "it executes that file's code)")


class _NoBytecodeLoader(importlib.machinery.SourceFileLoader):
    """Imports a data folder's model.py without writing ``__pycache__/`` into that folder (never modify input)."""

    def set_data(self, path, data, *, _mode=0o666):
        pass


def _load_model_class(model_py: Path, class_name: str | None):
    """Import ``model_py`` from its path and return the class named ``class_name`` (never evaluated)."""
    import torch

    model_py = Path(model_py)
    if not model_py.is_file():
        raise TrainingDynamicsError(model_py, "model code is missing")
    # keyed by path and file signature, so an edited model.py is imported afresh
    mod_name = "ttvis_user_model_" + hashlib.sha256(
        (str(model_py.resolve()) + file_signature([model_py])).encode()).hexdigest()[:12]
    mod = sys.modules.get(mod_name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(mod_name, model_py,
                                                      loader=_NoBytecodeLoader(mod_name, str(model_py)))
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
