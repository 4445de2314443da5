"""The provisional channel (issue 27): DVI hands each epoch's encoder positions to ``on_preview`` before its
decoder trains, without changing the fit, and the widget's background fit shows a previewed epoch at once."""
import threading

import numpy as np
import pytest

DVI_TINY = dict(layout_steps_first=60, layout_steps=30, layout_batch=4096, encoder_steps_first=60,
                encoder_steps=30, decoder_steps_first=20, decoder_steps=10)


def _dvi(**kw):
    from ttvis_widget.engine.dvi import DVI

    return DVI(seed=0, device="cpu", **{**DVI_TINY, **kw})


def test_dvi_previews_each_epoch_before_it_is_done_and_fits_the_same(digits):
    """on_preview(e) comes twice before epoch_done(e), in epoch order: the epoch's layout, then its encoder
    positions, which are the final embedding's values (the decoder does not move the encoder when
    ``joint_steps=0``), on both the overlapped (decoder beside the next layout) and the serial path; the
    layout preview is close to them (the encoder learns it); the fit is bit for bit the one without a listener."""
    eps = digits.epochs[:2]
    finals = {}
    for overlap in (True, False):
        events, previews, layouts, finals = [], {}, {}, {}

        def on_preview(e, emb):
            events.append(("preview", e))
            if e in previews:
                layouts[e] = previews[e]
            previews[e] = np.array(emb, copy=True)

        def on_epoch(e, emb, info):
            events.append(("done", e))
            finals[e] = np.array(emb, copy=True)

        _dvi(overlap=overlap, num_threads=2).fit(digits, epochs=eps, on_epoch=on_epoch, on_preview=on_preview)
        # overlapped, epoch 1's decoder ends during epoch 2, after its layout and before its encoder
        assert events == [("preview", eps[0]), ("preview", eps[0]), ("done", eps[0]),
                          ("preview", eps[1]), ("preview", eps[1]), ("done", eps[1])]
        for e in eps:
            np.testing.assert_array_equal(previews[e], finals[e])
            assert layouts[e].shape == finals[e].shape and np.isfinite(layouts[e]).all()
            scale = np.ptp(finals[e], axis=0).max()
            assert np.median(np.linalg.norm(layouts[e] - finals[e], axis=1)) < 0.1 * scale  # same frame, close
        if overlap:
            with_preview = finals
    plain = {}
    _dvi(overlap=True, num_threads=2).fit(digits, epochs=eps,
                                          on_epoch=lambda e, emb, info: plain.__setitem__(e, np.array(emb)))
    assert all(np.array_equal(plain[e], with_preview[e]) for e in eps)


@pytest.mark.parametrize("joint_steps", [0, 20])
def test_the_widget_shows_an_epoch_once_placed_and_resends_it_only_if_it_moved(digits_path, tmp_path, monkeypatch,
                                                                              joint_steps):
    """The background fit's views get epoch 1 while its decoder is held at a gate (the fit cannot have
    finished it: ``ready_epochs`` is empty, progress says so): its layout, then its encoder positions; once
    finished, epoch 1 is sent again only when its final embedding differs from the last preview (a joint pass
    moves the encoder after the decoder)."""
    from ttvis_widget.engine.dvi import DVI
    from ttvis_widget.widget import TimeTravelWidget

    from test_live import _view  # tests/ is on sys.path (rootdir conftest, no package)

    gate, entered = threading.Event(), threading.Event()
    real = DVI._decoder_stage

    def held(self, *a, **kw):
        entered.set()
        assert gate.wait(120), "test gate never opened"
        return real(self, *a, **kw)

    monkeypatch.setattr(DVI, "_decoder_stage", held)
    w = TimeTravelWidget(digits_path, method="dvi", cache_dir=tmp_path, epochs=[1, 2], device="cpu",
                         joint_steps=joint_steps, **DVI_TINY)
    wire = _view(w)
    assert entered.wait(120)  # epoch 1's decoder stage has started and waits: epoch 1 is not finished
    try:
        chunks = [c for c in wire.kinds("chunk") if c["e0"] == 0]
        assert chunks and w.ready_epochs == []
        assert "epoch 1 placed, decoder training" in w.progress["stage"]
        shown = w.run.embedding(1).copy()
    finally:
        gate.set()
    assert w.wait(120) and w.ready_epochs == [1, 2]
    final = w.run.embedding(1)
    sent = [c for c in wire.kinds("chunk") if c["e0"] == 0]
    # sent as laid out, again as encoded (the encoder's positions differ from the layout it learnt), and a
    # third time only when the final positions differ from the encoder's
    if joint_steps:
        assert not np.array_equal(shown, final) and len(sent) == 3
    else:
        np.testing.assert_array_equal(shown, final)
        assert len(sent) == 2
    assert {c["e0"] for c in wire.kinds("chunk")} == {0, 1}


def test_a_previewed_epoch_is_withdrawn_when_its_fit_fails(digits_path, tmp_path, monkeypatch):
    """The decoder stage fails after epoch 1 was previewed (sent to the view): the view is told to drop it (an
    evict), nothing counts it as ready, and ``wait()`` re-raises the failure."""
    from ttvis_widget.engine.dvi import DVI
    from ttvis_widget.widget import TimeTravelWidget

    from test_live import _view

    def broken(self, *a, **kw):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(DVI, "_decoder_stage", broken)
    w = TimeTravelWidget(digits_path, method="dvi", cache_dir=tmp_path, epochs=[1, 2], device="cpu", **DVI_TINY)
    wire = _view(w)
    with pytest.raises(RuntimeError, match="decoder exploded"):
        w.wait(120)
    sent = [c for c in wire.kinds("chunk") if c["e0"] == 0]
    evicted = [k for c in wire.kinds("evict") for k in c["epochs"]]
    assert sent and evicted == [0]  # shown as a preview, then withdrawn
    assert w.ready_epochs == [] and w._ready_indices() == [] and not w.run.previewed
    assert w.progress["state"] == "error" and "decoder exploded" in w.status
