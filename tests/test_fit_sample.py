"""``fit(fit_sample=K)`` (issue 30, item 5): a parametric method fitted on a stratified sample of K, every sample
placed by its encoder, the run recording which samples the fit saw and the metrics scoring both."""
import warnings

import numpy as np
import pytest

from ttvis_widget import fit
from ttvis_widget.engine import registry, sampling
from ttvis_widget.engine.run import data_fingerprint, run_key

SMALL = dict(layout_steps_first=200, layout_steps=60, encoder_steps_first=300, encoder_steps=100,
             decoder_steps_first=80, decoder_steps=30, overlap=False, num_threads=1)


def test_the_sample_is_stratified_by_label_and_prediction(digits):
    e = digits.epochs[-1]
    idx = sampling.choose_sample(digits, 300, seed=0, epoch=e)
    assert len(idx) == 300 and np.all(np.diff(idx) > 0) and idx[0] >= 0 and idx[-1] < digits.n_samples
    np.testing.assert_array_equal(idx, sampling.choose_sample(digits, 300, seed=0, epoch=e))  # seeded
    assert not np.array_equal(idx, sampling.choose_sample(digits, 300, seed=1, epoch=e))
    lab, pred = np.asarray(digits.labels), digits.predicted_class(e)
    pairs_all = set(zip(lab.tolist(), pred.tolist()))
    pairs_seen = set(zip(lab[idx].tolist(), pred[idx].tolist()))
    assert pairs_seen == pairs_all  # every (label, prediction) stratum, the rare confusions too
    share_all = np.bincount(lab, minlength=10) / len(lab)
    share_seen = np.bincount(lab[idx], minlength=10) / len(idx)
    assert np.abs(share_all - share_seen).max() < 0.03  # the large strata in proportion


def test_fit_sample_choices_are_checked_before_anything_is_written(digits, tmp_path):
    _, dvi = registry.method_class("dvi")
    _, pca = registry.method_class("pca")
    assert registry.facts("dvi")["fit_sample"] and registry.facts("timevis")["fit_sample"]
    assert not registry.facts("pca")["fit_sample"]
    assert sampling.resolve("auto", dvi, 60_000) is None and sampling.resolve(None, dvi, 10**6) is None
    assert sampling.resolve("auto", pca, 10**6) is None  # auto never asks a method that cannot project
    with pytest.warns(sampling.FitSampleNotice, match="1,000,000 samples"):
        assert sampling.resolve("auto", dvi, 10**6) == sampling.AUTO_K
    with pytest.raises(ValueError, match="fit_sample.*'pca' cannot project.*dvi"):
        fit(digits, method="pca", cache_dir=tmp_path, progress=False, fit_sample=500)
    for bad in ("half", 1, -5, 2.5):
        with pytest.raises(ValueError, match="fit_sample"):
            fit(digits, method="dvi", cache_dir=tmp_path, progress=False, fit_sample=bad)
    assert not list(tmp_path.iterdir())


def test_dvi_fitted_on_a_sample_places_every_sample(digits, tmp_path):
    calls = []
    run = fit(digits, method="dvi", epochs=[1, 2], cache_dir=tmp_path, progress=False, fit_sample=600,
              callback=lambda e, emb, info: calls.append((e, emb.shape)), **SMALL)
    n = digits.n_samples
    assert calls == [(1, (n, 2)), (2, (n, 2))]  # the callback sees every sample
    seen = run.fit_index
    assert len(seen) == 600 and run.manifest["fit_sample"] == {"k": 600, "n": n, "indices": "fit_sample.npy"}
    assert run.params["fit_sample"] == 600
    for e in (1, 2):
        emb = run.embedding(e)
        assert emb.shape == (n, 2) and np.isfinite(emb).all()
        # the unseen samples are the encoder's projection; the seen ones where the fit put them (the same map)
        np.testing.assert_allclose(run.transform(e, digits.representation(e)), emb, atol=1e-4)
    info = run.manifest["timings"]["epochs"]["2"]
    n_b = int(np.count_nonzero(np.asarray(digits.split)[seen] == 0) * 0.1)  # border_fraction of the sample's
    assert 0 < info["n_borders"] <= n_b < int(len(digits.train_index) * 0.1)  # training samples, not of all N

    # the run is loaded again without training, with its sample
    again = fit(digits, method="dvi", epochs=[1, 2], cache_dir=tmp_path, progress=False, fit_sample=600, **SMALL)
    assert again.path == run.path
    np.testing.assert_array_equal(again.fit_index, seen)

    # the metrics say which samples the fit saw
    rows = run.metrics(epochs=[2], paper_form=False, bnn=False, inverse=False, trust=False, temporal=False)
    row = rows[0]
    assert row["n_seen"] == 600 and 0 < row["nn15_exact_seen"] <= 1 and 0 < row["nn15_exact_unseen"] <= 1


def test_without_fit_sample_the_run_key_is_as_before(digits, tmp_path):
    """Runs on all samples keep their cache keys (and results): fit_sample is in the key only when it samples."""
    run = fit(digits, method="pca", epochs=[1, 2], cache_dir=tmp_path, progress=False)
    _, cls = registry.method_class("pca")
    est = cls(seed=0, device="auto", progress=False)
    key = run_key("pca", est.cache_params(), [1, 2], data_fingerprint(digits, [1, 2]))
    assert run.path.name == f"pca-{key}" and run.fit_index is None and "fit_sample" not in run.manifest
    with warnings.catch_warnings():  # "auto" at the digits' N: all samples, and no notice
        warnings.simplefilter("error", sampling.FitSampleNotice)
        assert sampling.resolve("auto", registry.method_class("dvi")[1], digits.n_samples) is None


def test_timevis_fitted_on_a_sample_places_every_sample(digits, tmp_path):
    """TimeVis fits all its epochs at once: one sample for all of them, every sample placed by its encoder."""
    tv = dict(layout_steps_first=150, layout_steps=50, layout_joint_steps=50, encoder_steps=400,
              decoder_steps=60, joint_steps=0, num_threads=1)
    run = fit(digits, method="timevis", epochs=[1, 2], cache_dir=tmp_path, progress=False, fit_sample=500, **tv)
    n, seen = digits.n_samples, run.fit_index
    assert len(seen) == 500 and run.manifest["fit_sample"]["k"] == 500
    for e in (1, 2):
        emb = run.embedding(e)
        assert emb.shape == (n, 2) and np.isfinite(emb).all()
        np.testing.assert_allclose(run.transform(e, digits.representation(e)), emb, atol=1e-4)
    row = run.metrics(epochs=[2], paper_form=False, bnn=False, inverse=False, trust=False, temporal=False)[0]
    assert row["n_seen"] == 500
    # the encoder places what it did not see far better than chance (15 of ~1,300: 0.012), not far below what it
    # saw (0.17 vs 0.27 with these few steps on digits)
    assert row["nn15_exact_unseen"] > 0.1 and row["nn15_exact_unseen"] >= 0.5 * row["nn15_exact_seen"]
    again = fit(digits, method="timevis", epochs=[1, 2], cache_dir=tmp_path, progress=False, fit_sample=500, **tv)
    assert again.path == run.path
    np.testing.assert_array_equal(again.fit_index, seen)
