"""A fit depends on its seed alone, and leaves torch's global random stream as it found it."""
import numpy as np
import pytest
import torch

DVI_TINY = dict(layout_steps_first=200, layout_steps=80, layout_batch=4096, encoder_steps_first=300,
                encoder_steps=100, decoder_steps_first=100, decoder_steps=50)


@pytest.mark.parametrize("method", ["dvi", "timevis"])
def test_fit_depends_on_its_seed_alone(digits, method):
    """Same seed -> the same model, whatever torch's global random stream holds (the first fit also builds the
    head's cached module); the fit leaves that stream as it found it; another seed gives another model. On a
    CPU: a GPU's scatter-adds (the layout's gradient) run in no fixed order, so there the same seed gives the
    same model up to rounding."""
    from ttvis_widget.engine.dvi import DVI
    from ttvis_widget.engine.timevis import TimeVis

    eps = digits.epochs[-2:]

    def make(seed):
        if method == "dvi":
            return DVI(seed=seed, device="cpu", **DVI_TINY)
        return TimeVis(seed=seed, device="cpu", layout_steps_first=100, layout_steps=50, encoder_steps=300, decoder_steps=100)

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


def test_a_generator_resumes_from_its_own_kind_of_device_only():
    """A run folder does not depend on the device: a checkpoint's generator state from another kind of device
    (a CUDA state is 16 bytes, the CPU's 5,056) reseeds the generator instead of failing the resumed fit."""
    from ttvis_widget.engine.base import generator_state, restore_generator

    g = torch.Generator().manual_seed(3)
    torch.rand(5, generator=g)
    saved = generator_state(g)
    nxt = torch.rand(4, generator=g)
    h = torch.Generator()
    restore_generator(h, saved, reseed=9)
    assert saved["device"] == "cpu" and torch.equal(torch.rand(4, generator=h), nxt)  # continues
    restore_generator(h, saved["state"], reseed=9)  # a bare state, as checkpoints held it before
    assert torch.equal(torch.rand(4, generator=h), nxt)
    restore_generator(h, {"device": "cuda", "state": torch.zeros(16, dtype=torch.uint8)}, reseed=9)
    assert torch.equal(torch.rand(4, generator=h), torch.rand(4, generator=torch.Generator().manual_seed(9)))
    with pytest.raises(RuntimeError):  # what the resumed fit met before
        torch.Generator().set_state(torch.zeros(16, dtype=torch.uint8))
