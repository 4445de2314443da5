"""Tuning comparisons of the encoder regression (layout.fit_encoder), as figures rather than pinned tests:

* the pair term (``pairs=``, graph.PartnerSampler) against the plain regression at as many rows per step;
* Muon (optim.MuonAdam) against Adam at the same steps and rows.

    python benchmarks/tuning.py [--data PATH] [--epoch E] [--seeds 0 1 2] [--steps 300]

Default data: the scikit-learn digits dynamics (made in a temporary folder; 1,797 samples, 64-d). Each row:
NN@15 (exact, self excluded, fraction) of the encoder's output against the representations, per seed, and the
UMAP layout's own NN@15 that the encoder is regressed on. What the engine's defaults rely on: pairs ahead of
plain, Muon ahead of Adam (docs/methods/dvi.md).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def nn_fraction(X, Y, k=15):
    from ttvis_widget.engine.knn import knn_exact

    a, _ = knn_exact(X, k, exclude_self=True)
    b, _ = knn_exact(Y, k, exclude_self=True)
    return float((a[:, :, None] == b[:, None, :]).any(2).sum(1).mean() / k)


def layout_of(X, seed: int):
    """The epoch's pruned UMAP graph (heads, tails), a normalising model and a torch UMAP layout of it."""
    import torch

    from ttvis_widget.engine import graph as G
    from ttvis_widget.engine.knn import knn
    from ttvis_widget.engine.layout import pca_init, umap_layout
    from ttvis_widget.engine.losses import find_ab_params
    from ttvis_widget.engine.models import VisModel

    idx, dist = knn(X, 15)
    h, t, w = G.prune(G.fuzzy_simplicial_set(idx, dist, 15)[0], 200)
    a, b = find_ab_params()
    m0 = VisModel(X.shape[1])
    m0.set_normalization(torch.from_numpy(np.array(X, np.float32)))
    nodes = m0.normalize(torch.from_numpy(np.array(X, np.float32)))
    Y = umap_layout(h, t, w, len(X), pca_init(nodes), a=a, b=b, steps=300, batch=4096,
                    generator=torch.Generator().manual_seed(seed))
    return h, t, m0, nodes, Y


def regress(X, h, t, m0, nodes, Y, seed: int, steps: int, batch: int, pairs: bool, optimizer: str) -> float:
    import torch

    from ttvis_widget.engine.graph import PartnerSampler
    from ttvis_widget.engine.layout import fit_encoder
    from ttvis_widget.engine.models import VisModel

    torch.manual_seed(seed)
    m = VisModel(X.shape[1])
    m.load_state_dict(m0.state_dict())
    m.encoder.rewhiten(nodes)
    g = torch.Generator().manual_seed(seed)
    ps = PartnerSampler(h, t, len(X), generator=g) if pairs else None
    fit_encoder(m, nodes, Y, steps=steps, batch=batch, lr=2e-2, generator=g, pairs=ps, optimizer=optimizer)
    with torch.no_grad():
        return nn_fraction(X, m.encoder(nodes).numpy())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="training-dynamics folder (default: digits, made now)")
    p.add_argument("--epoch", type=int, default=None, help="epoch (default: the last)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=300)
    a = p.parse_args(argv)

    import torch

    import ttvis_widget

    torch.set_num_threads(1)  # small models: one thread is faster and steadier on a shared machine
    if a.data is None:
        from ttvis_widget.demo import make_digits_dynamics

        a.data = make_digits_dynamics(Path(tempfile.mkdtemp(prefix="ttvis-tuning-")) / "digits", epochs=8)
    dyn = ttvis_widget.load(a.data)
    e = a.epoch or dyn.epochs[-1]
    X = np.asarray(dyn.representation(e), np.float32)
    print(f"data: {a.data}, epoch {e}, N={len(X)}, D={X.shape[1]}; {a.steps} steps; seeds {a.seeds}")
    rows = [("plain, 256 rows/step, adam", dict(batch=256, pairs=False, optimizer="adam")),
            ("pairs, 128+128 rows/step, adam", dict(batch=128, pairs=True, optimizer="adam")),
            ("plain, 256 rows/step, muon", dict(batch=256, pairs=False, optimizer="muon"))]
    res = {name: [] for name, _ in rows}
    layout_nn = []
    t0 = time.perf_counter()
    for seed in a.seeds:
        h, t, m0, nodes, Y = layout_of(X, seed)
        layout_nn.append(nn_fraction(X, Y.numpy()))
        for name, kw in rows:
            res[name].append(regress(X, h, t, m0, nodes, Y, seed, a.steps, **kw))
    print(f"{'encoder regression':<34}{'NN@15 per seed':>28}{'mean':>8}")
    print(f"{'(the UMAP layout itself)':<34}{' '.join(f'{v:.3f}' for v in layout_nn):>28}{np.mean(layout_nn):>8.3f}")
    for name, vals in res.items():
        print(f"{name:<34}{' '.join(f'{v:.3f}' for v in vals):>28}{np.mean(vals):>8.3f}")
    plain, pairs, muon = (np.array(res[n]) for n, _ in rows)
    print(f"pairs - plain: {np.mean(pairs - plain):+.3f} (per seed {' '.join(f'{v:+.3f}' for v in pairs - plain)})")
    print(f"muon - adam:   {np.mean(muon - plain):+.3f} (per seed {' '.join(f'{v:+.3f}' for v in muon - plain)})")
    print(f"({time.perf_counter() - t0:.0f} s; one torch thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
