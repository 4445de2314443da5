"""Fit speed and quality of every engine method on the demo Fashion-MNIST dynamics (or any --data).

    python benchmarks/fit_speed.py [--data demo_data/fashion_mnist] [--epochs 10] [--methods dvi,timevis,...]
                                   [--params '{"dvi": {"encoder_steps": 2000}}']

Default methods: every registered one (ttvis_widget.engine.registry).

Each method runs in its own subprocess (separate peak memory, separate JIT) on a fresh cache folder.
Reports seconds per epoch (JIT excluded; JIT shown apart), graph time, peak RSS of the whole run, what the
fit itself added to the process (peak RSS during the fit minus the RSS after loading the data and importing
torch, and umap-learn for its methods, so numba's JIT memory counts as the fit's), the same for anonymous
memory alone (RssAnon, sampled: what the fit allocated, without the library code and memory-mapped recording
pages that the whole RSS also counts) and that anonymous increment as a multiple of one epoch's
representations plus the fitted graph (N·D float32 + edges as int32
head, int32 tail, float32 weight; DVI: its largest epoch graph, TimeVis: the whole spatio-temporal complex),
NN@15 (exact kNN, self excluded, fraction; mean over epochs; queries: a fixed subsample of --nn-queries
samples against all), PPR at the last epoch (methods with an inverse), and each parametric method's time
relative to umap-learn's UMAP. Current figures: benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_of(n, f):
    """Fastest of ``n`` timed calls (seconds): single calls on a shared machine vary a lot."""
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def rss_mb() -> float | None:
    """Resident set size of this process now (MB), from /proc (Linux); None elsewhere."""
    return proc_status_mb("VmRSS").get("VmRSS")


def proc_status_mb(*keys: str) -> dict:
    """Fields of /proc/self/status in MB (Linux): VmRSS, RssAnon (heap, stacks: what the process allocated),
    RssFile (mapped files: shared-library code, memory-mapped recordings). Empty elsewhere."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for ln in f:
                k = ln.split(":", 1)[0]
                if k in keys:
                    out[k] = int(ln.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return out


class PeakAnon:
    """Peak of RssAnon while the block runs, read by a thread every ``interval`` s (a peak shorter than that
    can be missed). Not more often: on 2 cores a thread that wakes every few milliseconds preempts torch's
    OpenMP workers in the middle of their many small parallel regions and slows down the fits made of
    thousands of small steps, while the peak it finds barely moves. The kernel's VmHWM covers only the whole
    RSS, which also counts the pages of libtorch's code and of the memory-mapped recording that the fit
    touches for the first time: those are file pages the kernel can drop, not memory the fit allocated."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.base = self.peak = None

    def __enter__(self):
        import threading

        self.base = self.peak = proc_status_mb("RssAnon").get("RssAnon")
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        if self.base is not None:
            self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            v = proc_status_mb("RssAnon").get("RssAnon")
            if v is not None and v > self.peak:
                self.peak = v

    def __exit__(self, *exc):
        self._stop.set()
        if self._t.is_alive():
            self._t.join()
        v = proc_status_mb("RssAnon").get("RssAnon")
        if v is not None and self.peak is not None:
            self.peak = max(self.peak, v)
        return False

    @property
    def added(self) -> float | None:
        return None if self.base is None else self.peak - self.base


def graph_mb(timings: dict) -> float | None:
    """Size of the fitted graph (MB) from a run's timings: DVI's largest epoch graph, TimeVis' whole complex."""
    per_epoch = [i.get("n_edges") for i in timings.get("epochs", {}).values() if isinstance(i, dict)]
    edges = timings.get("n_edges") or max((e for e in per_epoch if e), default=None)
    return None if not edges else edges * 12 / 2**20


def nn_at_k(X, Y, q, k=15):
    from ttvis_widget.engine.knn import knn_exact

    a, _ = knn_exact(X[q], k + 1, Y=X)
    b, _ = knn_exact(Y[q], k + 1, Y=Y)
    a, b = a[:, 1:], b[:, 1:]  # drop self
    return float((a[:, :, None] == b[:, None, :]).any(2).sum(1).mean() / k)


def one(args) -> dict:
    import ttvis_widget
    from ttvis_widget.engine import fit

    dyn = ttvis_widget.load(args.data)
    eps = dyn.epochs[: args.epochs]
    import torch  # noqa: F401  libraries in the baseline: their code is not the fit's memory
    if args.one in ("umap", "aligned-umap"):
        import umap  # noqa: F401
    base = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        with PeakAnon(args.mem_interval) as anon:
            t0 = time.perf_counter()
            # umap-learn's UMAP as the reference measures it: fit_transform only, not our extra placing of
            # border points (its transform added ~0.9 s per demo epoch)
            params = {"embed_borders": False} if args.one == "umap" else {}
            params.update(json.loads(args.params).get(args.one, {}))
            run = fit(dyn, method=args.one, epochs=eps, cache_dir=tmp, progress=False, **params)
            wall = time.perf_counter() - t0
        fit_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = run.manifest["timings"]
        rng = np.random.default_rng(0)
        q = np.sort(rng.choice(dyn.n_samples, min(args.nn_queries, dyn.n_samples), replace=False))
        nn = [nn_at_k(dyn.representation(e), run.embedding(e), q) for e in eps]
        ppr = None
        if run.has_inverse and dyn.head(eps[-1]) is not None:
            h = dyn.head(eps[-1])
            X = dyn.representation(eps[-1])
            ppr = float((h(run.inverse(eps[-1], run.embedding(eps[-1]))).argmax(1) == h(X).argmax(1)).mean())
        proj_ms = None
        if run.has_inverse:
            X = dyn.representation(eps[-1])[:10000]
            run.transform(eps[-1], X)  # warm-up (model load)
            proj_ms = best_of(5, lambda: run.transform(eps[-1], X)) * 1000
        terr_s = None
        if run.has_inverse and args.territory:
            from ttvis_widget.engine.territory import compute_territory

            terr_s = best_of(3, lambda: compute_territory(run, eps[-1], 512))  # computed, not read from the cache
    jit = float(t.get("jit_s", 0.0))
    # each epoch's own graph + training time where a method times its epochs apart (DVI, the UMAPs): the first
    # one carries the start-up (a GPU's context and kernels), the later ones are the warm figure
    per_epoch = [float(i.get("graph_s", 0.0)) + float(i.get("train_s", 0.0))
                 for i in t.get("epochs", {}).values()
                 if isinstance(i, dict) and "train_s" in i and not i.get("shared")]  # TimeVis: one fit for all
    return {"method": args.one, "device": run.manifest.get("device"), "epoch_s": per_epoch, "epochs": len(eps), "n": dyn.n_samples, "dim": dyn.dim, "wall_s": wall,
            "jit_s": jit, "graph_s": float(t.get("graph_s", 0.0)), "s_per_epoch": (wall - jit) / len(eps),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "fit_mb": None if base is None else fit_peak - base, "fit_anon_mb": anon.added, "reps_mb": dyn.n_samples * dyn.dim * 4 / 2**20,
            "graph_mb": graph_mb(t), "nn15": float(np.mean(nn)),
            "nn15_last": nn[-1], "ppr_last": ppr, "project_10k_ms": proj_ms, "territory_512_s": terr_s}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / "demo_data" / "fashion_mnist"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--methods", default=None, help="comma-separated (default: every registered method)")
    p.add_argument("--nn-queries", type=int, default=3000)
    p.add_argument("--mem-interval", type=float, default=0.2,
                   help="seconds between memory samples during a fit (more often slows the fit down: see PeakAnon)")
    p.add_argument("--territory", action="store_true", default=True)
    p.add_argument("--params", default="{}",
                   help='JSON of parameters per method, e.g. \'{"dvi": {"encoder_steps": 2000}}\'')
    p.add_argument("--no-bracket", dest="bracket", action="store_false",
                   help="run umap once (default: again after the other methods, and the x UMAP ratios use the mean)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(one(args)), flush=True)
        return 0
    rows = []
    from ttvis_widget.engine import registry

    methods = args.methods.split(",") if args.methods else registry.names()
    if args.bracket and "umap" in methods and len(methods) > 1:
        # a shared machine's speed drifts within minutes, so the baseline is measured before and after the
        # others, and the ratios use the mean of the two
        methods = methods + ["umap"]
    for m in methods:
        cmd = [sys.executable, __file__, "--data", args.data, "--epochs", str(args.epochs), "--one", m,
               "--nn-queries", str(args.nn_queries), "--params", args.params, "--mem-interval", str(args.mem_interval)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
        if out.returncode or not line:
            print(f"{m}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        r = json.loads(line[0][7:])
        rows.append(r)
        print(f"done {m}: {r['s_per_epoch']:.2f} s/epoch", file=sys.stderr, flush=True)
    umap_runs = [r["s_per_epoch"] for r in rows if r["method"] == "umap"]
    umap_s = float(np.mean(umap_runs)) if umap_runs else None
    hdr = (f"{'method':<13}{'s/epoch':>8}{'graph s':>9}{'JIT s':>7}{'peak MB':>9}{'fit +MB':>9}{'anon +MB':>9}{'x data':>7}"
           f"{'NN@15':>7}{'NN@15 last':>11}"
           f"{'PPR last':>9}{'x UMAP':>8}{'proj10k ms':>11}{'terr512 s':>10}")
    print(f"data: {args.data}  N={rows[0]['n'] if rows else '?'}  D={rows[0]['dim'] if rows else '?'}  "
          f"epochs={args.epochs}" + (f"  params={args.params}" if json.loads(args.params) else ""))
    print(hdr)
    for r in rows:
        ratio = f"{r['s_per_epoch'] / umap_s:.2f}" if umap_s and r["method"] not in ("umap", "pca") else "-"
        f = lambda v, fmt: (fmt.format(v) if v is not None else "-")  # noqa: E731
        data_mb = r["reps_mb"] + (r["graph_mb"] or 0.0)
        anon = r.get("fit_anon_mb")
        mult = anon / data_mb if anon is not None and r["graph_mb"] else None
        print(f"{r['method']:<13}{r['s_per_epoch']:>8.2f}{r['graph_s'] / r['epochs']:>9.2f}{r['jit_s']:>7.1f}"
              f"{r['peak_mb']:>9.0f}{f(r['fit_mb'], '{:.0f}'):>9}{f(anon, '{:.0f}'):>9}{f(mult, '{:.1f}'):>7}"
              f"{r['nn15']:>7.3f}{r['nn15_last']:>11.3f}{f(r['ppr_last'], '{:.3f}'):>9}"
              f"{ratio:>8}{f(r['project_10k_ms'], '{:.1f}'):>11}{f(r['territory_512_s'], '{:.2f}'):>10}")
    for r in rows:
        if r.get("epoch_s"):
            warm = f" (after the first: {np.mean(r['epoch_s'][1:]):.2f})" if len(r["epoch_s"]) > 1 else ""
            print(f"  {r['method']} on {r.get('device') or 'cpu'}: graph + training per epoch (s) "
                  + " ".join(f"{v:.2f}" for v in r["epoch_s"]) + warm)
    for r in rows:
        if r["graph_mb"]:
            print(f"  {r['method']}: one epoch's representations {r['reps_mb']:.1f} MB + graph {r['graph_mb']:.1f} MB")
    if umap_s:
        print(f"x UMAP: seconds per epoch over umap-learn's ({umap_s:.2f} s here"
              + (f", mean of {len(umap_runs)} runs before and after the others" if len(umap_runs) > 1 else "") + ")")
    print("fit +MB: peak RSS during the fit minus RSS after imports and loading (counts the file pages of "
          "library code and of the memory-mapped recording that the fit touches); anon +MB: the same for "
          "anonymous memory (what the fit allocated), sampled every --mem-interval s; x data: anon +MB over one epoch's "
          "representations + the graph")
    return 0


if __name__ == "__main__":
    sys.exit(main())
