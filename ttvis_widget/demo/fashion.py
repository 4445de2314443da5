"""Demo training dynamics: a small CNN trained on a Fashion-MNIST subset, recorded with SummaryWriter.

Default: 10,000 train + 2,000 test images (class-balanced, seeded), 15 epochs, representation = the 128-d
fully connected layer. Deterministic for a seed, a few minutes on 2 CPU cores, and reused when a
recording with the same settings already exists. Without Fashion-MNIST it says how to install it and
falls back to scikit-learn's digits.

    python -m ttvis_widget.demo.fashion [--out demo_data/fashion_mnist] [--epochs 15] ...
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .idx import FASHION_CLASSES, INSTALL_HINT, fashion_available, load_fashion_mnist


def default_demo_path() -> Path:
    """``$TTVIS_DEMO_DATA`` or ``./demo_data/fashion_mnist``."""
    return Path(os.environ.get("TTVIS_DEMO_DATA", "demo_data/fashion_mnist"))


def _cnn(rep_dim: int = 128):
    from torch import nn

    class FashionCNN(nn.Module):
        """conv32-conv64-FC128 (the representation)-FC10."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
            self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, rep_dim), nn.ReLU())
            self.fc = nn.Linear(rep_dim, 10)

        def feature(self, x):
            return self.fc1(self.conv(x))

        def prediction(self, h):
            return self.fc(h)

        def forward(self, x):
            return self.prediction(self.feature(x))

    return FashionCNN()


def _balanced_subset(labels: np.ndarray, n: int, rng) -> np.ndarray:
    classes = np.unique(labels)
    per = n // len(classes)
    idx = [rng.choice(np.flatnonzero(labels == c), per, replace=False) for c in classes]
    rest = n - per * len(classes)
    chosen = np.concatenate(idx)
    if rest:
        pool = np.setdiff1d(np.arange(len(labels)), chosen)
        chosen = np.concatenate([chosen, rng.choice(pool, rest, replace=False)])
    return np.sort(chosen)


