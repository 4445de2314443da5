"""Linked views without a browser (issue 28): Procrustes alignment, compare's matching and N-mismatch handling,
the chart's data and throttle, the export API's errors and the checks on the bytes a view sends back (through
the comm entry point the browser uses). In-memory ArrayDynamics + PCA runs: fast, no numba."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget import ArrayDynamics
from ttvis_widget.widget import CompareWidget, NoViewError, TimeTravelWidget
from ttvis_widget.widget.align import AlignedRun, apply_transform, procrustes
from ttvis_widget.widget.chart import Throttle, marker_x, training_table
from ttvis_widget.widget.webm import WebMError, read_webm

EPOCHS = (1, 2, 3)


def _dyn(n, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    reps = {e: rng.normal(size=(n, 6)).astype(np.float32) for e in EPOCHS}
    preds = {e: rng.normal(size=(n, classes)).astype(np.float32) for e in EPOCHS}
    return ArrayDynamics(reps, predictions=preds, labels=rng.integers(0, classes, n),
                         split=(np.arange(n) >= int(0.8 * n)).astype(np.uint8),
                         classes=[f"c{i}" for i in range(classes)], name=f"d{n}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = _dyn(80)
    cache = tmp_path_factory.mktemp("linked-runs")
    a = ttvis_widget.fit(d, method="pca", cache_dir=cache, progress=False)
    b = ttvis_widget.fit(d, method="pca", cache_dir=cache, progress=False, align_signs=False)
    other = ttvis_widget.fit(_dyn(50, seed=1), method="pca", cache_dir=cache, progress=False)
    return a, b, other


class Wire:
    """Capture what a widget sends; feed it what a view would send, through the comm's entry point."""

    def __init__(self, w):
        self.w, self.msgs = w, []
        w.comm.send = lambda data=None, metadata=None, buffers=None: self.msgs.append((data, list(buffers or [])))

    def custom(self, content, buffers=()):
        self.w.comm.handle_msg({"content": {"data": {"method": "custom", "content": content},
                                            "comm_id": self.w.comm.comm_id}, "buffers": list(buffers)})

    def sent(self, kind):
        return [d["content"] for d, _ in self.msgs if d.get("method") == "custom" and d["content"].get("type") == kind]


# ---- Procrustes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_aligns_a_rotated_reflected_scaled_shifted_copy_back_exactly(reflect):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 2)) * [3.0, 1.0]
    th = 1.1
    r = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    if reflect:
        r = r @ np.diag([1.0, -1.0])
    y = 0.37 * x @ r + [5.0, -2.0]
    tf = procrustes(y, x)
    assert np.isclose(np.linalg.det(tf[0]), -1.0 if reflect else 1.0)
    np.testing.assert_allclose(apply_transform(y, tf), x, atol=1e-5)


