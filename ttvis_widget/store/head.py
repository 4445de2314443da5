"""Classifier heads: representation [N, D] -> logits [N, C].

A head recorded as plain weights (a Linear layer, or Linear-ReLU-...-Linear) runs without any user
code. ``CallableHead`` wraps user code (e.g. ``model.prediction``) and exists only when the user
explicitly trusted that code.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import TrainingDynamicsError


class Head:
    """Base class. Subclasses implement ``torch_module``; ``__call__`` works on numpy arrays."""

    dim: int
    n_classes: int
    source: str = "recorded"

    def torch_module(self, device="cpu"):  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, h, batch_size: int = 65536) -> np.ndarray:
        import torch

        mod = self.torch_module("cpu")
        h = np.asarray(h, dtype=np.float32)
        out = []
        with torch.no_grad():
            for s in range(0, len(h), batch_size):
                x = np.ascontiguousarray(h[s:s + batch_size])
                if not x.flags.writeable:  # memory-mapped input: torch wants a writable buffer
                    x = x.copy()
                out.append(mod(torch.from_numpy(x)).float().numpy())
        if not out:
            return np.zeros((0, self.n_classes), np.float32)
        return np.concatenate(out, 0)


class MLPHead(Head):
    """Linear layers with ReLU between them; one layer = a plain linear head."""

    def __init__(self, weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], source: str = "recorded"):
        if len(weights) == 0 or len(weights) != len(biases):
            raise ValueError("an MLP head needs one bias per weight and at least one layer")
        self.weights = [np.ascontiguousarray(w, dtype=np.float32) for w in weights]
        self.biases = [np.ascontiguousarray(b, dtype=np.float32) for b in biases]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if w.ndim != 2 or b.shape != (w.shape[0],):
                raise ValueError(f"layer {i}: weight {w.shape} and bias {b.shape} do not fit")
            if i and w.shape[1] != self.weights[i - 1].shape[0]:
                raise ValueError(f"layer {i}: input width {w.shape[1]} != previous output {self.weights[i - 1].shape[0]}")
        self.dim = int(self.weights[0].shape[1])
        self.n_classes = int(self.weights[-1].shape[0])
        self.source = source
        self._modules = {}

    @property
    def is_linear(self) -> bool:
        return len(self.weights) == 1

    def torch_module(self, device="cpu"):
        import torch
        from torch import nn

        key = str(device)
        if key not in self._modules:
            layers = []
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                lin = torch.nn.utils.skip_init(nn.Linear, w.shape[1], w.shape[0])  # no draw from torch's RNG
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(w))
                    lin.bias.copy_(torch.from_numpy(b))
                layers.append(lin)
                if i < len(self.weights) - 1:
                    layers.append(nn.ReLU())
            mod = nn.Sequential(*layers).to(device).train(False)
            for p in mod.parameters():
                p.requires_grad_(False)
            self._modules[key] = mod
        return self._modules[key]

    def __call__(self, h, batch_size: int = 65536) -> np.ndarray:
        h = np.asarray(h, dtype=np.float32)
        if h.ndim != 2 or h.shape[1] != self.dim:
            raise ValueError(f"head expects [N, {self.dim}] representations, got {h.shape}")
        out = np.empty((len(h), self.n_classes), np.float32)
        for s in range(0, len(h), batch_size):
            x = h[s:s + batch_size]
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                x = x @ w.T + b
                if i < len(self.weights) - 1:
                    np.maximum(x, 0, out=x)
            out[s:s + batch_size] = x
        return out

    # ---- storage: one .npz of plain arrays, no pickles -------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        from .atomic import atomic_write_npz

        arrays = {"n_layers": np.asarray(len(self.weights))}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"weight_{i}"] = w
            arrays[f"bias_{i}"] = b
        atomic_write_npz(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MLPHead":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                n = int(z["n_layers"])
                ws = [z[f"weight_{i}"] for i in range(n)]
                bs = [z[f"bias_{i}"] for i in range(n)]
        except Exception as e:  # noqa: BLE001 - anything unreadable is a data error
            raise TrainingDynamicsError(path, f"cannot read the classifier head ({e})") from e
        try:
            return cls(ws, bs)
        except ValueError as e:
            raise TrainingDynamicsError(path, f"malformed classifier head: {e}") from e

    @classmethod
    def from_torch(cls, module, source: str = "recorded") -> "MLPHead | None":
        """Plain weights of an ``nn.Linear`` or an ``nn.Sequential`` of Linear/ReLU/Dropout/Identity/Flatten;
        None when the module is anything else (then the head cannot be stored without code)."""
        from torch import nn

        if isinstance(module, nn.Linear):
            mods = [module]
        elif isinstance(module, nn.Sequential):
            mods = [m for m in module if not isinstance(m, (nn.Dropout, nn.Identity, nn.Flatten))]
        else:
            return None
        ws, bs = [], []
        for i, m in enumerate(mods):
            if isinstance(m, nn.Linear):
                if len(ws) != (i + 1) // 2:
                    return None
                ws.append(m.weight.detach().float().cpu().numpy())
                bias = m.bias.detach().float().cpu().numpy() if m.bias is not None else np.zeros(m.out_features, np.float32)
                bs.append(bias)
            elif isinstance(m, nn.ReLU):
                if i % 2 == 0:
                    return None
            else:
                return None
        if not ws or len(mods) != 2 * len(ws) - 1:
            return None
        return cls(ws, bs, source=source)


class CallableHead(Head):
    """User code as a head (e.g. ``model.prediction``); only built when the user trusted that code."""

    def __init__(self, fn: Callable, dim: int, n_classes: int, source: str = "model.py"):
        self.fn = fn
        self.dim = int(dim)
        self.n_classes = int(n_classes)
        self.source = source

    def torch_module(self, device="cpu"):
        """``fn`` as a module for tensors on ``device``: they go to where ``fn`` computes (the device of its
        module's parameters, e.g. ``model.prediction``'s model; else the CPU) and its logits come back, so a
        fit on a GPU can use a head that lives on the CPU (gradients flow through both moves)."""
        import torch
        from torch import nn

        fn = self.fn
        owner = getattr(fn, "__self__", fn)
        home = next((p.device for p in owner.parameters()), torch.device("cpu")) \
            if isinstance(owner, nn.Module) else torch.device("cpu")

        class _Wrap(nn.Module):
            def forward(self, h):
                return torch.as_tensor(fn(h.to(home))).to(h.device)

        return _Wrap()


def infer_linear_head(state_dict: dict, dim: int, n_classes: int | None, path=None) -> MLPHead | None:
    """Find the classifier layer in a subject-model state_dict without running code.

    Takes the last ``*.weight`` of shape [C, D] (C = n_classes when known) that has a matching
    ``*.bias``. Returns None when no such pair exists.
    """
    items = [(k, v) for k, v in state_dict.items() if hasattr(v, "shape")]
    for k, v in reversed(items):
        if not k.endswith("weight") or len(v.shape) != 2 or int(v.shape[1]) != int(dim):
            continue
        if n_classes is not None and int(v.shape[0]) != int(n_classes):
            continue
        bias = state_dict.get(k[: -len("weight")] + "bias")
        w = v.detach().float().cpu().numpy() if hasattr(v, "detach") else np.asarray(v, np.float32)
        b = (bias.detach().float().cpu().numpy() if hasattr(bias, "detach") else np.asarray(bias, np.float32)) \
            if bias is not None else np.zeros(w.shape[0], np.float32)
        return MLPHead([w], [b], source=f"inferred from {k!r}")
    return None
