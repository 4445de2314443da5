"""``ttvis fit PATH --method dvi|timevis|umap|aligned-umap|pca [--epochs ...] [--device ...]``."""
from __future__ import annotations

import json

from ..cliargs import add_command, add_epochs_option


def _parse_value(v: str):
    try:
        return json.loads(v)
    except ValueError:
        return v


def _fit(args) -> int:
    from tqdm.auto import tqdm

    from .api import fit

    params = {}
    for item in args.param or []:
        k, _, v = item.partition("=")
        params[k.replace("-", "_")] = _parse_value(v)

    def summary(e, emb, info):
        parts = [f"epoch {e}:"]
        for key, fmt in (("train_s", "train {:.2f}s"), ("graph_s", "graph {:.2f}s"), ("steps", "{} steps"),
                         ("loss", "loss {:.4f}"), ("nu", "ν {:.3f}")):
            if info.get(key) is not None:
                parts.append(fmt.format(info[key]))
        tqdm.write(" ".join(parts))

    run = fit(args.path, method=args.method, epochs=args.epochs, device=args.device, seed=args.seed,
              cache_dir=args.cache_dir, progress=not args.quiet, callback=None if args.quiet else summary, **params)
    t = run.manifest.get("timings", {})
    print(f"{run.method}: {len(run.epochs)} epochs, N={run.dynamics.n_samples}, total {t.get('total_s', 0):.1f}s "
          f"(graph {t.get('graph_s', 0):.1f}s, train {t.get('train_s', 0):.1f}s, JIT {t.get('jit_s', 0):.1f}s) -> {run.path}")
    return 0


def register(subparsers) -> None:
    from . import registry

    p = add_command(subparsers, "fit", "fit a 2-D visualization (DVI, TimeVis, UMAP, AlignedUMAP, PCA)", examples=[
        "ttvis fit demo_data/fashion_mnist",
        "ttvis fit demo_data/fashion_mnist --method timevis --epochs 1-5 --device cpu",
        "ttvis fit demo_data/fashion_mnist --method umap --epochs 1,5,10 --quiet",
        "ttvis fit demo_data/fashion_mnist --method dvi --param lambda_temporal=0.1 --seed 1",
    ], description="Fit a 2-D visualization of every recorded epoch (or --epochs) and store it in the run cache; "
                   "an interrupted fit resumes, a finished one is loaded. Prints one line per finished epoch.")
    p.add_argument("path", help="training-dynamics folder")
    p.add_argument("--method", default="dvi", choices=registry.names(), help="visualization method")
    add_epochs_option(p, "epochs to fit")
    p.add_argument("--device", default="auto", help="auto (CUDA if available) | cpu | cuda | cuda:1")
    p.add_argument("--seed", type=int, default=0, help="seed of the fit (same seed, same result on a CPU)")
    p.add_argument("--cache-dir", default=None, help="folder for runs (default: PATH/ttvis_cache)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="method parameter, JSON value (repeatable), e.g. --param lambda_temporal=0.1 "
                        "(default: the method's own defaults)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(func=_fit)
