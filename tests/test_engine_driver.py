"""The engine's framework: one registry of methods (the API, the CLI and the metrics derive from it), one
driver (resume, a clean stop between epochs, extension of a store by new epochs), parameters rejected rather
than ignored, and a dependency that runs one way (the metrics import the engine, never the reverse)."""
import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from ttvis_widget.engine import FitStopped, fit, registry
from ttvis_widget.engine.checkpoints import Checkpoints

DVI_TINY = dict(layout_steps_first=200, layout_steps=80, layout_batch=4096, encoder_steps_first=300,
                encoder_steps=100, decoder_steps_first=100, decoder_steps=50)


def test_the_registry_is_the_one_list_of_methods():
    import ttvis_widget.engine as engine
    from ttvis_widget.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["fit"]
    assert list(next(a for a in sub._actions if a.dest == "method").choices) == registry.names()
    for m in registry.names():
        name, cls = registry.method_class(m)
        assert name == m == cls.name and getattr(engine, cls.__name__) is cls
        f = registry.facts(m)
        assert f["has_inverse"] is cls.has_inverse and f["per_epoch"] is cls.per_epoch
    assert registry.facts("umap")["has_inverse"] is False and registry.facts("dvi")["fast_inverse"] is True
    assert registry.facts("no-such-method") is None
    assert registry.canonical("Aligned_UMAP") == "aligned-umap"
    assert set(registry.with_inverse()) >= {"dvi", "timevis", "pca"} and "umap" not in registry.with_inverse()
    with pytest.raises(ValueError, match="unknown method 'tsne'"):
        registry.canonical("tsne")


def test_unknown_parameters_and_values_are_rejected_before_anything_is_written(digits, tmp_path):
    with pytest.raises(ValueError, match="'timevis' has no parameter 'mode'"):  # the edges mode is gone
        fit(digits, method="timevis", cache_dir=tmp_path, progress=False, mode="edges")
    with pytest.raises(ValueError, match="no parameter 'lamda_rec'.*lambda_rec"):
        fit(digits, method="dvi", cache_dir=tmp_path, progress=False, lamda_rec=1.0)
    for method, kw, field in [("dvi", {"graph_backend": "scipy"}, "graph_backend"),
                              ("dvi", {"border_layout": "before"}, "border_layout"),
                              ("dvi", {"layout_init": "random"}, "layout_init"),
                              ("dvi", {"encoder_shrink": 2.0}, "encoder_shrink"),
                              ("dvi", {"steps_scale": 0}, "steps_scale"),
                              ("timevis", {"decoder_optimizer": "sgd"}, "decoder_optimizer"),
                              ("timevis", {"overlap": "maybe"}, "overlap"),
                              ("timevis", {"encoder_segments": 0}, "encoder_segments")]:
        with pytest.raises(ValueError, match=field):
            fit(digits, method=method, cache_dir=tmp_path, progress=False, **kw)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("method, kw", [("pca", {}), ("dvi", DVI_TINY)])
def test_a_stopped_fit_leaves_a_resumable_run(digits, tmp_path, method, kw):
    """``stop`` set after the second epoch: the fit ends at the next epoch boundary with FitStopped, epochs 1-2
    saved and the manifest incomplete; fitting again fits epochs 3-4 alone and reuses 1-2 byte for byte."""
    stop = threading.Event()
    seen = []

    def stop_after_two(e, emb, info):
        seen.append(e)
        if len(seen) == 2:
            stop.set()

    eps = digits.epochs[:4]
    with pytest.raises(FitStopped) as err:
        fit(digits, method=method, epochs=eps, cache_dir=tmp_path, progress=False, callback=stop_after_two,
            stop=stop, **kw)
    assert err.value.done == eps[:2] and err.value.remaining == eps[2:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    man = json.loads((run_dir / "manifest.json").read_text())
    assert man["complete"] is False and man["finished_epochs"] == eps[:2]
    assert sorted(p.name for p in run_dir.glob("embedding_*.npy")) == [f"embedding_{e}.npy" for e in eps[:2]]
    kept = {e: (run_dir / f"embedding_{e}.npy").read_bytes() for e in eps[:2]}
    later = []
    run = fit(digits, method=method, epochs=eps, cache_dir=tmp_path, progress=False,
              callback=lambda e, emb, info: later.append(e), **kw)
    assert later == eps[2:] and run.manifest["resumed_epochs"] == eps[:2] and run.manifest["complete"]
    assert all((run_dir / f"embedding_{e}.npy").read_bytes() == kept[e] for e in eps[:2])
    assert all(np.isfinite(run.embedding(e)).all() for e in eps)


def test_a_store_of_epochs_1_to_k_extends_to_k_plus_m_without_refitting(digits, tmp_path):
    """The driver fits only what a store lacks: a DVI store holding epochs 1-2 fits epoch 3 alone when asked
    for 1-3, continuing from epoch 2's model (restore_epoch), and leaves 1-2 as they were."""
    from ttvis_widget.engine.dvi import DVI

    store = Checkpoints(tmp_path / "run")
    eps = digits.epochs[:3]
    DVI(device="cpu", **DVI_TINY).fit(digits, eps[:2], checkpoints=store)
    before = {e: store.emb_path(e).read_bytes() for e in eps[:2]}
    seen = []
    m = DVI(device="cpu", **DVI_TINY).fit(digits, eps, checkpoints=store, on_epoch=lambda e, emb, info: seen.append(e))
    assert seen == eps[2:] and set(m.timings_["epochs"]) == {str(eps[2])}
    assert all(store.emb_path(e).read_bytes() == before[e] for e in eps[:2])
    xy = m.transform(eps[2], digits.representation(eps[2]))
    np.testing.assert_allclose(xy, store.load_embedding(eps[2]), atol=1e-4)
    assert np.isfinite(xy).all() and np.ptp(xy, 0).min() > 1.0


def test_the_engine_never_imports_the_metrics(digits_path, tmp_path):
    """A fit, a territory and the border points need nothing from ttvis_widget.metrics (the dependency runs one
    way); the package's own ``fit`` wires ``run.metrics()`` in."""
    code = ("import sys\nimport ttvis_widget.engine as E\n"
            "r = E.fit(sys.argv[1], method='pca', epochs=[7, 8], cache_dir=sys.argv[2], progress=False)\n"
            "r.territory(8, 32); r.border_points(8)\n"
            "print(sorted(m for m in sys.modules if m.startswith('ttvis_widget.metrics')))\n"
            "import ttvis_widget\n"
            "r = ttvis_widget.fit(sys.argv[1], method='pca', epochs=[7, 8], cache_dir=sys.argv[2], progress=False)\n"
            "rows = r.metrics(ks=(5,), paper_form=False, trust=False, temporal=False, bnn=False)\n"
            "print(len(rows), 0 < rows[0]['nn5_exact_train'] < 1)\n")
    out = subprocess.run([sys.executable, "-c", code, str(digits_path), str(tmp_path)], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[:2] == ["[]", "3 True"]
