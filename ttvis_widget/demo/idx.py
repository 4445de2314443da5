"""Reader for the IDX files (optionally gzip-compressed) of MNIST / Fashion-MNIST."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import TrainingDynamicsError

#: where the Debian package puts the IDX files; ``$TTVIS_FASHION_DIR`` points elsewhere (a download of the same
#: four files, or a copy carried to a machine without the package)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def fashion_dir() -> Path:
    return Path(os.environ.get("TTVIS_FASHION_DIR") or FASHION_DIR)


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz",
}
INSTALL_HINT = ("Fashion-MNIST comes from the Debian package dataset-fashion-mnist: "
                "sudo apt-get install dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist/), or set "
                "TTVIS_FASHION_DIR to a folder holding its four IDX files")


def read_idx(path) -> np.ndarray:
    """Parse an IDX file: big-endian magic (0, 0, type, ndim), ndim uint32 sizes, then the data."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TrainingDynamicsError(path, f"cannot read IDX file ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise TrainingDynamicsError(path, "not an IDX file of uint8 (bad magic number)")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    n = int(np.prod(shape))
    if len(raw) - offset != n:
        raise TrainingDynamicsError(path, f"IDX header says {shape} ({n} bytes) but {len(raw) - offset} bytes follow")
    return np.frombuffer(raw, np.uint8, count=n, offset=offset).reshape(shape)


def fashion_available(root=None) -> bool:
    return all((Path(root or fashion_dir()) / f).exists() for f in FASHION_FILES.values())


def load_fashion_mnist(root=None):
    """(train_images [60000,28,28], train_labels, test_images [10000,28,28], test_labels), all uint8, from
    ``root`` (default ``fashion_dir()``)."""
    root = Path(root or fashion_dir())
    if not fashion_available(root):
        raise FileNotFoundError(f"{root}: Fashion-MNIST not found. {INSTALL_HINT}")
    out = {k: read_idx(root / f) for k, f in FASHION_FILES.items()}
    return out["train_images"], out["train_labels"], out["test_images"], out["test_labels"]
