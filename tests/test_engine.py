"""Engine tests on the real digits dynamics (1,797 samples x 64-d, 8 epochs). Small settings; no numba (the
umap-learn / pynndescent tests are in test_numba.py)."""
from __future__ import annotations

import numpy as np
import pytest

from ttvis_widget.engine import fit
from ttvis_widget.engine.knn import knn, knn_exact
from ttvis_widget.palette import class_colors

DVI_SMALL = dict(layout_steps_first=300, layout_steps=100, layout_batch=4096, encoder_steps_first=1500,
                 encoder_steps=400, decoder_steps_first=200, decoder_steps=80)
TV_SMALL = dict(layout_steps_first=300, layout_steps=100, layout_batch=4096, layout_joint_steps=100,
                encoder_steps=2500, decoder_steps=300, joint_steps=150)


def nn_fraction(X, Y, k=15):
    a, _ = knn_exact(X, k, exclude_self=True)
    b, _ = knn_exact(Y, k, exclude_self=True)
    return float((a[:, :, None] == b[:, None, :]).any(2).sum(1).mean() / k)


def ppr(run, e):
    dyn = run.dynamics
    head = dyn.head(e)
    X = dyn.representation(e)
    return float((head(run.inverse(e, run.embedding(e))).argmax(1) == head(X).argmax(1)).mean())


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("engine_cache")


@pytest.fixture(scope="module")
def dvi_run(digits, cache):
    return fit(digits, method="dvi", cache_dir=cache, progress=False, **DVI_SMALL)


@pytest.fixture(scope="module")
def timevis_run(digits, cache):
    return fit(digits, method="timevis", cache_dir=cache, progress=False, **TV_SMALL)


@pytest.fixture(scope="module")
def pca_run(digits, cache):
    return fit(digits, method="pca", cache_dir=cache, progress=False)


@pytest.mark.slow  # fits the DVI and TimeVis runs the file shares
@pytest.mark.parametrize("name", ["pca_run", "dvi_run", "timevis_run"])
def test_every_epoch_finite(name, request, digits):
    run = request.getfixturevalue(name)
    assert run.epochs == digits.epochs
    for e in run.epochs:
        emb = run.embedding(e)
        assert emb.shape == (digits.n_samples, 2) and emb.dtype == np.float32
        assert np.isfinite(emb).all()
    embs = run.embeddings()
    assert embs.shape == (len(run.epochs), digits.n_samples, 2)
    xmin, ymin, xmax, ymax = run.bounds
    assert xmin < embs[..., 0].min() and embs[..., 0].max() < xmax
    assert ymin < embs[..., 1].min() and embs[..., 1].max() < ymax
    m = run.manifest
    assert m["complete"] and m["method"] == run.method and "torch" in m["versions"]
    assert "graph_s" in m["timings"] and "jit_s" in m["timings"]
    assert run.path.name.startswith(run.method + "-")


@pytest.mark.parametrize("name", ["dvi_run", "timevis_run"])
def test_parametric_quality(name, request):
    run = request.getfixturevalue(name)
    last = run.epochs[-1]
    assert ppr(run, last) >= 0.9
    assert nn_fraction(run.dynamics.representation(last), run.embedding(last)) >= 0.2
    # transform of the recorded representations reproduces the stored embedding
    X = run.dynamics.representation(last)
    np.testing.assert_allclose(run.transform(last, X[:100]), run.embedding(last)[:100], atol=1e-4)
    assert run.inverse(last, run.embedding(last)[:5]).shape == (5, run.dynamics.dim)