def make_fashion_dynamics(save_dir=None, n_train: int = 10000, n_test: int = 2000, epochs: int = 15,
                          every: int = 1, seed: int = 0, lr: float = 0.01, batch_size: int = 128,
                          progress: bool = True, fallback_to_digits: bool = True, rep_dim: int = 128,
                          device: str = "cpu") -> Path:
    """Record the demo dynamics into ``save_dir`` (default :func:`default_demo_path`) and return it.

    ``rep_dim``: width of the recorded representation (the CNN's penultimate layer); e.g. 50,000 + 10,000
    samples at 512 give the 60k x 512 size of benchmarks/fit_speed.py's large case. ``device``: where the CNN
    trains ("cpu", "cuda", "auto": CUDA when present); the default CPU keeps the recording the same on every
    machine (a GPU's kernels round differently), another device is for large recordings made quickly
    (benchmarks/gpu_check.sh)."""
    import torch

    from ..store import SummaryWriter
    from ..store.ttvis_layout import MANIFEST, read_manifest

    save_dir = Path(save_dir) if save_dir is not None else default_demo_path()
    if not fashion_available():
        if not fallback_to_digits:
            raise FileNotFoundError(INSTALL_HINT)
        warnings.warn(f"{INSTALL_HINT}. Falling back to scikit-learn's digits.", stacklevel=2)
        print(f"ttvis: {INSTALL_HINT}\nttvis: falling back to scikit-learn's digits", file=sys.stderr)
        from .digits import make_digits_dynamics

        return make_digits_dynamics(save_dir, epochs=epochs, every=every, seed=seed, progress=progress)

    recorded = list(range(every, epochs + 1, every))
    settings = {"dataset": "fashion-mnist", "n_train": n_train, "n_test": n_test, "epochs": epochs,
                "every": every, "seed": seed, "lr": lr, "batch_size": batch_size}
    if rep_dim != 128:  # only when not the default, so that recordings made before the option stay valid
        settings["rep_dim"] = int(rep_dim)
    if (save_dir / MANIFEST).exists():
        m = read_manifest(save_dir)
        if m.get("demo_settings") == settings and m.get("epochs") == recorded:
            if progress:
                print(f"ttvis: reusing demo dynamics in {save_dir}")
            return save_dir
        # an earlier, different or interrupted recording of ours: record afresh next to nothing of the user's
        import shutil

        if m.get("demo_settings") is None:
            raise FileExistsError(f"{save_dir} holds other training dynamics; choose another --out")
        shutil.rmtree(save_dir)

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    xtr, ytr, xte, yte = load_fashion_mnist()
    itr = _balanced_subset(ytr, n_train, rng)
    ite = _balanced_subset(yte, n_test, rng)
    images = np.concatenate([xtr[itr], xte[ite]])

    def tensors(x, y):
        xt = torch.from_numpy(((x.astype(np.float32) / 255.0) - 0.2860) / 0.3530).unsqueeze(1)
        return torch.utils.data.TensorDataset(xt, torch.from_numpy(y.astype(np.int64)))

    ds_tr, ds_te = tensors(xtr[itr], ytr[itr]), tensors(xte[ite], yte[ite])
    g = torch.Generator().manual_seed(seed)
    train_loader = torch.utils.data.DataLoader(ds_tr, batch_size=batch_size, shuffle=True, generator=g)

    from ..engine.base import resolve_device

    dev = resolve_device(device)
    model = _cnn(rep_dim).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    save_dir.parent.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(save_dir, batch_size=1000, name="fashion-mnist-cnn", classes=FASHION_CLASSES)
    writer.manifest["demo_settings"] = settings
    writer.write_meta_data(torch.utils.data.DataLoader(ds_tr, batch_size=1000),
                           torch.utils.data.DataLoader(ds_te, batch_size=1000), images=images)
    prev = None
    for epoch in range(1, epochs + 1):
        te = time.perf_counter()
        model.train()
        for xb, yb in train_loader:
            xb, yb = xb.to(dev), yb.to(dev)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        if epoch % every == 0:
            stats = writer.write_epoch(epoch, model, prev_epoch=prev, save_checkpoint=False)
            prev = epoch
            if progress:
                print(f"epoch {epoch:3d}/{epochs}  train acc {stats['accuracy']:.3f}  test acc "
                      f"{stats['test_accuracy']:.3f}  ({time.perf_counter() - te:.1f} s)", flush=True)
    if progress:
        print(f"ttvis: demo dynamics ({n_train} train + {n_test} test, {len(recorded)} epochs, {rep_dim}-d) in {save_dir} "
              f"[{time.perf_counter() - t0:.0f} s]")
    return save_dir


def main(argv=None) -> int:
    from ..cliargs import HelpFormatter

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    add_arguments(p)
    a = p.parse_args(argv)
    run_from_args(a)
    return 0


def add_arguments(p):
    p.add_argument("--out", default=None, help="output folder (default: $TTVIS_DEMO_DATA or demo_data/fashion_mnist)")
    p.add_argument("--n-train", type=int, default=10000, help="training images (a class-balanced subset)")
    p.add_argument("--n-test", type=int, default=2000, help="test images (a class-balanced subset)")
    p.add_argument("--epochs", type=int, default=15, help="epochs to train")
    p.add_argument("--every", type=int, default=1, help="record every k-th epoch")
    p.add_argument("--seed", type=int, default=0, help="seed of the subset, the initial weights and the batches")
    p.add_argument("--rep-dim", type=int, default=128, help="width of the recorded representation")
    p.add_argument("--device", default="cpu", help="where the CNN trains: cpu (the same recording on every "
                   "machine), cuda or auto")


def run_from_args(a) -> Path:
    return make_fashion_dynamics(a.out, n_train=a.n_train, n_test=a.n_test, epochs=a.epochs, every=a.every,
                                 seed=a.seed, rep_dim=a.rep_dim,
                                 device=getattr(a, "device", "cpu"))


if __name__ == "__main__":
    sys.exit(main())
