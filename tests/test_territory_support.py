"""The territory's support (issue 28, item 5): where samples back the decoder's territory, carried as the image's
alpha so the far field (where the decoder extrapolates) can be left out or drawn faint. Synthetic embeddings for
the definition; digits + PCA (no numba, seconds) for a fitted run's territory, through ``run.territory``."""
from __future__ import annotations

import io

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget import ArrayDynamics
from ttvis_widget.engine import territory as T


def _blobs(seed=0, n=400):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal((0.25, 0.25), 0.04, (n, 2)), rng.normal((0.6, 0.35), 0.05, (n, 2))])


def test_support_is_where_samples_are_dense_relative_to_the_embeddings_own_spacing():
    R, bounds = 96, (0.0, 0.0, 1.0, 1.0)
    emb = _blobs()
    reach = T.support_reach(emb, bounds, R)
    alpha = T.support_alpha(reach)
    assert reach.shape == alpha.shape == (R, R) and alpha.dtype == np.float32
    col = np.clip((emb[:, 0] * R).astype(int), 0, R - 1)
    row = np.clip(((1.0 - emb[:, 1]) * R).astype(int), 0, R - 1)
    assert (alpha[row, col] == 1.0).mean() >= 0.97  # (almost) every sample sits inside the support
    assert alpha[0, R - 1] == 0.0 and alpha[0, 0] == 0.0  # far corners: nothing drawn
    # inside iff reach <= 1, a smooth fade to 0 at FADE_TO, never rising along a ray away from the samples
    assert (alpha[reach <= 1] == 1).all() and (alpha[reach >= T.FADE_TO] == 0).all()
    band = (reach > 1) & (reach < T.FADE_TO)
    assert band.any() and ((alpha[band] > 0) & (alpha[band] < 1)).all()
    r0 = int((1 - 0.25) * R)
    ray = [float(alpha[r0, c]) for c in range(int(0.25 * R), 0, -1)]  # from the first blob's centre leftwards
    assert ray[0] == 1.0 and ray[-1] == 0.0 and all(b <= a + 1e-6 for a, b in zip(ray, ray[1:]))
    # scale-free: the same embedding in other units (and shifted, and its box with it) has the same support
    s, off = 37.0, np.array([-5.0, 12.0])
    moved = T.support_reach(emb * s + off, (off[0], off[1], off[0] + s, off[1] + s), R)
    np.testing.assert_allclose(moved, reach, rtol=1e-4, atol=1e-5)


def test_a_lone_stray_sample_does_not_claim_support_and_degenerate_input_is_all_inside():
    R, bounds = 64, (0.0, 0.0, 1.0, 1.0)
    emb = np.concatenate([_blobs(n=200), [[0.9, 0.9]]])
    alpha = T.sample_support(emb, bounds, R)
    assert alpha[int(0.1 * R), int(0.9 * R)] == 0.0  # the k-th neighbour, not the first: a stray sample is alone
    assert (T.sample_support(np.zeros((1, 2)), bounds, 8) == 1).all()
    assert (T.sample_support(np.full((5, 2), np.nan), bounds, 8) == 1).all()  # no finite sample: nothing to judge
    dup = T.sample_support(np.full((50, 2), 0.5), bounds, 16)  # all samples on one point: a tiny support there
    assert dup[8, 8] == 1.0 and dup[0, 0] == 0.0


def test_colorize_puts_the_support_in_alpha_and_keeps_the_colour_everywhere():
    R = 32
    classes = np.tile(np.arange(R, dtype=np.int16) % 3, (R, 1))
    margin = np.linspace(0, 1, R * R, dtype=np.float32).reshape(R, R)
    sup = np.linspace(0, 1, R * R, dtype=np.float32).reshape(R, R)[::-1]
    plain, faded = T.colorize(classes, margin, 3), T.colorize(classes, margin, 3, sup)
    np.testing.assert_array_equal(faded[..., :3], plain[..., :3])  # the class colour survives alpha 0
    assert (plain[..., 3] == 255).all()
    np.testing.assert_array_equal(faded[..., 3], np.round(255 * sup).astype(np.uint8))


@pytest.fixture(scope="module")
def pca_run(digits, tmp_path_factory):
    return ttvis_widget.fit(digits, method="pca", cache_dir=tmp_path_factory.mktemp("terr-support"), progress=False)


def test_a_fitted_runs_territory_carries_its_support_as_alpha_classes_untouched(pca_run):
    from PIL import Image

    run, R = pca_run, 64
    e = run.epochs[-1]
    terr = run.territory(e, resolution=R)
    emb = run.embedding(e)
    want = T.sample_support(emb, run.bounds, R)
    np.testing.assert_array_equal(terr.support, want)
    np.testing.assert_array_equal(terr.rgba[..., 3], np.round(255 * want).astype(np.uint8))
    # the classes are the head's on the decoded grid, whatever the support: the drawing changed, not the model
    head = run.dynamics.head(e)
    classes = head(run.inverse(e, T.grid_points(run.bounds, R))).argmax(1).reshape(R, R)
    assert (terr.classes == classes).mean() > 0.999  # (bfloat16 decoding may flip a tie)
    xmin, ymin, xmax, ymax = run.bounds
    col = np.clip(((emb[:, 0] - xmin) / (xmax - xmin) * R).astype(int), 0, R - 1)
    row = np.clip(((ymax - emb[:, 1]) / (ymax - ymin) * R).astype(int), 0, R - 1)
    assert (terr.rgba[row, col, 3] == 255).mean() >= 0.97  # the territory under the samples is drawn in full
    assert (terr.rgba[..., 3] == 0).any()  # and the box has a far field left out
    png = np.asarray(Image.open(io.BytesIO(terr.png())))
    np.testing.assert_array_equal(png, terr.rgba)  # the PNG the widget sends holds the alpha (straight, RGBA)


def test_the_vote_territory_has_the_same_support_and_an_old_cache_is_recomputed(digits, pca_run, tmp_path):
    eps = digits.epochs[-2:]
    dyn = ArrayDynamics({e: digits.representation(e) for e in eps}, predictions={e: digits.prediction(e) for e in eps},
                        labels=digits.labels)
    run = ttvis_widget.fit(dyn, method="pca", cache_dir=tmp_path, progress=False)
    terr = run.territory(eps[-1], resolution=48)
    assert terr.source == "nn-vote"
    np.testing.assert_array_equal(terr.rgba[..., 3], np.round(255 * terr.support).astype(np.uint8))
    # a territory cached by an earlier render version (no support alpha) is not used
    f = tmp_path / "t.npz"
    terr.save(f)
    with np.load(f) as z:
        old = {k: z[k] for k in z.files}
    old["version"] = np.asarray(T.RENDER_VERSION - 1)
    np.savez(tmp_path / "old.npz", **old)
    with pytest.raises(ValueError, match="version"):
        T.Territory.load(tmp_path / "old.npz", run.bounds)
    np.testing.assert_array_equal(T.Territory.load(f, run.bounds).support, terr.support)
