"""Analysis-room benchmark: training events, neighbours, similar samples and influence at 60k x 512 x 50 epochs.

    python benchmarks/analysis.py                        # 60,000 samples x 512-d x 50 epochs, 3 runs
    python benchmarks/analysis.py --n 6000 --epochs 12 --runs 1      # a quick look

What it does, honestly:

* synthetic dynamics written in our on-disk layout with the project's ``SummaryWriter`` (6.1 GB of
  representations at the default size, plus logits and a linear head per epoch) into ``--data`` (reused by
  later invocations with the same settings); 10 classes whose clusters tighten over the epochs, 50k train /
  10k test, logits from a linear head on the representation, and a 2-D "run" that is a fixed random
  projection of each epoch (no fit: the 2-D side only needs positions);
* each run is a fresh process that opens the folder with ``ttvis_widget.load`` (memory maps) and times the
  public functions as the widget will call them. The files are read through the OS page cache, which this
  script does not drop (the machine is shared): when the folder was just written or read, the figures
  include reading from memory, not from the disk. The first line of each run, one epoch read once through
  its memory map, says which case it was;
* ``events cold``: the first call, which also pays the store's first read of three epochs (it checks every
  value is finite) and two distance passes; ``events scrub``: the next 10 epochs in order, one new epoch
  each, the store's first read of it included (the case of a fresh session); ``events scrub, epochs read
  before``: the same epochs once more after the analysis cache was cleared (the store has read them: the
  analysis' own cost; the difference is about one ``store: first read of one epoch``); ``events revisit``: an epoch seen before (everything cached);
* ``index one-off``: the per-epoch search index (the representations copied onto the compute device with
  their norms) and the 2-D k-d tree, built once per epoch; ``neighbors`` / ``similar``: per query after it;
* ``influence``: TracIn over the default 10 epochs, the first query (the store's first read of the epochs
  not touched before) and later ones.

``--runs`` runs repeat the measurement in fresh processes; the table gives the median over runs of each
run's median and the spread (min..max over runs of that median).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TARGETS = {"events scrub": 0.2, "events scrub, epochs read before": 0.2, "neighbors": 0.1, "similar cosine": 0.1, "similar euclidean": 0.1,
           "similar centroid of 10": 0.1, "similar vector": 0.1, "influence": 10.0}
MARKER = "bench_settings.json"


# ------------------------------------------------------------------------------------------ data
def settings(a) -> dict:
    return {"n": a.n, "dim": a.dim, "epochs": a.epochs, "classes": a.classes, "seed": a.seed, "generator": 2}


def ensure_data(a) -> Path:
    """Write the synthetic dynamics into ``a.data`` unless the same settings are already there."""
    from ttvis_widget import SummaryWriter
    from ttvis_widget.store import MLPHead

    root = Path(a.data)
    marker = root / MARKER
    if marker.exists():
        if json.loads(marker.read_text()) == settings(a):
            return root
        shutil.rmtree(root)  # ours (it has the marker), made with other settings
    elif root.exists() and any(root.iterdir()):
        sys.exit(f"{root} exists and was not written by this benchmark; pass another --data folder")
    t0 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    n, d, c = a.n, a.dim, a.classes
    labels = rng.integers(0, c, n)
    split = (np.arange(n) >= n * 5 // 6).astype(np.uint8)
    centres = rng.standard_normal((c, d), dtype=np.float32)
    offset = rng.standard_normal((n, d), dtype=np.float32)
    w = SummaryWriter(root, classes=[f"class {i}" for i in range(c)])
    w.set_samples(labels=labels, split=split)
    for e in range(1, a.epochs + 1):
        s = e / a.epochs
        rep = rng.standard_normal((n, d), dtype=np.float32)
        rep *= 0.5 * (1.0 - s) + 0.05
        rep += offset
        rep += (0.1 * s) * centres[labels]  # class margins grow from nothing to about 2 noise sigmas
        weight = (centres * (3.0 * s / np.sqrt(d))).astype(np.float32)
        head = MLPHead([weight], [np.zeros(c, np.float32)])
        w.add_epoch(e, rep, prediction=head(rep), head=head)
        print(f"\rwriting epoch {e}/{a.epochs}", end="", file=sys.stderr, flush=True)
    w.close()
    marker.write_text(json.dumps(settings(a)))
    print(f"\rwrote {root} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return root


class ProjectionRun:
    """The part of a VisRun the analysis reads: epochs and 2-D positions (a fixed random projection)."""

    def __init__(self, dynamics, seed: int = 0):
        self.dynamics = dynamics
        self.epochs = list(dynamics.epochs)
        self._p = np.random.default_rng(seed).standard_normal((dynamics.dim, 2)).astype(np.float32)

    def embedding(self, epoch):
        return np.asarray(self.dynamics.representation(epoch) @ self._p, np.float32)


# ------------------------------------------------------------------------------------------ one run
def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(a) -> dict:
    import torch

    import ttvis_widget
    from ttvis_widget.analysis import cache_info, clear_cache, influence, neighbors, similar, training_events
    from ttvis_widget.analysis.index import epoch_index, plane_index, resolve_device

    dyn = ttvis_widget.load(a.data)
    run = ProjectionRun(dyn)
    eps = dyn.epochs
    rng = np.random.default_rng(1)
    res: dict[str, list[float]] = {}

    def add(name, seconds):
        res.setdefault(name, []).append(seconds)

    # one epoch read once through its memory map: ~0.05 s from the page cache, seconds from a disk
    from ttvis_widget.store.ttvis_layout import epoch_dir
    mm = np.load(epoch_dir(a.data, eps[-2]) / "representation.npy", mmap_mode="r")
    add("read one epoch (page cache?)", _timed(lambda: float(np.asarray(mm, np.float32).sum()))[0])

    # the store's first read of an epoch (dynamics.representation checks every value is finite): part of any
    # first visit below, measured alone on an epoch nothing else here reads
    add("store: first read of one epoch", _timed(lambda: dyn.representation(eps[1]))[0])

    mid = eps[len(eps) // 2]
    scrub = eps[len(eps) // 2 + 1:len(eps) // 2 + 11]
    add("events cold", _timed(lambda: training_events(dyn, mid))[0])
    for e in scrub:
        add("events scrub", _timed(lambda: training_events(dyn, e))[0])
    clear_cache(dyn)  # the store has read these epochs now; the analysis starts again
    training_events(dyn, mid)
    for e in scrub:
        add("events scrub, epochs read before", _timed(lambda: training_events(dyn, e))[0])
    for _ in range(5):
        add("events revisit", _timed(lambda: training_events(dyn, mid))[0])
    ev = training_events(dyn, mid)

    import scipy.spatial  # noqa: F401 - its import (~1 s) is not the k-d tree's build time

    device = resolve_device(a.device)
    e = eps[-1]
    add("index one-off (representations)", _timed(lambda: epoch_index(dyn, e, device))[0])
    add("index one-off (2-D k-d tree)", _timed(lambda: plane_index(run, e))[0])
    queries = rng.integers(0, dyn.n_samples, a.queries)
    for i in queries:
        add("neighbors", _timed(lambda: neighbors(dyn, run, e, int(i), k=15, device=device))[0])
    for i in queries:
        add("similar cosine", _timed(lambda: similar(dyn, e, int(i), k=10, device=device))[0])
        add("similar euclidean", _timed(lambda: similar(dyn, e, int(i), k=10, metric="euclidean", device=device))[0])
    for _ in range(a.queries):
        group = rng.integers(0, dyn.n_samples, 10)
        add("similar centroid of 10", _timed(lambda: similar(dyn, e, group, k=10, device=device))[0])
        vec = rng.standard_normal(dyn.dim)
        add("similar vector", _timed(lambda: similar(dyn, e, vec, k=10, device=device))[0])

    t, first = _timed(lambda: influence(dyn, int(queries[0])))
    add("influence first query", t)
    for i in queries[1:6]:
        add("influence", _timed(lambda: influence(dyn, int(i)))[0])
    return {"times": res, "threads": torch.get_num_threads(), "device": device, "epochs_used": list(first.epochs),
            "event_counts": ev.counts(), "cache_mb": cache_info()["bytes"] / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ------------------------------------------------------------------------------------------ report
def report(runs: list[dict], a) -> None:
    names = list(runs[0]["times"])
    print(f"\nanalysis benchmark: N={a.n} x D={a.dim} x {a.epochs} epochs, {len(runs)} run(s), "
          f"torch threads {runs[0]['threads']}, device {runs[0]['device']}, {os.cpu_count()} CPUs")
    print(f"influence epochs (default): {runs[0]['epochs_used']}")
    print(f"events at the middle epoch: {runs[0]['event_counts']}")
    rss = ", ".join(f"{r['peak_rss_mb']:.0f}" for r in runs)
    print(f"cache after a run: {runs[0]['cache_mb']:.0f} MB; peak RSS per run: {rss} MB\n")
    print(f"| {'measure':34} | {'calls':>5} | {'median s':>9} | {'spread over runs':>17} | {'worst call':>10} | target |")
    print(f"|{'-' * 36}|{'-' * 7}|{'-' * 11}|{'-' * 19}|{'-' * 12}|--------|")
    for name in names:
        per_run = [statistics.median(r["times"][name]) for r in runs]
        worst = max(max(r["times"][name]) for r in runs)
        target = TARGETS.get(name)
        verdict = "" if target is None else (f"<= {target:g} " + ("ok" if statistics.median(per_run) <= target else "MISSED"))
        print(f"| {name:34} | {len(runs[0]['times'][name]):5d} | {statistics.median(per_run):9.4f} | "
              f"{min(per_run):7.4f}..{max(per_run):<8.4f} | {worst:10.4f} | {verdict} |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=60000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--queries", type=int, default=20, help="queries per function and run")
    p.add_argument("--runs", type=int, default=3, help="fresh processes that each measure everything")
    p.add_argument("--device", default=None, help="compute device for the search index (default: auto)")
    p.add_argument("--data", default=None, help="folder for the synthetic dynamics (default: under /tmp)")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # one run, JSON to stdout
    a = p.parse_args(argv)
    if a.data is None:
        a.data = f"/tmp/ttvis-analysis-bench-{a.n}x{a.dim}x{a.epochs}"
    if a.measure:
        print(json.dumps(measure(a)))
        return
    ensure_data(a)
    runs = []
    for k in range(a.runs):
        cmd = [sys.executable, __file__, "--measure", "--n", str(a.n), "--dim", str(a.dim), "--epochs",
               str(a.epochs), "--classes", str(a.classes), "--seed", str(a.seed), "--queries", str(a.queries),
               "--data", str(a.data)] + (["--device", a.device] if a.device else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"run {k + 1}/{a.runs} done", file=sys.stderr)
    report(runs, a)


if __name__ == "__main__":
    main()
