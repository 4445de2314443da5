"""Territory benchmark (issue 28, item 5): how much of the painted territory is noise, inside versus outside
the samples' support, as the widget draws it; and that nothing is lost near the samples.

    python benchmarks/territory.py                        # demo Fashion-MNIST (python -m ttvis_widget.demo.fashion), DVI
    git show main:ttvis_widget/engine/territory.py > /tmp/territory_before.py
    python benchmarks/territory.py --module /tmp/territory_before.py   # an earlier rendering, measured the same way

Per epoch (first, middle, last recorded unless --epochs), on the territory at the widget's resolution (256):

* support (the current engine's definition, for every module measured): a cell is *inside* when its 2-D
  distance to its 15th nearest sample is at most the embedding's own scale (the 99th percentile of every
  sample's distance to its 15th nearest other sample), *far* at twice that or more, *band* in between;
* *changes*: the fraction of cells whose class differs from one of their 4 neighbours (the decoder's
  confetti; a property of the model, the same whatever the rendering); *shown changes*: the same cells
  weighted by how much of their class colour the view puts on screen, relative to a cell drawn in full
  (render version 3: the image's alpha, i.e. the support, with extent "support"; 0.3 + 0.7 alpha with extent
  "full"; render version 2, which had no extent: the tint it kept, 0.25 far from the samples); *shown*: the
  mean of that weight (how much of the region is painted at all);
* near the samples: the fraction of samples whose cell is drawn in full (weight 1, extent "support"), not
  drawn at all (weight 0), and whose cell's class is the model's prediction for the sample; and PPR (the round trip g(f(h)) keeps the
  head's class), which depends only on the fitted run, never on how the territory is drawn.

Prints one table per module and writes JSON (--out). Figures: benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

FULL_FLOOR = 0.3  # js/src/territories.js


def load_module(path: str | None):
    """The territory module measured: the current engine's, or FILE loaded in its place (same package, so its
    relative imports resolve to this checkout)."""
    if not path:
        from ttvis_widget.engine import territory

        return territory
    spec = importlib.util.spec_from_file_location("ttvis_widget.engine._territory_measured", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def class_changes(classes: np.ndarray) -> np.ndarray:
    """bool [R, R]: the cell's class differs from one of its 4 neighbours (unknown, -1, counts as a class)."""
    c = classes
    out = np.zeros(c.shape, bool)
    dx = c[:, 1:] != c[:, :-1]
    dy = c[1:, :] != c[:-1, :]
    out[:, 1:] |= dx
    out[:, :-1] |= dx
    out[1:, :] |= dy
    out[:-1, :] |= dy
    return out


def shown(terr, mod, floor: float) -> np.ndarray:
    """float [R, R] in [0, 1]: the part of each cell's class colour the view puts on screen, relative to a cell
    drawn in full (the opacity trait scales every cell alike and is left out)."""
    sup = np.ones(terr.classes.shape, np.float32) if terr.support is None else terr.support.astype(np.float32)
    if getattr(mod, "RENDER_VERSION", 0) >= 3:  # the support is the image's alpha; the shader keeps `floor`
        return floor + (1.0 - floor) * sup
    return sup  # render version 2: the tint kept, drawn opaque whatever the extent


def sample_cells(emb, bounds, r):
    xmin, ymin, xmax, ymax = bounds
    col = np.clip(((emb[:, 0] - xmin) / (xmax - xmin) * r).astype(np.int64), 0, r - 1)
    row = np.clip(((ymax - emb[:, 1]) / (ymax - ymin) * r).astype(np.int64), 0, r - 1)
    return row, col


