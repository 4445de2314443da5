"""Scale (kernel half of issue 30, item 5): synthetic training dynamics far beyond the demo.

Writes synthetic dynamics in our layout under --dir (float32; 1M x 50 x 64 is 12.8 GB: the disk must hold it),
then, each measurement in a fresh process:

* load: ``ttvis_widget.load`` + the finished run + every epoch's wire arrays (``TimeTravelWidget.payload``:
  uint16 positions, predicted class, confidence -- what the widget sends; the first open computes the class and
  confidence from the logits and caches them, a reopen reads them), time and the kernel's memory above
  the data's own memory maps (peak anonymous memory, sampled every 20 ms, minus the process's after imports);
  also the bytes on the wire. The run is a PCA run (a run's embeddings are N x 2 per epoch whatever the method;
  PCA fits 50 epochs of 1M in minutes);
* fit: DVI seconds per epoch at N = K (all samples) and at N = 1M with ``fit_sample=K`` (same step counts:
  --steps-scale), the kernel's peak anonymous memory, and NN@15 at the last fitted epoch on a held-out random
  subsample of samples the fit did not see versus one of samples it saw (same size, exact kNN on each subsample).

    python benchmarks/scale.py --dir /tmp/ttvis-scale                     # both sizes, then deletes the data
    python benchmarks/scale.py --dir /tmp/ttvis-scale --only 60k --keep   # one size, keep the data
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

SIZES = {"1m": (1_000_000, 50), "60k": (60_000, 200), "smoke": (20_000, 4)}  # smoke: a check of the script
DIM, CLASSES, LATENT = 64, 10, 4


# ---- data -----------------------------------------------------------------------------------------
def write_dynamics(root: Path, n: int, epochs: int, seed: int = 0) -> None:
    """Ten classes, each a 4-D linear manifold in 64-D whose centre moves away from the others as training goes
    on; a linear head scores the classes (predictions, border points). One epoch in memory at a time."""
    import torch

    from ttvis_widget import SummaryWriter

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    split = (rng.random(n) < 1 / 6).astype(np.uint8)
    centres = rng.normal(size=(CLASSES, DIM)).astype(np.float32) * 3
    basis = rng.normal(size=(CLASSES, LATENT, DIM)).astype(np.float32)
    u = rng.normal(size=(n, LATENT)).astype(np.float32)
    w = SummaryWriter(root)
    w.set_samples(labels=labels, split=split)
    head = torch.nn.Linear(DIM, CLASSES)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(centres / np.linalg.norm(centres, axis=1, keepdims=True)))
        head.bias.zero_()
    for e in range(1, epochs + 1):
        s = 0.2 + 0.8 * e / epochs
        X = np.empty((n, DIM), np.float32)
        for c in range(CLASSES):
            m = labels == c
            X[m] = s * centres[c] + u[m] @ basis[c]
        X += rng.normal(scale=0.3, size=X.shape).astype(np.float32)
        logits = X @ head.weight.detach().numpy().T
        w.add_epoch(e, X, prediction=logits, head=head)
        del X, logits
    w.close()


# ---- memory ---------------------------------------------------------------------------------------
def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


class AnonPeak:
    """Peak anonymous resident memory (RssAnon: not the page cache, not file-backed memory maps), sampled."""

    def __init__(self, every: float = 0.02):
        self.base = _status("RssAnon")
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._t.start()

    def _run(self, every):
        while not self._stop.is_set():
            self.peak = max(self.peak, _status("RssAnon"))
            time.sleep(every)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _status("RssAnon"))
        return (self.peak - self.base) / 2**20


# ---- measurements (each in its own process) ------------------------------------------------------
def child_fit_pca(path: str) -> dict:
    import ttvis_widget

    t0 = time.perf_counter()
    ttvis_widget.fit(path, method="pca", progress=False)
    return {"pca_fit_s": time.perf_counter() - t0}


def child_load(path: str) -> dict:
    import ttvis_widget
    import ttvis_widget.widget  # noqa: F401  (imports apart from the load)
    from ttvis_widget.widget import transport as tr
    from ttvis_widget.widget.widget import TimeTravelWidget

    mem = AnonPeak()
    t0, c0 = time.perf_counter(), time.process_time()
    dyn = ttvis_widget.load(path)
    run = ttvis_widget.fit(dyn, method="pca", progress=False)
    w = TimeTravelWidget(run)
    p = w.payload
    chunks = tr.chunk_messages(p, "bench")
    first = next(chunks)
    t_first = time.perf_counter() - t0
    wire = sum(b.nbytes for b in first[1])
    for _, bufs in chunks:
        wire += sum(b.nbytes for b in bufs)
    t_all = time.perf_counter() - t0
    # CPU seconds of all threads: on a shared machine the wall time is mostly other processes' doing
    return {"first_epoch_s": t_first, "all_epochs_s": t_all, "cpu_s": time.process_time() - c0,
            "anon_mb": mem.stop(), "wire_mb": wire / 2**20, "rss_file_mb": _status("RssFile") / 2**20,
            "load_avg_1min": os.getloadavg()[0]}


def child_fit_dvi(path: str, k: int | None, epochs: int, steps_scale: float, cache: str) -> dict:
    import ttvis_widget
    from ttvis_widget.metrics.neighbors import nn_exact

    dyn = ttvis_widget.load(path)
    eps = dyn.epochs[-epochs:]
    mem = AnonPeak()
    t0, c0 = time.perf_counter(), time.process_time()
    run = ttvis_widget.fit(dyn, method="dvi", epochs=eps, progress=False, cache_dir=cache, fit_sample=k,
                           steps_scale=steps_scale, num_threads=1)  # two threads on two shared cores wait
    total = time.perf_counter() - t0
    # CPU seconds per epoch: the ratio of two fits that does not depend on what else the machine ran
    out = {"n": dyn.n_samples, "k": k, "epochs": len(eps), "total_s": total,
           "cpu_s_per_epoch": (time.process_time() - c0) / len(eps), "anon_mb": mem.stop(),
           "load_avg_1min": os.getloadavg()[0],
           "s_per_epoch": [round(run.manifest["timings"]["epochs"][str(e)].get("train_s", 0)
                                 + run.manifest["timings"]["epochs"][str(e)].get("graph_s", 0), 2) for e in eps]}
    last = eps[-1]
    emb, reps = run.embedding(last), dyn.representation(last)
    rng = np.random.default_rng(1)
    m = 5000
    if run.fit_index is not None:
        seen = np.zeros(dyn.n_samples, bool)
        seen[run.fit_index] = True
        for name, pool in (("seen", np.flatnonzero(seen)), ("unseen", np.flatnonzero(~seen))):
            sub = np.sort(rng.choice(pool, min(m, len(pool)), replace=False))
            out[f"nn15_{name}"] = nn_exact(np.asarray(reps[sub]), emb[sub], k=15)
    else:
        sub = np.sort(rng.choice(dyn.n_samples, min(m, dyn.n_samples), replace=False))
        out["nn15_all"] = nn_exact(np.asarray(reps[sub]), emb[sub], k=15)
    return out


def _child(fn: str, *args) -> dict:
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import scale; " \
           f"print('RESULT', json.dumps(scale.{fn}(*json.loads(sys.argv[1]))))"
    # one BLAS/OpenMP thread: on two shared cores more threads wait for each other (PCA 60k x 64: seconds an epoch)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", code, json.dumps(list(args))], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{fn} failed:\n{r.stderr[-4000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/ttvis-scale")
    ap.add_argument("--only", choices=sorted(SIZES), default=None)
    ap.add_argument("--keep", action="store_true", help="keep the data (default: delete it at the end)")
    ap.add_argument("--fit-sample", type=int, default=50_000)
    ap.add_argument("--fit-epochs", type=int, default=2, help="DVI epochs fitted per measurement")
    ap.add_argument("--steps-scale", type=float, default=1.0, help="DVI step counts x this (both fits alike)")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: load,fit")
    a = ap.parse_args()
    root = Path(a.dir)
    skip = set(filter(None, a.skip.split(",")))
    try:
        for name, (n, epochs) in SIZES.items():
            if (a.only and name != a.only) or (not a.only and name == "smoke"):
                continue
            path = root / name
            if not (path / "ttvis.json").exists():
                t0 = time.perf_counter()
                write_dynamics(path, n, epochs)
                print(f"{name}: wrote {n:,} x {epochs} x {DIM} in {time.perf_counter() - t0:.0f} s", flush=True)
            if "fit" not in skip and name in ("1m", "smoke"):
                cache = str(root / "fits")
                small = root / f"{name}-sample-size"
                if not (small / "ttvis.json").exists():
                    write_dynamics(small, a.fit_sample, epochs)  # the same schedule: fit its last epochs too
                print(f"{a.fit_sample:,} (all samples): {_child('child_fit_dvi', str(small), None, a.fit_epochs, a.steps_scale, cache)}",
                      flush=True)
                print(f"{name} fit_sample={a.fit_sample}: "
                      f"{_child('child_fit_dvi', str(path), a.fit_sample, a.fit_epochs, a.steps_scale, cache)}",
                      flush=True)
            if "load" not in skip:
                print(f"{name}: PCA run {_child('child_fit_pca', str(path))}", flush=True)
                # the first open computes each epoch's predicted class and confidence and caches them
                # (store/summaries.py); the second reads them back
                shutil.rmtree(path / "ttvis_cache" / "prediction_summaries", ignore_errors=True)
                for rep, what in enumerate(("first open", "reopen", "reopen")):
                    print(f"{name}: load #{rep + 1} ({what}) {_child('child_load', str(path))}", flush=True)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
