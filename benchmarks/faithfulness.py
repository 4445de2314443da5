"""Faithfulness benchmark: every registered method (DVI, TimeVis, DynaVis, per-epoch UMAP, AlignedUMAP, PCA...)
on the same training dynamics, scored with identical code (``ttvis_widget.metrics.evaluate_run``), following
the papers' evaluation protocol.

    python benchmarks/faithfulness.py                       # demo Fashion-MNIST (python -m ttvis_widget.demo.fashion)
    python benchmarks/faithfulness.py --data PATH --methods pca umap --out results.json

Prints one table (NN@k in both forms, BNN@k, PPR, tlr of the stage, fit seconds per epoch) at the Begin / Mid /
End epochs (first, middle, last recorded epoch; each lies in stage 1 / 2 / 3 of the 3-stage split used by tlr),
then the orderings the papers report (shape checks), then the metric-evaluation time for one epoch (JIT
warm-up excluded and reported apart). Writes everything as JSON; current figures: benchmarks/RESULTS.md.

Honest notes printed with the table: fit time per epoch excludes numba JIT warm-up (reported separately) and is
read from the run manifest, so a run loaded from the cache reports the time of its original fit; UMAP and
AlignedUMAP cannot project new points here, so they have no BNN (the papers fitted UMAP on train + border points).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ttvis_widget.engine.registry import names as _method_names

METHODS = _method_names()


def _parse_params(items):
    """--param dvi:n_epochs=5 -> {"dvi": {"n_epochs": 5}} (values parsed as JSON when possible)."""
    out: dict = {}
    for it in items or []:
        method, _, kv = it.partition(":")
        key, _, val = kv.partition("=")
        try:
            v = json.loads(val)
        except ValueError:
            v = val
        out.setdefault(method, {})[key] = v
    return out


def fit_seconds_per_epoch(run) -> dict:
    t = dict(run.manifest.get("timings") or {})
    n = max(1, len(run.epochs))
    jit = float(t.get("jit_s") or 0.0)
    total = t.get("total_s")
    return {"fit_s_per_epoch": None if total is None else (float(total) - jit) / n, "jit_s": jit,
            "fit_total_s": total}


def warm_numba():
    """JIT-compile pynndescent once so that metric timings exclude it (returns seconds)."""
    from ttvis_widget.metrics.knn import nndescent_knn

    t = time.perf_counter()
    x = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    nndescent_knn(x, 15)
    nndescent_knn(x[:, :2].copy(), 15)
    return time.perf_counter() - t


def shape_checks(res: dict, k: int) -> list[str]:
    """The orderings the papers report, evaluated on this benchmark's End stage (and tlr means)."""
    def end(method, key):
        rows = res.get(method, {}).get("rows") or []
        ep = [r for r in rows if r.get("row") == "epoch"]
        return ep[-1].get(key) if ep else None

    def run_row(method, key):
        rows = res.get(method, {}).get("rows") or []
        return rows[-1].get(key) if rows else None

    out = []
    nn = {m: end(m, f"nn{k}_paper_train") or end(m, f"nn{k}_exact_train") for m in METHODS}
    have = {m: v for m, v in nn.items() if v is not None}
    if have:
        order = sorted(have, key=lambda m: -have[m])
        out.append(f"1. NN@{k} (End, train) order: {' > '.join(order)}   [papers: t-SNE > UMAP ≳ DVI > PCA]")
    bn = {m: end(m, f"bnn{k}_train") for m in METHODS}
    have = {m: v for m, v in bn.items() if v is not None}
    if have:
        order = sorted(have, key=lambda m: -have[m])
        out.append(f"2. BNN@{k} (End, train) order: {' > '.join(order)}   [papers: DVI > UMAP / t-SNE > PCA; "
                   "UMAP/AlignedUMAP have no BNN here]")
    for m in METHODS:
        p = end(m, "ppr_train")
        if p is not None:
            out.append(f"3. End PPR {m}: train {p:.3f} / test {end(m, 'ppr_test'):.3f}   [papers: ≥ 0.95 train, test "
                       "slightly lower]")
    tl = {m: run_row(m, "tlr_train_mean") for m in METHODS}
    have = {m: v for m, v in tl.items() if v is not None}
    if have:
        out.append("5. tlr (train, mean over epochs): " + ", ".join(f"{m} {v:.3f}" for m, v in have.items())
                   + "   [papers: temporal modes (TimeVis/DeepDebugger ≈ 0.6–0.8) > per-epoch modes]")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("TTVIS_DEMO_DATA", "demo_data/fashion_mnist"))
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--epochs", type=int, nargs="+", default=None,
                   help="Begin/Mid/End epochs (default: first, middle and last recorded)")
    p.add_argument("--k", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-paper", action="store_true", help="skip the papers' NNDescent form")
    p.add_argument("--param", action="append", help="method:key=value passed to fit (repeatable)")
    p.add_argument("--cache-dir", default=None, help="where runs are stored (default: the data's ttvis_cache)")
    p.add_argument("--out", default=None, help="JSON output (default <data>/ttvis_cache/benchmarks/faithfulness.json)")
    p.add_argument("--recompute", action="store_true", help="recompute metrics even when cached")
    a = p.parse_args(argv)

    import ttvis_widget
    from ttvis_widget.metrics import evaluate_run
    from ttvis_widget.metrics.table import format_table
    from ttvis_widget.store.atomic import atomic_write_json

    dyn = ttvis_widget.load(a.data)
    eps = dyn.epochs
    stage_epochs = a.epochs or sorted({eps[0], eps[len(eps) // 2], eps[-1]})
    params = _parse_params(a.param)
    print(f"data: {dyn!r} dim={dyn.dim}")
    print(f"Begin/Mid/End epochs: {stage_epochs}; k = {a.k}; seed = {a.seed}")
    jit = warm_numba() if not a.no_paper else 0.0
    print(f"pynndescent JIT warm-up: {jit:.1f} s (excluded from metric timings)\n")

    res: dict = {}
    for m in a.methods:
        entry: dict = {"method": m}
        res[m] = entry
        try:
            t = time.perf_counter()
            run = ttvis_widget.fit(dyn, method=m, seed=a.seed, cache_dir=a.cache_dir, progress=True,
                                   **params.get(m, {}))
            entry["fit_call_s"] = time.perf_counter() - t
        except (ImportError, NotImplementedError, ValueError) as e:
            entry["error"] = f"{type(e).__name__}: {e}"
            print(f"[{m}] not available: {entry['error']}", flush=True)
            continue
        entry.update(fit_seconds_per_epoch(run))
        entry["run_path"] = str(run.path)
        entry["finite_epochs"] = [e for e in run.epochs if np.isfinite(run.embedding(e)).all()]
        t = time.perf_counter()
        rows = evaluate_run(run, epochs=stage_epochs, ks=(a.k,), seed=a.seed, paper_form=not a.no_paper,
                            recompute=a.recompute)
        entry["metrics_call_s"] = time.perf_counter() - t
        entry["rows"] = rows
        print(f"[{m}] fit {entry['fit_s_per_epoch'] or float('nan'):.2f} s/epoch (+ JIT {entry['jit_s']:.1f} s); "
              f"metrics {entry['metrics_call_s']:.1f} s; finite embeddings at {len(entry['finite_epochs'])} of "
              f"{len(run.epochs)} epochs", flush=True)

    k = a.k
    table = []
    for m, entry in res.items():
        if "rows" not in entry:
            table.append({"method": m, "stage": "n/a"})
            continue
        run_row = entry["rows"][-1]
        for i, r in enumerate(r for r in entry["rows"] if r.get("row") == "epoch"):
            st = r.get("stage")
            table.append({"method": m, "stage": ["Begin", "Mid", "End"][i] if len(stage_epochs) == 3 else st,
                          "epoch": r["epoch"],
                          f"NN@{k} exact tr": r.get(f"nn{k}_exact_train"), f"NN@{k} exact all": r.get(f"nn{k}_exact_all"),
                          f"NN@{k} paper tr": r.get(f"nn{k}_paper_train"), f"NN@{k} paper all": r.get(f"nn{k}_paper_all"),
                          f"BNN@{k} tr": r.get(f"bnn{k}_train"), f"BNN@{k} te": r.get(f"bnn{k}_test"),
                          "PPR tr": r.get("ppr_train"), "PPR te": r.get("ppr_test"),
                          "tlr tr (stage)": run_row.get(f"tlr_train_stage{st}") if st else None,
                          "tlr te (stage)": run_row.get(f"tlr_test_stage{st}") if st else None,
                          "fit s/epoch": entry.get("fit_s_per_epoch"), "metric s": r.get("seconds")})
    print()
    print(format_table(table))
    print("\nNN exact: fraction (self excluded, exact); NN paper: count incl. self (NNDescent, papers' form); "
          "'all' = train ∪ test (the papers' NN 'test'); BNN te = test vs an independent border set (FSE form); "
          "PPR te = test only; tlr = mean Spearman within the stage (3 stages over all recorded epochs).")
    for m, entry in res.items():
        if "error" in entry:
            print(f"{m}: not available ({entry['error']})")
    checks = shape_checks(res, k)
    print("\nShape checks (the papers' orderings):")
    for c in checks:
        print("  " + c)

    # timing: all metrics for one epoch of this data, warm
    timing = None
    if any("rows" in e for e in res.values()):
        m = next(m for m in ["pca"] + METHODS if "rows" in res.get(m, {}))
        run = ttvis_widget.fit(dyn, method=m, seed=a.seed, cache_dir=a.cache_dir, progress=False, **params.get(m, {}))
        t = time.perf_counter()
        rows = evaluate_run(run, epochs=[eps[-1]], ks=(10, 15, 20), seed=a.seed, paper_form=not a.no_paper,
                            temporal=False, cache=False)
        dt = time.perf_counter() - t
        timing = {"method": m, "n_samples": dyn.n_samples, "dim": dyn.dim, "seconds": dt,
                  "parts": rows[0].get("seconds_parts"), "cpu_count": os.cpu_count(),
                  "torch_threads": __import__("torch").get_num_threads()}
        parts = ", ".join(f"{k_}: {v:.2f}" for k_, v in (timing["parts"] or {}).items())
        forms = "exact NN form only" if a.no_paper else "both NN forms"
        print(f"\nAll metrics for one epoch (k = 10/15/20, {forms}, BNN train+test incl. generating B′, "
              f"inverse, trust/cont; temporal excluded), N = {dyn.n_samples}, D = {dyn.dim}, {m}: {dt:.2f} s "
              f"[{parts}] ({os.cpu_count()} CPUs visible, shared)")
        print(f"Temporal metrics over all {len(eps)} epochs (once per run): "
              f"{res[m]['rows'][-1].get('seconds_temporal', float('nan')):.2f} s")

    out = Path(a.out) if a.out else Path(dyn.output_dir) / "benchmarks" / "faithfulness.json"
    atomic_write_json(out, {"data": str(a.data), "stage_epochs": stage_epochs, "k": k, "seed": a.seed,
                            "jit_warmup_s": jit, "methods": res, "table": table, "shape_checks": checks,
                            "metric_timing": timing})
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
