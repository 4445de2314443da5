"""Progress where work is long: ``ttvis eval`` per epoch with pynndescent's compilation named before it starts.
(AlignedUMAP's per-epoch bar is in test_numba.py: it imports umap-learn, which compiles numba code.)"""
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