def test_procrustes_without_scale_keeps_distances_and_degenerate_input_is_a_shift():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 2))
    y = 2.0 * x[:, ::-1]
    got = apply_transform(y, procrustes(y, x, scale=False))
    d = lambda z: np.linalg.norm(z[:, None] - z[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(d(got), d(y), rtol=1e-5, atol=1e-5)
    same = np.ones((10, 2))
    np.testing.assert_allclose(apply_transform(same, procrustes(same, same + 3)), same + 3)
    with pytest.raises(ValueError, match="same shape"):
        procrustes(np.zeros((3, 2)), np.zeros((4, 2)))


def test_aligned_run_replaces_the_raw_positions_and_aligns_per_epoch(runs):
    a, b, _ = runs
    raw = {e: b.embedding(e).copy() for e in b.epochs}
    al = AlignedRun(b, a)
    for e in b.epochs:
        got = al.embedding(e)
        # PCA without sign alignment is the reference up to a reflection per epoch: aligned back exactly
        np.testing.assert_allclose(got, a.embedding(e), atol=1e-4 * np.abs(a.embedding(e)).max())
        assert e not in b._emb, "the raw copy must be dropped once the aligned one exists"
        assert not got.flags.writeable
        np.testing.assert_allclose(apply_transform(raw[e], al.transforms[e]), got)
    assert al.embeddings().shape == (len(b.epochs), 80, 2)
    lo, hi = np.array(al.bounds[:2]), np.array(al.bounds[2:])
    assert (al.embeddings() >= lo).all() and (al.embeddings() <= hi).all()


# ---- compare -----------------------------------------------------------------------------------------

def test_compare_two_methods_on_one_dynamics_links_everything_and_aligns(runs):
    a, b, _ = runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = ttvis_widget.compare(a, b)
    assert isinstance(c, CompareWidget) and list(c.link) == ["time", "hover", "selection"]
    assert "orthogonal Procrustes" in c.note and "all 80 samples shared" in c.note and not c.warning
    assert isinstance(c.b.run, AlignedRun) and c.b.run.base is b
    np.testing.assert_allclose(c.b.positions(3), a.embedding(3), atol=1e-3)
    c.a.selection = [5, 7]
    assert c.b.selection == [5, 7]
    c.b.selection = [1]
    assert c.a.selection == [1]
    c.epoch = 2
    assert (c.a.epoch, c.b.epoch) == (2, 2)


def test_compare_with_different_sample_counts_links_time_only_and_says_so(runs):
    a, _, other = runs
    with pytest.warns(UserWarning, match="80 vs 50"):
        c = ttvis_widget.compare(a, other)
    assert list(c.link) == ["time"]
    assert "80 vs 50" in c.warning and "not aligned" in c.note
    assert not isinstance(c.b.run, AlignedRun)
    c.a.selection = [3]
    assert c.b.selection == []


def test_compare_takes_widgets_and_refuses_bad_arguments(runs):
    a, b, _ = runs
    wa, wb = TimeTravelWidget(a), TimeTravelWidget(b)
    c = ttvis_widget.compare(wa, wb, link=("time", "selection"), align=False)
    assert c.a is wa and c.b is wb and wb.run is b and list(c.link) == ["time", "selection"]
    with pytest.raises(ValueError, match="link="):
        ttvis_widget.compare(a, b, link=("time", "zoom"))
    with pytest.raises(ValueError, match="same"):
        ttvis_widget.compare(wa, wa)


def test_compare_widget_refuses_every_trait_update_from_the_browser(runs):
    a, b, _ = runs
    c = ttvis_widget.compare(a, b)
    Wire(c)
    c.comm.handle_msg({"content": {"data": {"method": "update", "state": {"note": "hacked", "link": []},
                                            "buffer_paths": []}, "comm_id": c.comm.comm_id}, "buffers": []})
    assert "hacked" not in c.note and list(c.link) == ["time", "hover", "selection"]
    assert c.refusals and c.refusals[-1]["message"] == "update"


# ---- chart -----------------------------------------------------------------------------------------

def test_chart_curves_come_from_the_logits_and_never_compute_metrics(runs, monkeypatch):
    a, _, _ = runs
    rows = training_table(a.dynamics, a.epochs)
    d = a.dynamics
    z, y, tr = d.prediction(2), d.labels, d.split == 0
    assert rows[1]["train_accuracy"] == pytest.approx(float((z[tr].argmax(1) == y[tr]).mean()))
    monkeypatch.setattr(type(a), "metrics", lambda *a_, **k: pytest.fail("chart() computed metrics"))
    w = TimeTravelWidget(a)
    fig = w.chart()
    names = {t.name for t in fig.data}
    assert {"train accuracy", "test accuracy", "train loss", "test loss"} <= names
    assert not any(t.yaxis == "y2" for t in fig.data)  # no cached metrics: no faithfulness axis
    assert fig.layout.shapes[0].x0 == a.epochs[0]
    fig.close()


def test_chart_click_sets_epoch_and_a_bad_click_is_refused(runs):
    a, _, _ = runs
    w = TimeTravelWidget(a)
    fig = w.chart()
    tr = fig.data[0]

    class Points:
        def __init__(self, xs):
            self.xs = xs

    tr._dispatch_on_click(Points([3]), None)
    assert w.epoch == 3
    tr._dispatch_on_click(Points([2.5]), None)
    tr._dispatch_on_click(Points(["../../etc"]), None)
    assert w.epoch == 3 and [r["field"] for r in w.refusals[-2:]] == ["x", "x"]
    fig.close()


def test_throttle_fires_at_most_at_its_rate_and_the_last_value_lands():
    now = [0.0]
    fired, timers = [], []

    class FakeTimer:  # fires when the fake clock passes its due time
        def __init__(self, delay, fn):
            self.due, self.fn, self.daemon = now[0] + delay, fn, False

        def start(self):
            timers.append(self)

        def cancel(self):
            timers.remove(self)

    def advance(t):
        now[0] = t
        for tm in [x for x in timers if x.due <= t]:
            timers.remove(tm)
            tm.fn()

    th = Throttle(fired.append, hz=10, clock=lambda: now[0], timer=FakeTimer)
    for i in range(100):  # 100 updates in one second
        advance(i * 0.01)
        th(i)
    advance(2.0)
    assert fired[0] == 0 and fired[-1] == 99, fired
    assert len(fired) <= 11, fired
    assert marker_x([1, 2, 4], 1.5) == 3.0 and marker_x([1, 2, 4], 2) == 4.0


# ---- export ------------------------------------------------------------------------------------------

def test_exports_without_a_view_raise_a_clear_error(runs, tmp_path):
    w = TimeTravelWidget(runs[0])
    for call in (lambda: w.save_png(tmp_path / "a.png"), lambda: w.save_animation(tmp_path / "a.webm")):
        with pytest.raises(NoViewError, match="displayed"):
            call()
    assert not list(tmp_path.iterdir())


def _png(w, h, color=(200, 30, 30)):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def test_save_png_writes_only_what_it_asked_for_checked_and_atomically(runs, tmp_path):
    w = TimeTravelWidget(runs[0])
    wire = Wire(w)
    wire.custom({"type": "request", "rid": "view1"})
    with pytest.raises(ValueError, match="end in .png"):
        w.save_png(tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="scale"):
        w.save_png(tmp_path / "x.png", scale=100)
    job = w.save_png(tmp_path / "x.png", scale=2)
    (ask,) = wire.sent("export")
    assert ask["target"] == "view1" and ask["scale"] == 2 and ask["kind"] == "png"
    # bytes for an export nobody asked for, a lie about the size, not a PNG: refused, nothing written
    wire.custom({"type": "export_data", "id": "nosuchid", "kind": "png", "width": 4, "height": 3}, [_png(4, 3)])
    wire.custom({"type": "export_data", "id": job.id, "kind": "png", "width": 5, "height": 3}, [_png(4, 3)])
    wire.custom({"type": "export_data", "id": job.id, "kind": "png", "width": 4, "height": 3}, [b"GIF89a" + b"0" * 40])
    wire.custom({"type": "export_data", "id": job.id, "kind": "webm", "width": 4, "height": 3}, [_png(4, 3)])
    assert [r["field"] for r in w.refusals] == ["id", "buffers", "buffers", "kind"]
    assert not job.done and not (tmp_path / "x.png").exists()
    wire.custom({"type": "export_data", "id": job.id, "kind": "png", "width": 4, "height": 3}, [_png(4, 3)])
    assert job.done and job.error is None and job.result(0) == tmp_path / "x.png"
    assert (tmp_path / "x.png").read_bytes() == _png(4, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]  # no temp file left
    assert wire.sent("export_done")[-1]["ok"] is True
    wire.custom({"type": "export_data", "id": job.id, "kind": "png", "width": 4, "height": 3}, [_png(4, 3)])
    assert w.refusals[-1]["field"] == "id"  # a finished export takes no more bytes


def test_export_button_the_kernel_names_the_file_in_its_working_directory(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = TimeTravelWidget(runs[0])
    wire = Wire(w)
    wire.custom({"type": "export_request", "kind": "png", "rid": "v2"})
    wire.custom({"type": "export_request", "kind": "png", "rid": "../../etc/passwd"})
    (ask,) = wire.sent("export")
    assert ask["target"] == "v2" and w.refusals[-1]["field"] == "rid"
    wire.custom({"type": "export_data", "id": ask["id"], "kind": "png", "width": 2, "height": 2}, [_png(2, 2)])
    assert [p.name for p in tmp_path.iterdir()] == [f"d80-pca-epoch{w.epoch}.png"]


def test_gif_from_frames_and_a_view_reported_failure(runs, tmp_path):
    from PIL import Image

    w = TimeTravelWidget(runs[0])
    wire = Wire(w)
    wire.custom({"type": "request", "rid": "v"})
    with pytest.raises(ValueError, match="recorded epochs"):
        w.save_animation(tmp_path / "a.gif", epochs=(1, 9))
    job = w.save_animation(tmp_path / "a.gif", seconds=1, fps=4)
    (ask,) = wire.sent("export")
    assert ask["kind"] == "frames" and ask["frames"] == 4 and (ask["k0"], ask["k1"]) == (0, 2)
    frames = [_png(6, 4, (40 * i, 0, 0)) for i in range(4)]
    wire.custom({"type": "export_data", "id": job.id, "kind": "frames", "width": 6, "height": 4, "seq": 1,
                 "last": False}, frames[:2])
    assert w.refusals[-1]["field"] == "seq"
    wire.custom({"type": "export_data", "id": job.id, "kind": "frames", "width": 6, "height": 4, "seq": 0,
                 "last": False}, frames[:2])
    wire.custom({"type": "export_data", "id": job.id, "kind": "frames", "width": 6, "height": 4, "seq": 2,
                 "last": True}, frames[2:])
    assert job.done and job.error is None
    gif = Image.open(tmp_path / "a.gif")
    assert gif.n_frames == 4 and gif.size == (6, 4) and gif.info["duration"] == 250
    job2 = w.save_animation(tmp_path / "b.webm", seconds=1, fps=4)
    wire.custom({"type": "export_failed", "id": job2.id, "reason": "no_mediarecorder"})
    assert job2.done and "cannot record WebM" in job2.error and not (tmp_path / "b.webm").exists()
    with pytest.raises(RuntimeError, match="cannot record"):
        job2.result(0)


def test_webm_reader_refuses_what_is_not_webm():
    with pytest.raises(WebMError, match="EBML"):
        read_webm(b"RIFF0000WEBPVP8 ")
    # an EBML header with DocType "matroska" is not a WebM
    head = bytes.fromhex("1a45dfa3") + bytes([0x80 | 11]) + bytes.fromhex("4282") + bytes([0x80 | 8]) + b"matroska"
    with pytest.raises(WebMError, match="DocType"):
        read_webm(head)


def test_an_export_asked_right_after_display_waits_for_the_view(runs, tmp_path):
    """Run All: the cell after ``w`` runs before the view's first message arrives; the export waits for it."""
    from IPython.core.formatters import DisplayFormatter

    w = TimeTravelWidget(runs[0])
    wire = Wire(w)
    DisplayFormatter().format(w)  # what displaying the widget in a cell does
    job = w.save_png(tmp_path / "later.png")
    assert not wire.sent("export") and not job.done
    wire.custom({"type": "request", "rid": "late"})
    (ask,) = wire.sent("export")
    assert ask["id"] == job.id and ask["target"] == "late"
    wire.custom({"type": "bye", "rid": "late"})
    assert w.__dict__["_live_views"] == []