def test_territory_orientation_and_palette(dvi_run, monkeypatch):
    import ttvis_widget.engine.territory as territory_mod

    run = dvi_run
    e = run.epochs[-1]
    terr = run.territory(e, resolution=128)
    R = 128
    assert terr.rgba.shape == (R, R, 4) and terr.rgba.dtype == np.uint8
    assert terr.classes.shape == (R, R) and terr.margin.shape == (R, R)
    assert terr.bounds == run.bounds
    xmin, ymin, xmax, ymax = run.bounds
    emb = run.embedding(e)
    col = np.clip(((emb[:, 0] - xmin) / (xmax - xmin) * R).astype(int), 0, R - 1)
    row = np.clip(((ymax - emb[:, 1]) / (ymax - ymin) * R).astype(int), 0, R - 1)  # row 0 = top
    pred = run.dynamics.predicted_class(e)
    agree = (terr.classes[row, col] == pred).mean()
    assert agree >= 0.8, agree
    # flipped vertically it must be much worse (orientation really matters)
    assert (terr.classes[R - 1 - row, col] == pred).mean() < agree - 0.2
    # colours: white + s * (palette[class] - white), i.e. (255 - rgb) parallel to (255 - palette)
    pal = class_colors(run.dynamics.n_classes).astype(float)
    rgb = terr.rgba[..., :3].astype(float)
    tinted = (rgb.sum(-1) < 3 * 255 - 30) & (terr.classes >= 0)
    assert tinted.mean() > 0.3
    u = 255 - rgb[tinted]
    v = 255 - pal[terr.classes[tinted]]
    cos = (u * v).sum(1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    assert np.median(cos) > 0.995 and (cos > 0.98).mean() > 0.95
    assert (terr.rgba[terr.margin < 0.15][:, :3] == 255).all()  # boundaries are white
    assert terr.png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run.path / "territory" / f"epoch_{e}_128.png").exists()
    # cached: a second run object reads the npz, nothing is decoded again
    monkeypatch.setattr(territory_mod, "compute_territory", lambda *a, **k: pytest.fail("territory recomputed"))
    again = type(run).__new__(type(run))
    again.__dict__.update({**run.__dict__, "_terr": {}})
    np.testing.assert_array_equal(again.territory(e, resolution=128).classes, terr.classes)


def test_cache_hit_no_training(digits, cache, dvi_run, timevis_run, monkeypatch):
    """A finished run loads without the driver, a graph or a training step (spies that fail if called)."""
    import ttvis_widget.engine.driver as driver_mod
    import ttvis_widget.engine.dvi as dvi_mod
    import ttvis_widget.engine.timevis as tv_mod

    def boom(*a, **k):
        raise AssertionError("training ran on a cache hit")

    monkeypatch.setattr(driver_mod, "drive", boom)
    for mod in (dvi_mod, tv_mod):
        for name in ("fit_encoder", "fit_decoder", "umap_layout", "epoch_complex", "build_complex", "knn"):
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, boom)
    for method, kw, first in (("dvi", DVI_SMALL, dvi_run), ("timevis", TV_SMALL, timevis_run)):
        run = fit(digits, method=method, cache_dir=cache, progress=False, **kw)
        assert run.path == first.path
        np.testing.assert_array_equal(run.embedding(run.epochs[-1]), first.embedding(first.epochs[-1]))
        assert run.has_inverse
        assert run.inverse(run.epochs[-1], np.zeros((3, 2), np.float32)).shape == (3, digits.dim)


def test_dvi_resumes_after_interruption(digits, tmp_path):
    """An exception in the middle of epoch 3 (with ``overlap``, epoch 2 is reported while epoch 3 is laid out):
    the epochs finished before it are kept, and the next fit resumes after them."""
    calls = []

    def interrupt(e, emb, info):
        if e == 2:
            raise KeyboardInterrupt("simulated kill")

    kw = dict(DVI_SMALL, encoder_steps_first=200, encoder_steps=50, decoder_steps_first=50, decoder_steps=20)
    with pytest.raises(KeyboardInterrupt):
        fit(digits, method="dvi", epochs=[1, 2, 3, 4], cache_dir=tmp_path, progress=False, callback=interrupt, **kw)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "embedding_2.npy").exists() and not (run_dir / "embedding_3.npy").exists()
    before = (run_dir / "embedding_2.npy").read_bytes()
    run = fit(digits, method="dvi", epochs=[1, 2, 3, 4], cache_dir=tmp_path, progress=False,
              callback=lambda e, emb, info: calls.append(e), **kw)
    assert calls == [3, 4]
    assert run.manifest["resumed_epochs"] == [1, 2]
    assert (run_dir / "embedding_2.npy").read_bytes() == before
    assert all(np.isfinite(run.embedding(e)).all() for e in run.epochs)


