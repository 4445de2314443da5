"""Progress where work is long: AlignedUMAP per epoch (umap-learn says nothing until its whole fit is done), and
``ttvis eval`` per epoch with pynndescent's compilation named before it starts."""
import io

import numpy as np

from ttvis_widget import fit


def test_eval_names_the_compile_step_first_then_reports_each_epoch(digits, tmp_path, monkeypatch, capsys):
    """Stands in exact lists for pynndescent (no numba here) and records what the evaluator hands it: the
    warm-up comes first, and every array is writable (numba compiles read-only arrays again, ~40 s more)."""
    from ttvis_widget.metrics import evaluate
    from ttvis_widget.metrics.knn import exact_knn

    calls = []

    def fake_nndescent(x, k, seed=0):
        a = np.ascontiguousarray(x, dtype=np.float32)
        calls.append((a.shape, a.flags.writeable))
        print(f"<nndescent on {a.shape[0]} rows>")
        return np.concatenate([np.arange(len(a))[:, None], exact_knn(a, k - 1)], 1)  # self first, as NNDescent

    monkeypatch.setattr(evaluate, "nndescent_knn", fake_nndescent)
    run = fit(digits, method="pca", epochs=[7, 8], cache_dir=tmp_path, progress=False)
    rows = evaluate.evaluate_run(run, ks=(5,), progress=True, cache=False, bnn=False, trust=False)
    out = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(("[metrics]", "<"))]
    assert out[0] == "[metrics] scoring 2 epochs of the pca run"
    assert out[1].startswith("[metrics] compiling pynndescent's numba code")
    assert out[2] == "<nndescent on 512 rows>" and out[3].startswith("[metrics] compiled in")
    epoch_lines = [ln for ln in out if ln.startswith("[metrics] epoch")]
    assert [ln.split(":")[0] for ln in epoch_lines] == ["[metrics] epoch 7 (1/2)", "[metrics] epoch 8 (2/2)"]
    assert out.index(epoch_lines[0]) > 3 and out[-1].startswith("[metrics] temporal metrics over 2 epochs")
    assert len(calls) == 1 + 2 * 4 and all(writable for _, writable in calls)
    assert [r["epoch"] for r in rows if r["row"] == "epoch"] == [7, 8]


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
