"""The provisional channel (issue 27): DVI hands each epoch's encoder positions to ``on_preview`` before its
decoder trains, without changing the fit, and the widget's background fit shows a previewed epoch at once."""
import threading

import numpy as np

DVI_TINY = dict(layout_steps_first=200, layout_steps=80, layout_batch=4096, encoder_steps_first=300,
                encoder_steps=100, decoder_steps_first=100, decoder_steps=50)


def _dvi(**kw):
    from ttvis_widget.engine.dvi import DVI

    return DVI(seed=0, device="cpu", **{**DVI_TINY, **kw})


def test_dvi_previews_each_epoch_before_it_is_done_and_fits_the_same(digits):
    """on_preview(e) comes before epoch_done(e), in epoch order, with the final embedding's values (the decoder
    does not move the encoder when ``joint_steps=0``), on both the overlapped (decoder beside the next
    layout) and the serial path; the fit is bit for bit the one without a listener."""
    eps = digits.epochs[:3]
    for overlap in (True, False):
        events, previews, finals = [], {}, {}

        def on_preview(e, emb):
            events.append(("preview", e))
            previews[e] = np.array(emb, copy=True)

        def on_epoch(e, emb, info):
            events.append(("done", e))
            finals[e] = np.array(emb, copy=True)

        _dvi(overlap=overlap, num_threads=2).fit(digits, epochs=eps, on_epoch=on_epoch, on_preview=on_preview)
        for e in eps:
            assert events.index(("preview", e)) < events.index(("done", e))
            np.testing.assert_array_equal(previews[e], finals[e])
        assert [e for kind, e in events if kind == "preview"] == eps
        assert [e for kind, e in events if kind == "done"] == eps

        plain = {}
        _dvi(overlap=overlap, num_threads=2).fit(digits, epochs=eps,
                                                 on_epoch=lambda e, emb, info: plain.__setitem__(e, np.array(emb)))
        assert all(np.array_equal(plain[e], finals[e]) for e in eps)


def test_a_joint_pass_makes_the_final_differ_from_the_preview(digits):
    """With a joint pass (which moves the encoder after the decoder) the preview is the encoder's placement
    before it: the final embedding differs, and the preview is still reported first."""
    eps = digits.epochs[:1]
    previews, finals = {}, {}
    _dvi(joint_steps=20).fit(digits, epochs=eps, on_preview=lambda e, emb: previews.__setitem__(e, np.array(emb)),
                             on_epoch=lambda e, emb, info: finals.__setitem__(e, np.array(emb)))
    assert set(previews) == set(finals) == set(eps)
    assert not np.array_equal(previews[eps[0]], finals[eps[0]])
    assert np.isfinite(previews[eps[0]]).all()
