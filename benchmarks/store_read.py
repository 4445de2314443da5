"""The store's first read of an epoch: ``dynamics.representation(e)`` on a freshly loaded folder, which validates
the whole array (NaN/inf) once, and the training-figure table ``dynamics.training_metrics()``.

Writes synthetic dynamics in our layout (N x D float32 representations, N x C logits) into --dir, then prints,
per repetition, the time of the first ``representation(e)`` of each epoch (the files were just written, so they
are in the page cache: this is the check's own cost, not the disk's), and the time and peak memory of computing
the training figures of every epoch from the recorded logits (cold, then from the table's cache).

    python benchmarks/store_read.py                      # 60k x 512, 10 classes, 3 epochs
    python benchmarks/store_read.py --cold               # the same, each epoch's file read from the disk
    python benchmarks/store_read.py --n 60000 --epochs 200 --dim 16 --metrics-only
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _write(root: Path, n: int, dim: int, n_classes: int, epochs: int, reps: bool):
    from ttvis_widget import SummaryWriter

    rng = np.random.default_rng(0)
    w = SummaryWriter(root)
    w.set_samples(labels=rng.integers(0, n_classes, n), split=(rng.random(n) < 0.2).astype(np.uint8))
    rep = rng.normal(size=(n, dim)).astype(np.float32)
    for e in range(1, epochs + 1):
        logits = rng.normal(size=(n, n_classes)).astype(np.float32)
        w.add_epoch(e, rep if reps else rep[:, :1], prediction=logits)
    # as recorded before the layout kept training figures (version 1), so that the reader computes them
    m = json.loads((root / "ttvis.json").read_text())
    m.pop("metrics", None)
    m.pop("computed_metrics", None)
    m["version"] = 1
    (root / "ttvis.json").write_text(json.dumps(m))


def _evict(path: Path) -> None:
    """Drop one file's pages from the page cache (no effect on anything else on a shared machine)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _peak_mb() -> float:
    """The process's peak resident memory (VmHWM; Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _metrics_in_fresh_process(root: str):
    import ttvis_widget

    dyn = ttvis_widget.load(root)
    try:  # a spawned child starts with its parent's peak: reset it (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    peak0 = _peak_mb()
    t = time.perf_counter()
    rows = dyn.training_metrics()
    cold = time.perf_counter() - t
    return len(rows), cold, peak0, _peak_mb()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--metrics-only", action="store_true", help="skip the representation timing")
    ap.add_argument("--cold", action="store_true", help="evict each epoch's file from the page cache before its first "
                    "read (posix_fadvise DONTNEED on that file only), so the read comes from the disk")
    ap.add_argument("--dir", default=None, help="where to write the synthetic folder (default: a temp dir)")
    a = ap.parse_args(argv)

    import ttvis_widget

    base = Path(a.dir or tempfile.mkdtemp(prefix="ttvis_store_read_"))
    root = base / "dyn"
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    _write(root, a.n, a.dim, a.classes, a.epochs, reps=not a.metrics_only)
    dim = 1 if a.metrics_only else a.dim
    print(f"wrote {a.epochs} epochs of {a.n} x {dim} (+ {a.classes} logits) in {time.perf_counter() - t0:.1f} s")

    if not a.metrics_only:
        times = []
        for _ in range(a.repeat):
            dyn = ttvis_widget.load(root)
            for e in dyn.epochs:
                if a.cold:
                    _evict(root / "epochs" / str(e) / "representation.npy")
                t = time.perf_counter()
                dyn.representation(e)
                times.append(time.perf_counter() - t)
        print(f"first representation(e) read, {a.n} x {a.dim}{' (from the disk)' if a.cold else ''}: median "
              f"{statistics.median(times) * 1e3:.1f} ms (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}; "
              f"{len(times)} reads)")

    if hasattr(ttvis_widget.TrainingDynamics, "training_metrics"):
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(1) as pool:  # a fresh process: its own peak memory
            n_rows, cold, peak0, peak1 = pool.apply(_metrics_in_fresh_process, (str(root),))
        dyn = ttvis_widget.load(root)
        t = time.perf_counter()
        dyn.training_metrics()
        warm = time.perf_counter() - t
        print(f"training_metrics(), {n_rows} epochs of {a.n} x {a.classes} logits: computed in {cold:.2f} s "
              f"({cold / n_rows * 1e3:.0f} ms an epoch), from its cache in {warm * 1e3:.0f} ms; peak RSS of a fresh "
              f"process {peak0:.0f} MB after load(), {peak1:.0f} MB after computing (all epochs' logits: "
              f"{a.epochs * a.n * a.classes * 4 / 2**20:.0f} MB)")
    if not a.dir:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
