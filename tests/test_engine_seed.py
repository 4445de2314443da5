"""A fit depends on its seed alone, and leaves torch's global random stream as it found it."""
import numpy as np
import pytest
import torch

DVI_TINY = dict(layout_steps_first=200, layout_steps=80, layout_batch=4096, encoder_steps_first=300,
                encoder_steps=100, decoder_steps_first=100, decoder_steps=50)


@pytest.mark.parametrize("method", ["dvi", "timevis"])
def test_fit_depends_on_its_seed_alone(digits, method):
    """Same seed -> the same model, whatever torch's global random stream holds (the first fit also builds the
    head's cached module); the fit leaves that stream as it found it; another seed gives another model."""
    from ttvis_widget.engine.dvi import DVI
    from ttvis_widget.engine.timevis import TimeVis

    eps = digits.epochs[-2:]

    def make(seed):
        if method == "dvi":
            return DVI(seed=seed, **DVI_TINY)
        return TimeVis(seed=seed, layout_steps_first=100, layout_steps=50, encoder_steps=300, decoder_steps=100)

    embs = []
    for i, seed in enumerate((0, 0, 1)):
        torch.manual_seed(100 + i)
        torch.rand(7)
        before = torch.get_rng_state()
        m = make(seed).fit(digits, epochs=eps)
        assert torch.equal(before, torch.get_rng_state())
        embs.append(m.transform(eps[-1], digits.representation(eps[-1])))
    np.testing.assert_array_equal(embs[0], embs[1])
    assert np.abs(embs[0] - embs[2]).max() > 0.1
