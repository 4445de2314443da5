"""Readers for the original tool's three on-disk layouts (docs/FORMATS.md: "Era A", "Era B", "Era C" and
"Validation in common" say what is read, validated and refused). One module per job: ``files`` (safe file
reading), ``model_code`` (trusted model code), ``base`` (what the readers share), ``era_a``, ``era_b``, ``era_c``.

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

from pathlib import Path

from ...errors import TrainingDynamicsError
from .era_a import EraADynamics
from .era_b import EraBDynamics
from .era_c import EraCDynamics
from .files import read_lenient_json
from .model_code import ModelPredictionHead

__all__ = ["open_layout", "EraADynamics", "EraBDynamics", "EraCDynamics", "ModelPredictionHead", "read_lenient_json"]


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