def test_timevis_stops_at_a_checkpoint_and_resumes_from_it(digits, tmp_path, monkeypatch):
    """TimeVis fits all epochs at once, so a requested stop takes effect at its next checkpoint: the fit ends
    with FitStopped there, and the next one goes on from the checkpoint."""
    import ttvis_widget.engine.timevis as tv_mod
    from ttvis_widget.engine import FitStopped

    # 4 epochs: 4 encoder parts of 200 steps, fitted in turn (test_engine_pipeline: two at a time)
    kw = dict(TV_SMALL, encoder_steps=800, checkpoint_every=100, overlap=False)

    class StopAtTheSecondCheckpoint:  # one checkpoint per part, at step 100: the second is part 1's (of 0-3)
        asked = 0

        def is_set(self):
            self.asked += 1
            return self.asked == 2

    with pytest.raises(FitStopped):
        fit(digits, method="timevis", epochs=[5, 6, 7, 8], cache_dir=tmp_path, progress=False,
            stop=StopAtTheSecondCheckpoint(), **kw)
    starts = []
    orig = tv_mod.fit_encoder

    def spy(*a, **k):
        starts.append(k["start_step"])
        return orig(*a, **k)

    monkeypatch.setattr(tv_mod, "fit_encoder", spy)
    run = fit(digits, method="timevis", epochs=[5, 6, 7, 8], cache_dir=tmp_path, progress=False, **kw)
    assert starts == [100, 0, 0]  # part 0 is not fitted again, part 1 goes on from its checkpoint
    assert all(np.isfinite(run.embedding(e)).all() for e in run.epochs)


def test_steps_scale_multiplies_every_step_count_and_auto_follows_the_node_count(digits, tmp_path, monkeypatch):
    """``steps_scale``: a number multiplies the layout, encoder and decoder step counts of DVI and TimeVis;
    "auto" is 1 up to the demo's node count (so digits fits as before) and grows with the nodes beyond it."""
    import ttvis_widget.engine.params as params_mod
    import ttvis_widget.engine.dvi as dvi_mod
    import ttvis_widget.engine.timevis as tv_mod

    def spy_steps(mod):
        seen = {}
        for name in ("umap_layout", "fit_encoder", "fit_decoder"):
            orig = getattr(mod, name)

            def spy(*a, _orig=orig, _name=name, **k):
                seen.setdefault(_name, []).append(k["steps"])
                return _orig(*a, **k)

            monkeypatch.setattr(mod, name, spy)
        return seen

    dvi_kw = dict(layout_steps_first=20, encoder_steps_first=30, decoder_steps_first=10)
    tv_kw = dict(layout_steps_first=20, layout_steps=10, layout_joint_steps=10, encoder_steps=40, decoder_steps=10)
    counts = {}
    for scale in (1.0, 2, "auto"):
        for method, mod, kw in (("dvi", dvi_mod, dvi_kw), ("timevis", tv_mod, tv_kw)):
            seen = spy_steps(mod)
            run = fit(digits, method=method, epochs=digits.epochs[:2] if method == "timevis" else digits.epochs[:1],
                      cache_dir=tmp_path / f"{method}-{scale}", progress=False, steps_scale=scale, **kw)
            counts[method, scale] = seen
            assert run.params["steps_scale"] == scale
            monkeypatch.undo()
    for method in ("dvi", "timevis"):
        one, two, auto = (counts[method, s] for s in (1.0, 2, "auto"))
        assert one == auto, "digits has fewer nodes than the demo: auto is 1"
        for name in one:
            assert sum(two[name]) == 2 * sum(one[name]), (method, name, one[name], two[name])
    assert counts["dvi", 1.0] == {"umap_layout": [20], "fit_encoder": [30], "fit_decoder": [10]}

    monkeypatch.setattr(params_mod, "REFERENCE_NODES", 500)  # as if digits were 4x the demo
    seen = spy_steps(dvi_mod)
    run = fit(digits, method="dvi", epochs=digits.epochs[:1], cache_dir=tmp_path / "dvi-big", progress=False,
              steps_scale="auto", **dvi_kw)
    info = run.manifest["timings"]["epochs"][str(run.epochs[0])]
    n_nodes = digits.n_samples + info["n_borders"]
    assert info["step_factor"] == pytest.approx(n_nodes / 500)
    assert seen["fit_encoder"] == [round(30 * n_nodes / 500)]
    with pytest.raises(ValueError, match="steps_scale"):
        fit(digits, method="dvi", cache_dir=tmp_path, progress=False, steps_scale=0)
    with pytest.raises(ValueError, match="steps_scale"):
        fit(digits, method="timevis", cache_dir=tmp_path, progress=False, steps_scale="more")


