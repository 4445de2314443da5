"""``ttvis eval PATH --run RUN_DIR_OR_METHOD``: faithfulness metrics of a fitted run, printed as a table."""
from __future__ import annotations

import json
from pathlib import Path

from ..cliargs import add_command, add_epochs_option, add_load_options


def open_run(path, run: str, trust_model_code: bool = False, allow_gaps: bool = False):
    """A VisRun from a run folder (``.../runs/<method>-<hash>``, reloaded through ``fit``'s cache) or a method
    name (fitted now, or loaded from the cache when already fitted with default parameters)."""
    import ttvis_widget
    from ttvis_widget.engine.run import read_run_manifest

    dyn = ttvis_widget.load(path, trust_model_code=trust_model_code, allow_gaps=allow_gaps)
    run_dir = Path(run)
    if run_dir.is_dir():
        man = read_run_manifest(run_dir)
        if man is None:
            raise SystemExit(f"ttvis eval: {run_dir} has no run manifest (manifest.json)")
        if not man.get("complete"):
            raise SystemExit(f"ttvis eval: the run in {run_dir} did not finish; run `ttvis fit` again to resume it")
        params = dict(man.get("params") or {})
        r = ttvis_widget.fit(dyn, method=man["method"], epochs=man.get("epochs"), cache_dir=run_dir.parent.parent,
                             progress=False, **params)
        if Path(r.path).resolve() != run_dir.resolve():
            raise SystemExit(f"ttvis eval: {run_dir} does not match these training dynamics "
                             f"(its settings lead to {r.path})")
        return r
    return ttvis_widget.fit(dyn, method=run, progress=True)


def _eval(args) -> int:
    from .evaluate import evaluate_run
    from .table import format_run_row, format_table, summary_columns

    run = open_run(args.path, args.run, args.trust_model_code, args.allow_gaps)
    kw = dict(ks=tuple(args.ks), seed=args.seed, paper_form=not args.no_paper, recompute=args.recompute,
              progress=not args.quiet)
    if args.trust_max_n is not None:
        kw["trust_max_n"] = args.trust_max_n or None
    rows = evaluate_run(run, epochs=args.epochs, **kw)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    ep = [r for r in rows if r.get("row") == "epoch"]
    k = args.k if args.k in args.ks else args.ks[len(args.ks) // 2]
    print(f"{run.method} run {run.path}")
    print(format_table(ep, None if args.all else summary_columns(k)))
    print()
    print(format_run_row(rows[-1]))
    print(f"\n(cached in {Path(run.path) / 'metrics.json'}; nn*_exact: fraction, self excluded; nn*_paper: "
          "count incl. self (NNDescent); _all = train ∪ test; bnn*_test vs an independent border set)")
    return 0


def register(subparsers) -> None:
    from ..engine import registry

    p = add_command(subparsers, "eval", "faithfulness metrics (NN, BNN, PPR, temporal, trustworthiness) of a run",
                    examples=[
                        "ttvis eval demo_data/fashion_mnist --run dvi",
                        "ttvis eval demo_data/fashion_mnist --run demo_data/fashion_mnist/ttvis_cache/runs/dvi-<hash>",
                        "ttvis eval demo_data/fashion_mnist --run pca --epochs 1-3 --ks 10 15 --no-paper",
                        "ttvis eval demo_data/fashion_mnist --run umap --epochs 1,15 --json",
                    ], description="Score a fitted run (or fit it first, given a method name) and print a table; "
                                   "results are cached in the run's metrics.json. Prints one line per epoch.")
    p.add_argument("path", help="training-dynamics folder")
    p.add_argument("--run", required=True, help="run folder (<path>/ttvis_cache/runs/<method>-<hash>) or a method "
                                                f"name ({', '.join(registry.names())}), fitted with its defaults when needed")
    add_epochs_option(p, "epochs for the per-epoch metrics", "all of the run's")
    p.add_argument("--ks", type=int, nargs="+", default=[10, 15, 20], help="neighbourhood sizes")
    p.add_argument("--k", type=int, default=15, help="k shown in the summary table (one of --ks)")
    p.add_argument("--seed", type=int, default=0, help="seed of NNDescent, the subsamples and the border set")
    p.add_argument("--no-paper", action="store_true",
                   help="skip the papers' NNDescent form of NN@k (saves pynndescent's numba compilation, ~30-40 s)")
    p.add_argument("--trust-max-n", type=int, default=None,
                   help="subsample size for trustworthiness (its memory grows with the square); 0: all samples "
                        "(default: 2000)")
    p.add_argument("--recompute", action="store_true", help="ignore the cached metrics.json")
    p.add_argument("--all", action="store_true", help="print every per-epoch column")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    add_load_options(p)
    p.set_defaults(func=_eval)
