"""DynaVis (``method="dynavis"``, engine/dynavis.py) on the digits fixture: a finite embedding for every epoch,
an inverse that keeps the head's prediction (territories), continuous time between fitted epochs, a cache hit
that trains nothing, a stop that resumes to the very same model, and its temporal losses on known cases."""
import numpy as np
import pytest
import torch

from ttvis_widget.engine import FitStopped, fit

DV_TINY = dict(hidden=(64, 64, 64), batch=32, ae_epochs=4, encoder_epochs=3, decoder_epochs=3, warmup_epochs=2,
               num_threads=1)
EPOCHS = [2, 4, 6, 8]


@pytest.fixture(scope="module")
def dynavis_run(digits, tmp_path_factory):
    return fit(digits, method="dynavis", epochs=EPOCHS, cache_dir=tmp_path_factory.mktemp("dynavis"), device="cpu",
               progress=False, **DV_TINY)


def test_dynavis_fits_every_epoch_with_an_inverse(dynavis_run, digits):
    run = dynavis_run
    assert run.epochs == EPOCHS and run.has_inverse and run.manifest["complete"]
    for e in run.epochs:
        xy = run.embedding(e)
        assert xy.shape == (digits.n_samples, 2) and np.isfinite(xy).all() and np.ptp(xy, 0).min() > 0.1
    last = run.epochs[-1]
    X = digits.representation(last)
    np.testing.assert_allclose(run.transform(last, X[:200]), run.embedding(last)[:200], atol=1e-4)
    head = digits.head(last)
    ppr = float((head(run.inverse(last, run.embedding(last))).argmax(1) == head(X).argmax(1)).mean())
    assert ppr >= 0.8, ppr
    assert run.territory(last, resolution=32).source == "head"
    # time is an input: epoch 3 (not fitted) lies between epochs 2 and 4, and is projected and decoded there
    x3 = digits.representation(3)[:300]
    a, mid, b = (run.projector.transform(e, x3) for e in (2, 3, 4))
    assert np.isfinite(mid).all() and not np.array_equal(mid, a) and not np.array_equal(mid, b)
    assert run.projector.inverse_transform(3, mid).shape == (300, digits.dim)


def test_dynavis_cache_hit_trains_nothing(dynavis_run, digits, monkeypatch):
    import ttvis_widget.engine.driver as driver_mod
    from ttvis_widget.engine.dynavis import DynaVis

    def boom(*a, **k):
        raise AssertionError("training ran on a cache hit")

    monkeypatch.setattr(driver_mod, "drive", boom)
    monkeypatch.setattr(DynaVis, "_step", boom)
    again = fit(digits, method="dynavis", epochs=EPOCHS, cache_dir=dynavis_run.path.parent.parent, device="cpu",
                progress=False, **DV_TINY)
    assert again.path == dynavis_run.path
    for e in EPOCHS:
        np.testing.assert_array_equal(again.embedding(e), dynavis_run.embedding(e))
    assert again.inverse(EPOCHS[-1], np.zeros((3, 2), np.float32)).shape == (3, digits.dim)


def test_a_stopped_dynavis_fit_resumes_to_the_same_model(dynavis_run, digits, tmp_path):
    """Asked to stop, the fit ends after its third training pass (its checkpoint); fitting again goes on from
    there and ends exactly where the uninterrupted fit did (model, optimizers and generator are restored)."""

    class StopAfterThreePasses:  # asked after each pass
        asked = 0

        def is_set(self):
            self.asked += 1
            return self.asked == 3

    with pytest.raises(FitStopped) as err:
        fit(digits, method="dynavis", epochs=EPOCHS, cache_dir=tmp_path, device="cpu", progress=False,
            stop=StopAfterThreePasses(), **DV_TINY)
    assert err.value.done == [] and err.value.remaining == EPOCHS
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "state" / "dynavis_train.pt").exists() and not list(run_dir.glob("embedding_*.npy"))
    run = fit(digits, method="dynavis", epochs=EPOCHS, cache_dir=tmp_path, device="cpu", progress=False, **DV_TINY)
    for e in EPOCHS:
        np.testing.assert_array_equal(run.embedding(e), dynavis_run.embedding(e))


def test_dynavis_temporal_losses_on_known_trajectories():
    from ttvis_widget.engine.dynavis import direction_loss, rank_kl

    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 16, 5, generator=g).cumsum(0)  # 16 random walks over 9 epochs
    same = x[..., :2] * 3 + 1  # a 2-D view with the same shape of trajectory where x moves in 2 dims
    flat = torch.cat([x[..., :2], torch.zeros(9, 16, 3)], 2)
    assert float(rank_kl(flat, same, 0.5)) < 1e-6  # distances between epochs ranked (and scaled) alike
    shuffled = same[torch.randperm(9, generator=g)]
    assert float(rank_kl(flat, shuffled, 0.5)) > 0.05
    assert float(direction_loss(flat, same)) < float(direction_loss(flat, shuffled))
    assert float(direction_loss(x[:2], same[:2])) == 0.0  # too short for any window: no term
