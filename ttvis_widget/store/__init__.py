"""Read and write training dynamics. ``load(content_path)`` detects the layout."""
from __future__ import annotations

from pathlib import Path

from ..errors import TrainingDynamicsError, TrainingDynamicsWarning, UntrustedCodeError
from .dynamics import ArrayDynamics, TrainingDynamics
from .head import CallableHead, Head, MLPHead
from .ttvis_layout import MANIFEST, TTVisDynamics
from .writer import SummaryWriter

__all__ = ["load", "detect_layout", "TrainingDynamics", "ArrayDynamics", "TTVisDynamics", "SummaryWriter",
           "Head", "MLPHead", "CallableHead", "TrainingDynamicsError", "TrainingDynamicsWarning",
           "UntrustedCodeError"]


def detect_layout(content_path) -> str:
    """'ttvis' (ours), 'era_a' (Model/Epoch_i), 'era_b' (dataset/representation) or 'era_c' (epochs/epoch_k)."""
    root = Path(content_path)
    if not root.exists():
        raise TrainingDynamicsError(root, "folder does not exist")
    if not root.is_dir():
        raise TrainingDynamicsError(root, "is not a folder")
    if (root / MANIFEST).exists():
        return "ttvis"
    if (root / "dataset" / "representation").is_dir():
        return "era_b"
    if (root / "epochs").is_dir() and any(p.name.startswith("epoch_") for p in (root / "epochs").iterdir()):
        return "era_c"
    if (root / "Model").is_dir():
        return "era_a"
    raise TrainingDynamicsError(
        root, f"no training dynamics found: expected {MANIFEST} (ttvis layout), Model/Epoch_i/ (original tool, "
              "2022-2024), dataset/representation/ (2024-2025) or epochs/epoch_k/ with dataset/ (2025-)")


def load(content_path, *, trust_model_code: bool = False, allow_gaps: bool = False, layout: str | None = None,
         **kwargs) -> TrainingDynamics:
    """Open the training dynamics in ``content_path`` read-only.

    ``trust_model_code``: allow running the folder's ``model.py`` (original layouts) to compute
    representations or use its ``prediction()`` head. Off by default: reading a folder never executes it.
    ``allow_gaps``: accept unevenly spaced epoch numbers.
    """
    if isinstance(content_path, TrainingDynamics):
        return content_path
    layout = layout or detect_layout(content_path)
    if layout == "ttvis":
        return TTVisDynamics(content_path, allow_gaps=allow_gaps)
    from . import original  # readers of the original tool's layouts

    return original.open_layout(layout, content_path, trust_model_code=trust_model_code, allow_gaps=allow_gaps, **kwargs)