def measure_epoch(run, e, mod, r) -> dict:
    from ttvis_widget.engine.territory import FADE_TO, support_reach
    from ttvis_widget.metrics.inverse import ppr

    emb = run.embedding(e)
    t0 = time.perf_counter()
    terr = mod.compute_territory(run, e, r)
    t_terr = time.perf_counter() - t0
    t0 = time.perf_counter()
    reach = support_reach(emb, run.bounds, r)
    t_support = time.perf_counter() - t0
    regions = {"inside": reach <= 1.0, "band": (reach > 1.0) & (reach < FADE_TO), "far": reach >= FADE_TO}
    regions["outside"] = ~regions["inside"]
    change = class_changes(terr.classes)
    views = {"support": shown(terr, mod, 0.0), "full": shown(terr, mod, FULL_FLOOR)}
    row = {"epoch": int(e), "territory_s": t_terr, "support_s": t_support, "regions": {}}
    for name, m in regions.items():
        n = int(m.sum())
        rec = {"cells": n / m.size, "changes": float(change[m].mean()) if n else float("nan")}
        for v, wgt in views.items():
            rec[f"shown_changes_{v}"] = float((change * wgt)[m].mean()) if n else float("nan")
            rec[f"shown_{v}"] = float(wgt[m].mean()) if n else float("nan")
        row["regions"][name] = rec
    d = run.dynamics
    pred = d.predicted_class(e)
    rr, cc = sample_cells(emb, run.bounds, r)
    row["samples_in_full"] = float((views["support"][rr, cc] >= 0.999).mean())
    row["samples_blank"] = float((views["support"][rr, cc] <= 0.0).mean())
    row["samples_class_agrees"] = float((terr.classes[rr, cc] == pred).mean()) if pred is not None else None
    head = d.head(e)
    reps = d.representation(e)
    recon = run.inverse(e, emb)
    split = np.asarray(d.split)
    row["ppr"] = ppr(reps, recon, head)
    row["ppr_train"] = ppr(reps[split == 0], recon[split == 0], head)
    row["ppr_test"] = ppr(reps[split == 1], recon[split == 1], head) if (split == 1).any() else None
    return row


def print_table(label: str, rows: list[dict]) -> None:
    print(f"\n{label}")
    print("epoch | inside: cells / changes / shown changes | outside: cells / changes / shown changes (support;"
          " full) / shown | far: changes / shown changes | samples in full / blank / class agrees | PPR (train / test) |"
          " territory s / support s")
    for r in rows:
        i, o, f = r["regions"]["inside"], r["regions"]["outside"], r["regions"]["far"]
        print(f"{r['epoch']:>5} | {i['cells']:.3f} / {i['changes']:.4f} / {i['shown_changes_support']:.4f}"
              f" | {o['cells']:.3f} / {o['changes']:.4f} / {o['shown_changes_support']:.4f} / "
              f"{o['shown_changes_full']:.4f} / {o['shown_support']:.4f}"
              f" | {f['changes']:.4f} / {f['shown_changes_support']:.4f}"
              f" | {r['samples_in_full']:.4f} / {r['samples_blank']:.4f} / {r['samples_class_agrees']:.4f}"
              f" | {r['ppr']:.4f} ({r['ppr_train']:.4f} / {r['ppr_test']:.4f})"
              f" | {r['territory_s']:.2f} / {r['support_s']:.3f}")
    keys = [("inside", "changes"), ("inside", "shown_changes_support"), ("outside", "changes"),
            ("outside", "shown_changes_support"), ("outside", "shown_changes_full"), ("far", "changes"),
            ("far", "shown_changes_support")]
    print("mean  | " + ", ".join(f"{reg} {k}: {np.nanmean([r['regions'][reg][k] for r in rows]):.4f}"
                                 for reg, k in keys))


def main(argv=None) -> int:
    import ttvis_widget

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("TTVIS_DEMO_DATA", "demo_data/fashion_mnist"))
    p.add_argument("--method", default="dvi")
    p.add_argument("--epochs", type=int, nargs="+", default=None, help="recorded epochs (default: first, middle, last)")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--module", default=None, help="a territory.py to measure instead of the engine's own")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default=None, help="JSON output (default: none)")
    a = p.parse_args(argv)
    mod = load_module(a.module)
    run = ttvis_widget.fit(ttvis_widget.load(a.data), method=a.method, seed=a.seed, cache_dir=a.cache_dir,
                           progress=False)
    eps = list(run.epochs)
    epochs = a.epochs or sorted({eps[0], eps[len(eps) // 2], eps[-1]})
    rows = [measure_epoch(run, e, mod, a.resolution) for e in epochs]
    label = (f"{a.method} on {a.data}, R = {a.resolution}, territory module "
             f"{a.module or 'ttvis_widget.engine.territory'} (render version {getattr(mod, 'RENDER_VERSION', '?')})")
    print_table(label, rows)
    if a.out:
        Path(a.out).write_text(json.dumps({"label": label, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
