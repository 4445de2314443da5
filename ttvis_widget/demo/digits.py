"""Small real training dynamics from scikit-learn's digits: an MLP with a 64-d representation.

Fast (seconds, not minutes, on 2 cores), deterministic for a seed; used by tests and as the demo's fallback
when Fashion-MNIST is not installed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DIGIT_CLASSES = [str(i) for i in range(10)]


def _digits_mlp(dim: int = 64):
    from .digits_model import DigitsMLP  # torch only when a recording is made

    return DigitsMLP(dim)


def make_digits_dynamics(save_dir, epochs: int = 8, every: int = 1, seed: int = 0, test_size: int = 450,
                         dim: int = 64, lr: float = 0.05, progress: bool = False) -> Path:
    """Train an MLP on digits (1,347 train / 450 test) and record every ``every``-th epoch with SummaryWriter.

    Returns ``save_dir``. Reuses an existing complete recording made with the same settings.
    """
    import torch
    from sklearn.datasets import load_digits

    from ..store import SummaryWriter
    from ..store.ttvis_layout import MANIFEST, read_manifest

    save_dir = Path(save_dir)
    recorded = list(range(every, epochs + 1, every))
    settings = {"dataset": "digits", "epochs": epochs, "every": every, "seed": seed, "dim": dim, "lr": lr,
                "test_size": test_size}
    if (save_dir / MANIFEST).exists():
        m = read_manifest(save_dir)
        if m.get("demo_settings") == settings and m.get("epochs") == recorded:
            return save_dir

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d = load_digits()
    order = rng.permutation(len(d.target))
    test, train = order[:test_size], order[test_size:]
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.int64)
    ds_tr = torch.utils.data.TensorDataset(x[train], y[train])
    ds_te = torch.utils.data.TensorDataset(x[test], y[test])
    g = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(ds_tr, batch_size=64, shuffle=True, generator=g)

    model = _digits_mlp(dim)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    writer = SummaryWriter(save_dir, batch_size=1000, name="digits-mlp", classes=DIGIT_CLASSES)
    writer.manifest["demo_settings"] = settings
    writer.write_meta_data(torch.utils.data.DataLoader(ds_tr, batch_size=500),
                           torch.utils.data.DataLoader(ds_te, batch_size=500),
                           images=(d.images[np.concatenate([train, test])] * (255 / 16)).round().astype(np.uint8))
    prev = None
    for epoch in range(1, epochs + 1):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        if epoch % every == 0:
            stats = writer.write_epoch(epoch, model, prev_epoch=prev, save_checkpoint=True)
            prev = epoch
            if progress:
                print(f"epoch {epoch}: train acc {stats['accuracy']:.3f} test acc {stats['test_accuracy']:.3f}")
    return save_dir
