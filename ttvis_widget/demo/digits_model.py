"""The digits demo's subject model, in a module of its own: the original tool's layouts ship the model's source
file with the data, so tests write this very file into the folders they build (``Path(__file__).read_text()``)."""
import torch  # noqa: F401  (the original tool imports model.py as a script that names torch)
from torch import nn


class DigitsMLP(nn.Module):
    """The subject model, split into feature() and prediction() as the original tool asks."""

    def __init__(self, dim=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, dim), nn.ReLU())
        self.fc = nn.Linear(dim, 10)

    def feature(self, x):
        return self.body(x.flatten(1))

    def prediction(self, h):
        return self.fc(h)

    def forward(self, x):
        return self.prediction(self.feature(x))
