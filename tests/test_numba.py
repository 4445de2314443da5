"""Every test that runs umap-learn's or pynndescent's numba code, gathered in one file, so that one xdist worker
pays the compilation (scripts/test.sh: --dist loadfile) and no other does. Importing pynndescent alone compiles
its distances, ~40 s of one core, minutes on a busy machine; numba's on-disk cache (the venv's __pycache__)
spares a later process only part of it. Tests elsewhere keep numba out: tiny cases use exact lists or
stand-ins. The tests belong to the engine (umap-learn parity, the UMAP baselines, kNN above ``exact_max``), the
metrics (the papers' NNDescent form of NN@k) and progress (AlignedUMAP's per-epoch bar)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from test_metrics import LINE_H, LINE_L
from ttvis_widget.engine import fit
from ttvis_widget.engine.knn import knn, knn_exact
from ttvis_widget.metrics import nn_paper

pytestmark = pytest.mark.slow


def test_fuzzy_set_matches_umap(digits):
    from ttvis_widget.engine import graph as G

    idx, d = knn(digits.representation(8), 15)
    g1, s1, r1 = G.fuzzy_simplicial_set(idx, d)
    g2, s2, r2 = G.fuzzy_simplicial_set(idx, d, backend="umap")
    assert abs(g1 - g2).max() < 1e-5
    np.testing.assert_allclose(s1, s2, rtol=1e-5)


def test_ab_params_match_umap():
    from umap.umap_ import find_ab_params as umap_ab

    from ttvis_widget.engine.losses import find_ab_params

    np.testing.assert_allclose(find_ab_params(1.0, 0.1), umap_ab(1.0, 0.1), rtol=1e-6)


@pytest.mark.parametrize("method", ["umap", "aligned-umap"])
def test_umap_baselines(digits, tmp_path, method):
    run = fit(digits, method=method, epochs=[7, 8], cache_dir=tmp_path, progress=False, n_epochs=50)
    assert not run.has_inverse
    for e in run.epochs:
        assert run.embedding(e).shape == (digits.n_samples, 2) and np.isfinite(run.embedding(e)).all()
    with pytest.raises(NotImplementedError):
        run.inverse(8, np.zeros((1, 2), np.float32))
    if method == "umap":  # border points placed by UMAP's transform, so BNN@k can be scored
        B, xy = run.border_points(8), run.border_embedding(8)
        assert len(B) > 0 and xy.shape == (len(B), 2) and np.isfinite(xy).all()
        lo, hi = run.embedding(8).min(0), run.embedding(8).max(0)
        assert ((xy >= lo - 1) & (xy <= hi + 1)).all()  # placed among the samples, not far away
    else:
        with pytest.raises(NotImplementedError, match="cannot place border points"):
            run.border_embedding(8)


def test_knn_above_exact_max_uses_nndescent_and_reports_its_jit_apart(digits):
    """Above ``exact_max`` rows the graph comes from pynndescent: close to the exact one, and its one-time
    compilation is reported as ``jit_s`` (not as the search's time), once per process."""
    X = digits.representation(8)
    exact, _ = knn_exact(X, 15)
    t1, t2 = {}, {}
    idx, dist = knn(X, 15, exact_max=100, timings=t1)
    assert idx.shape == (len(X), 15) and (idx[:, 0] == np.arange(len(X))).all() and (dist[:, 0] == 0).all()
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(idx, exact)])
    assert recall > 0.95
    assert t1["jit_s"] >= 0 and t1["nndescent_s"] > 0
    knn(X, 15, exact_max=100, timings=t2)
    assert t2["jit_s"] == 0.0 and t2["nndescent_s"] > 0


def test_nn_paper_form_counts_self_and_matches_hand_case():
    """The papers' form (NNDescent, self-inclusive count): on a case small enough for NNDescent to be exact,
    NN@(k+1) paper = 1 + k * NN@k exact. The single numba test."""
    assert nn_paper(LINE_H, LINE_L, 3) == pytest.approx(1 + 2 * (1 / 3))  # = (2+2+1+2+2+1) / 6
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    assert nn_paper(x, 2.0 * x, 15) == pytest.approx(15.0)  # ceiling k


def test_aligned_umap_bar_ticks_per_epoch_while_it_fits(monkeypatch):
    """The bar ticks as each epoch's UMAP finishes (umap-learn's AlignedUMAP builds them one by one from the
    module-level name ``UMAP``, which the progress hook subclasses for one fit), then names the joint
    alignment, and umap-learn's module is left as it was. A stand-in UMAP keeps numba out of this test; that
    AlignedUMAP.fit really builds its per-epoch models from that name is checked on umap-learn's source."""
    import inspect

    import tqdm.auto
    import umap
    import umap.aligned_umap as au

    from ttvis_widget.engine.baselines import _aligned_umap_progress

    assert au.UMAP is umap.UMAP and "UMAP(" in inspect.getsource(au.AlignedUMAP.fit)
    bars, fitted = [], []
    real = tqdm.auto.tqdm

    class Recording(real):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "file": io.StringIO()})
            bars.append(self)

    class StandIn:  # what AlignedUMAP.fit does with each epoch's model: UMAP(...).fit(X[n], y[n])
        def __init__(self, **kw):
            self.kw = kw

        def fit(self, x, y=None):
            fitted.append(len(x))
            return self

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    monkeypatch.setattr(au, "UMAP", StandIn)
    with _aligned_umap_progress(3):
        for n in range(3):
            assert au.UMAP(n_neighbors=15).fit(np.zeros((10 + n, 2))) is not None
            (bar,) = bars
            assert bar.n == n + 1  # ticked as the epoch's model finished, not when all are done
        assert bar.desc.startswith("aligned-umap: aligning all epochs jointly")
    assert au.UMAP is StandIn and fitted == [10, 11, 12]
    with _aligned_umap_progress(0):  # progress off: nothing replaced, no bar
        assert au.UMAP is StandIn
    assert len(bars) == 1
