"""Visualization autoencoder: encoder f: R^D -> R^2 and decoder g: R^2 -> R^D (Linear + ReLU MLPs with linear
outputs, algorithms.md §1.1), sized from D and overridable.

Inputs are centred and scaled by one scalar (buffers ``mu`` / ``scale``, saved with the weights) so that the
reconstruction loss has the same scale whatever the magnitude of the representations; ``decode`` undoes it.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def default_hidden(dim: int) -> tuple[int, int]:
    """Hidden widths from D: twice the power of two >= D clipped to [64, 256], twice (D=128 -> (256, 256)).

    Width matters for how finely the encoder can follow a UMAP layout: regressed on the same layout of the
    Fashion-MNIST demo, (128, 64) reaches NN@15 0.25, (256, 256) 0.29 (layout: 0.30)."""
    h1 = int(min(256, max(64, 2 * 2 ** math.ceil(math.log2(max(int(dim), 2))))))
    return h1, h1


def _mlp(widths) -> nn.Sequential:
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VisModel(nn.Module):
    def __init__(self, dim: int, hidden=None):
        super().__init__()
        hidden = tuple(int(h) for h in (hidden or default_hidden(dim)))
        self.dim = int(dim)
        self.hidden = hidden
        self.encoder = _mlp((self.dim, *hidden, 2))
        self.decoder = _mlp((2, *hidden[::-1], self.dim))
        self.register_buffer("mu", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def set_normalization(self, X: torch.Tensor) -> None:
        """Centre on the mean and scale by one scalar so that the mean per-coordinate variance is 1."""
        mu = X.mean(0)
        rms = ((X - mu) ** 2).sum(1).mean().sqrt().clamp_min(1e-8)
        self.mu.copy_(mu)
        self.scale.copy_(math.sqrt(self.dim) / rms)

    def normalize(self, h: torch.Tensor) -> torch.Tensor:
        return (h - self.mu) * self.scale

    def encode_normalized(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.normalize(h))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x / self.scale + self.mu

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(y) / self.scale + self.mu


def encode_numpy(model: VisModel, reps, device="cpu", batch: int = 65536):
    import numpy as np

    reps = np.asarray(reps, np.float32)
    out = np.empty((len(reps), 2), np.float32)
    with torch.inference_mode():
        for s in range(0, len(reps), batch):
            out[s:s + batch] = model(torch.from_numpy(np.array(reps[s:s + batch])).to(device)).cpu().numpy()
    return out


def decode_numpy(model: VisModel, xy, device="cpu", batch: int = 65536):
    import numpy as np

    xy = np.asarray(xy, np.float32)
    out = np.empty((len(xy), model.dim), np.float32)
    with torch.inference_mode():
        for s in range(0, len(xy), batch):
            out[s:s + batch] = model.decode(torch.from_numpy(np.ascontiguousarray(xy[s:s + batch])).to(device)).cpu().numpy()
    return out