def test_pca_inverse_and_transform(pca_run, digits):
    e = pca_run.epochs[-1]
    X = digits.representation(e)
    np.testing.assert_allclose(pca_run.transform(e, X), pca_run.embedding(e), atol=1e-3)
    rec = pca_run.inverse(e, pca_run.embedding(e))
    assert rec.shape == X.shape and np.isfinite(rec).all()
    assert pca_run.has_inverse


def test_nonparametric_inverse_raises():
    from ttvis_widget.engine import AlignedUMAPBaseline, UMAPBaseline

    for cls in (UMAPBaseline, AlignedUMAPBaseline):
        est = cls()
        assert est.has_inverse is False
        with pytest.raises(NotImplementedError, match="no inverse"):
            est.inverse_transform(1, np.zeros((2, 2)))


def test_territory_fallback_without_head(digits, tmp_path):
    from ttvis_widget import ArrayDynamics

    eps = digits.epochs[-2:]
    dyn = ArrayDynamics({e: digits.representation(e) for e in eps}, predictions={e: digits.prediction(e) for e in eps},
                        labels=digits.labels)
    run = fit(dyn, method="pca", cache_dir=tmp_path, progress=False)
    terr = run.territory(eps[-1], resolution=64)
    assert terr is not None and terr.source == "nn-vote" and terr.rgba.shape == (64, 64, 4)
    dyn2 = ArrayDynamics({e: digits.representation(e) for e in eps})
    run2 = fit(dyn2, method="pca", cache_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match="no territory"):
        assert run2.territory(eps[-1], resolution=32) is None


def test_border_points_on_boundary(dvi_run):
    e = dvi_run.epochs[-1]
    B = dvi_run.border_points(e)
    assert B.ndim == 2 and B.shape[1] == dvi_run.dynamics.dim and len(B) > 50
    logits = dvi_run.dynamics.head(e)(B)
    s = np.sort(logits, 1)
    gap = (s[:, -1] - s[:, -2]) / (s[:, -1] - s[:, 0])
    assert (gap < 0.1).all()


def test_timevis_trains_with_border_points_and_an_epoch_conditioned_decoder(timevis_run):
    run, dyn = timevis_run, timevis_run.dynamics
    n_train = len(dyn.train_index)
    assert run.manifest["timings"]["n_nodes"] > len(run.epochs) * dyn.n_samples  # border nodes in the complex
    for e in (run.epochs[0], run.epochs[-1]):
        assert run._ck.has_npz(f"borders/epoch_{e}")  # the set used in training, not one made afterwards
        B = run.border_points(e)
        assert B.shape[1] == dyn.dim and 0.05 * n_train <= len(B) <= 0.1 * n_train
        s = np.sort(dyn.head(e)(B), 1)
        assert ((s[:, -1] - s[:, -2]) / (s[:, -1] - s[:, 0]) < 0.1).all()
    # one decoder conditioned on the epoch: the same 2-D point decodes to each epoch's own representation space
    xy = run.embedding(run.epochs[-1])[:50]
    a, b = run.inverse(run.epochs[0], xy), run.inverse(run.epochs[-1], xy)
    assert np.abs(a - b).mean() > 0.05 * np.abs(b).mean()
    with pytest.raises(KeyError, match="conditioned on the fitted epochs"):
        run.projector.inverse_transform(max(run.epochs) + 100, xy)


def test_timevis_segmented_encoder_projects_each_epoch_with_its_part(timevis_run):
    run, dyn = timevis_run, timevis_run.dynamics
    model = run.projector._model_for(run.epochs[0])
    E = len(run.epochs)
    segs = model.encoder.epoch_segment.tolist()
    assert len(model.encoder.parts) == min(5, E) and segs == sorted(segs) and len(segs) == E
    for e in run.epochs:  # every epoch's stored embedding is what its own part gives
        X = dyn.representation(e)[:200]
        np.testing.assert_allclose(run.transform(e, X), run.embedding(e)[:200], atol=1e-4)
    first, last = run.epochs[0], run.epochs[-1]
    X = dyn.representation(last)[:200]
    assert np.abs(run.transform(first, X) - run.transform(last, X)).mean() > 1e-3  # different parts
    # an epoch that was not fitted is projected by the part of the nearest fitted epoch
    np.testing.assert_allclose(run.projector.transform(last + 100, X), run.transform(last, X), atol=1e-6)


