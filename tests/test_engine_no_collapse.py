"""DVI and TimeVis fitted from scratch on the digits dynamics under other seeds and configurations: no layout
collapses, and the earlier DVI configuration still fits. Apart from test_engine.py (which shares one fit per
method between its tests) so that scripts/test.sh's two workers can run the two files side by side; the fits
keep their sizes, as the thresholds (neighbours kept, PPR) are about the quality of a real fit."""
from __future__ import annotations

import numpy as np
import pytest

from test_engine import DVI_SMALL, TV_SMALL, nn_fraction, ppr
from ttvis_widget.engine import fit

pytestmark = pytest.mark.slow  # seven fits from scratch


@pytest.mark.parametrize("method", ["dvi", "timevis"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_collapse(digits, tmp_path, seed, method):
    """The original DVI collapses every point onto one spot on digits with its default seed: neither of ours does."""
    kw = dict(DVI_SMALL, encoder_steps_first=800, encoder_steps=200) if method == "dvi" else TV_SMALL
    run = fit(digits, method=method, epochs=[6, 7, 8], seed=seed, cache_dir=tmp_path, progress=False, **kw)
    for e in run.epochs:
        emb = run.embedding(e)
        sv = np.linalg.svd(emb - emb.mean(0), compute_uv=False)
        assert sv[1] > 0.2 * sv[0], "embedding collapsed onto a line"
        assert len(np.unique(emb.round(3), axis=0)) > 0.9 * len(emb), "points collapsed together"
        assert nn_fraction(digits.representation(e), emb) > 0.2


def test_dvi_earlier_configuration_still_fits(digits, tmp_path):
    """The non-default path: Adam for both networks, the plain decoder (no Fourier features) and the joint
    pass that moves the points whose round trip loses the prediction (the defaults before Muon)."""
    kw = dict(DVI_SMALL, encoder_optimizer="adam", decoder_optimizer="adam", decoder_fourier=0,
              encoder_pair_weight=0.0, joint_steps=60)
    run = fit(digits, method="dvi", epochs=digits.epochs[:2], cache_dir=tmp_path, progress=False, **kw)
    last = run.epochs[-1]
    assert np.isfinite(run.embedding(last)).all()
    assert ppr(run, last) >= 0.85
    assert nn_fraction(run.dynamics.representation(last), run.embedding(last)) >= 0.2
    assert run.params["decoder_fourier"] == 0 and run.params["joint_steps"] == 60
    with pytest.raises(ValueError, match="encoder_optimizer"):
        fit(digits, method="dvi", cache_dir=tmp_path, progress=False, encoder_optimizer="sgd")