def test_cli_fit(digits_path, tmp_path, capsys):
    from ttvis_widget.cli import main

    assert main(["fit", str(digits_path), "--method", "pca", "--epochs", "7-8", "--cache-dir", str(tmp_path),
                 "--device", "cpu"]) == 0
    out = capsys.readouterr()
    assert "epoch 7:" in out.out + out.err and "pca: 2 epochs" in out.out


def test_layout_sampling_and_cross_prediction_weights():
    """Negatives are uniform over all nodes (umap-learn's rule), not drawn by degree from the batch's tails;
    edges are drawn ∝ weight; edges between differently predicted samples are down-weighted, border nodes untouched."""
    import torch

    from ttvis_widget.engine.layout import cross_prediction_weights, uniform_negatives

    g = torch.Generator().manual_seed(0)
    neg = uniform_negatives(50, 200000, g)
    counts = np.bincount(neg.numpy(), minlength=50)
    assert counts.min() > 0.9 * 4000 and counts.max() < 1.1 * 4000

    from ttvis_widget.engine.graph import EdgeSampler

    w = np.array([5.0, 0.2, 1.0, 3.0, 0.8])  # edge e is (e, 10 + e)
    s = EdgeSampler(np.arange(5), 10 + np.arange(5), w, generator=torch.Generator().manual_seed(1), block=1000)
    draws = [s.sample(300) for _ in range(60)]  # 18,000 draws: 18 blocks (each one's tail of 100 is unused)
    heads = torch.cat([d[0] for d in draws]).numpy()
    assert all(np.array_equal(d[1].numpy(), d[0].numpy() + 10) for d in draws)  # a head comes with its tail
    freq = np.bincount(heads, minlength=5) / len(heads)
    np.testing.assert_allclose(freq, w / w.sum(), atol=0.012)  # ∝ weight (i.i.d. draws would give ±0.007 sd)
    # within a block each edge appears its expected count rounded up or down (systematic sampling)
    block = np.bincount(s._buf.numpy(), minlength=5)
    assert block.sum() == 1000 and np.all(np.abs(block - 1000 * w / w.sum()) < 1)
    again = EdgeSampler(np.arange(5), 10 + np.arange(5), w, generator=torch.Generator().manual_seed(1), block=1000)
    assert np.array_equal(again.sample(300)[0].numpy(), draws[0][0].numpy())  # seeded: reproducible

    class Dyn:
        def prediction(self, e):
            return np.eye(3)[[0, 0, 1, 2]]

        def predicted_class(self, e):
            return np.array([0, 0, 1, 2])

    h, t = np.array([0, 0, 1, 3]), np.array([1, 2, 4, 4])
    w = cross_prediction_weights(Dyn(), 1, h, t, np.ones(4, np.float32), 4, 0.1)
    np.testing.assert_allclose(w, [1.0, 0.1, 1.0, 1.0])


def test_layout_reaches_umap_quality_on_digits(digits):
    """The non-parametric torch layout (what the encoder is fitted to) preserves neighbours like UMAP."""
    import torch

    from ttvis_widget.engine import graph as G
    from ttvis_widget.engine.layout import pca_init, umap_layout
    from ttvis_widget.engine.losses import find_ab_params

    X = digits.representation(digits.epochs[-1])
    idx, dist = knn(X, 15)
    h, t, w = G.prune(G.fuzzy_simplicial_set(idx, dist, 15)[0], 200)
    a, b = find_ab_params()
    Xt = torch.from_numpy(np.array(X, np.float32))
    Y = umap_layout(h, t, w, len(X), pca_init((Xt - Xt.mean(0)) / Xt.std()), a=a, b=b, steps=300, batch=4096,
                    generator=torch.Generator().manual_seed(0))
    assert nn_fraction(X, Y.numpy()) >= 0.4


def test_layout_places_new_nodes_into_a_frozen_layout():
    """``n_frozen`` keeps the first nodes where they are; a node linked only to one group ends up beside that
    group (how DVI's ``border_layout="after"`` places border points)."""
    import torch

    from ttvis_widget.engine.layout import umap_layout
    from ttvis_widget.engine.losses import find_ab_params

    rng = np.random.default_rng(0)
    fixed = np.concatenate([rng.normal(0, 0.5, (40, 2)), rng.normal(0, 0.5, (40, 2)) + [8, 0]])
    init = torch.tensor(np.concatenate([fixed, [[4.0, 6.0], [4.0, -6.0]]]), dtype=torch.float32)
    # node 80 links to the left group, node 81 to the right one
    h = np.concatenate([np.full(40, 80), np.full(40, 81)])
    t = np.concatenate([np.arange(40), np.arange(40, 80)])
    a, b = find_ab_params()
    Y = umap_layout(h, t, np.ones(80, np.float32), 82, init, a=a, b=b, steps=200, batch=256, lr=0.1,
                    generator=torch.Generator().manual_seed(0), n_frozen=80).numpy()
    np.testing.assert_array_equal(Y[:80], init[:80].numpy())
    left, right = fixed[:40].mean(0), fixed[40:].mean(0)
    assert np.linalg.norm(Y[80] - left) < 2.0 < np.linalg.norm(Y[80] - right)
    assert np.linalg.norm(Y[81] - right) < 2.0 < np.linalg.norm(Y[81] - left)


def test_dvi_after_layout_keeps_the_borderless_sample_layout(digits):
    """``border_layout="after"``: the samples' layout is exactly the layout of the sample edges alone; the border
    points are then placed beside the samples they neighbour in the representation space."""
    import torch

    from ttvis_widget.engine.driver import Timer
    from ttvis_widget.engine.dvi import DVI
    from ttvis_widget.engine.layout import pca_init, umap_layout
    from ttvis_widget.engine.losses import find_ab_params
    from ttvis_widget.engine.parametric import epoch_complex

    e = digits.epochs[-1]
    X = np.asarray(digits.representation(e), np.float32)
    n = len(X)
    _, _, _, B, (h, t, w) = epoch_complex(X, digits, e, n_neighbors=15, n_borders=150, border_share=0.15,
                                          prune_epochs=200, seed=0, exact_knn_max=5000, device="cpu", timer=Timer())
    assert B is not None and len(B) > 50
    nodes = torch.from_numpy(np.concatenate([X, B]))
    init = pca_init((nodes - nodes.mean(0)) / nodes.std())
    a, b = find_ab_params()
    m = DVI(border_layout="after", layout_steps_first=200, layout_batch=2048, border_place_steps=150)
    Y = m._layout(X, B, h, t, w, init, True, a, b, torch.Generator().manual_seed(0), "cpu").numpy()
    samp = (h < n) & (t < n)
    ref = umap_layout(h[samp], t[samp], w[samp], n, init[:n], a=a, b=b, steps=200, batch=2048, lr=m.layout_lr,
                      generator=torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(Y[:n], ref)
    assert np.isfinite(Y).all()
    near_hd, _ = knn_exact(B, 15, Y=X)
    near_2d, _ = knn_exact(Y[n:], 1, Y=Y[:n])
    hit = np.mean([near_2d[i, 0] in near_hd[i] for i in range(len(B))])
    shuffled = near_2d[np.random.default_rng(0).permutation(len(B))]  # the same positions, wrong points
    chance = np.mean([shuffled[i, 0] in near_hd[i] for i in range(len(B))])
    assert hit > 0.15 and hit > 10 * chance


def test_dvi_joint_pass_frees_only_points_whose_prediction_is_lost():
    from types import SimpleNamespace

    import torch

    from ttvis_widget.engine.dvi import DVI

    model = SimpleNamespace(encoder=lambda x: x, decode=lambda y: y)
    nodes = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])
    tlogp = torch.log_softmax(torch.tensor([[3.0, 0.0], [0.0, 3.0], [0.0, 3.0], [3.0, 0.0]]), 1)
    head = lambda x: x  # noqa: E731  logits = the decoded point
    w = DVI(joint_fit_weight=10, joint_fit_weight_lost=0.1)._joint_weights(model, nodes, head, tlogp)
    np.testing.assert_allclose(w.numpy(), [10, 10, 0.1, 0.1])
    w = DVI(joint_fit_weight=2, joint_fit_weight_lost=None)._joint_weights(model, nodes, head, tlogp)
    np.testing.assert_allclose(w.numpy(), [2, 2, 2, 2])
