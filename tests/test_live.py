"""Background and live fits in the widget (no browser): the constructor never waits for the fit, epochs stream
in order, errors reach ``w.wait()``, a recording still being written is followed, a cached run grows by new
epochs, one run folder has one fitter at a time (processes too), and a view that cannot hold every epoch gets
a sliding window. PCA wherever the method does not matter (cheap); docs/CONTRACTS.md, "Background and live"."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget.engine import api
from ttvis_widget.engine.checkpoints import RunLock
from ttvis_widget.widget import TimeTravelWidget
from ttvis_widget.widget import live as lv
from ttvis_widget.widget import transport as tr


class Wire:
    """What the widget sends to its views (custom messages), recorded."""

    def __init__(self, w):
        self.msgs = []
        w.send = lambda content, buffers=None: self.msgs.append((content, list(buffers or [])))

    def kinds(self, kind):
        return [c for c, _ in self.msgs if c.get("type") == kind]


@pytest.fixture
def gate(monkeypatch):
    """Holds every fit at its start until set: the constructor's return is observed while no epoch can be
    fitted, whatever the machine's speed."""
    ev = threading.Event()
    entered = threading.Event()
    real = api._fit_locked

    def held(*a, **kw):
        entered.set()
        assert ev.wait(120), "test gate never opened"
        return real(*a, **kw)

    monkeypatch.setattr(api, "_fit_locked", held)
    ev.entered = entered
    return ev


def _view(w, rid="v1"):
    wire = Wire(w)
    w._handle_msg({"content": {"data": {"method": "custom", "content": {"type": "request", "rid": rid}}}, "buffers": []})
    return wire


def test_the_constructor_returns_before_the_fit_and_epochs_arrive_in_order(digits_path, tmp_path, gate):
    w = TimeTravelWidget(digits_path, method="pca", cache_dir=tmp_path)
    assert gate.entered.wait(60)  # the fit has started in its thread ...
    assert w.ready_epochs == [] and w.progress["state"] in ("starting", "fitting")  # ... and nothing is fitted
    wire = _view(w)
    meta = wire.kinds("meta")[0]
    assert meta["n_epochs"] == len(w.epochs) == 8 and meta["live"] and not wire.kinds("chunk")
    gate.set()
    assert w.wait(120)
    assert w.ready_epochs == w.epochs and w.progress["state"] == "done" and w.progress["epochs_done"] == 8
    chunks = wire.kinds("chunk")
    assert [c["e0"] for c in chunks] == list(range(8))  # each epoch once, in order
    assert wire.kinds("done") and wire.msgs[-1][0]["type"] in ("done", "territory", "bounds")
    # positions sent after the last bounds message decode to the run's embedding (within one quantum)
    last_b = max(i for i, (c, _) in enumerate(wire.msgs) if c["type"] == "bounds")
    b = wire.msgs[last_b][0]["bounds"]
    assert b == list(w.run.bounds)
    run = ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path, progress=False)  # now cached
    assert run.path == w.run.path
    # every chunk was quantized against the bounds in force when it was sent (the view re-quantizes on "bounds")
    bounds = None
    for c, bufs in wire.msgs:
        if c["type"] in ("meta", "bounds"):
            bounds = c["bounds"]
        elif c["type"] == "chunk":
            xy = tr.dequantize(np.frombuffer(bytes(bufs[0]), "<u2").reshape(-1, 2), bounds)
            quantum = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 65535
            assert np.abs(xy - run.embedding(w.epochs[c["e0"]])).max() <= quantum + 1e-5
    # a second view opened after the fit gets everything at once
    wire2 = _view(w, "v2")
    assert [c["e0"] for c in wire2.kinds("chunk")] == list(range(8)) and wire2.kinds("done")
    assert wire2.kinds("meta")[0]["bounds"] == list(run.bounds)


def test_a_cached_run_opens_without_a_thread(digits_path, tmp_path):
    ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path, progress=False)
    w = TimeTravelWidget(digits_path, method="pca", cache_dir=tmp_path)
    assert w._fit is None and w.ready_epochs == w.epochs and w.wait(0)


def test_wait_reraises_the_fits_error_and_the_widget_shows_it(digits_path, tmp_path, monkeypatch):
    from ttvis_widget.engine.baselines import PCABaseline as PCAProjector

    def boom(self, ctx, e):
        raise RuntimeError(f"boom at epoch {e}")

    monkeypatch.setattr(PCAProjector, "fit_epoch", boom)
    w = TimeTravelWidget(digits_path, method="pca", cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match="boom at epoch 1"):
        w.wait(120)
    assert w.progress["state"] == "error" and "boom" in w.progress["error"] and "boom" in w.status


def test_stop_leaves_a_resumable_run(digits_path, tmp_path, monkeypatch):
    from ttvis_widget.engine.baselines import PCABaseline as PCAProjector

    real = PCAProjector.fit_epoch
    holder = {}

    def slow(self, ctx, e):
        real(self, ctx, e)
        if e == 2:
            holder["w"].stop()

    monkeypatch.setattr(PCAProjector, "fit_epoch", slow)
    w = holder["w"] = TimeTravelWidget(digits_path, method="pca", cache_dir=tmp_path)
    w.wait(120)
    done = w.ready_epochs
    assert w.progress["state"] == "stopped" and 2 <= len(done) < 8 and done == w.epochs[:len(done)]
    monkeypatch.setattr(PCAProjector, "fit_epoch", real)
    seen = []
    run = ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path, progress=False,
                           callback=lambda e, *_: seen.append(e))
    assert seen == w.epochs[len(done):] and run.manifest["resumed_epochs"] == done


def _recorder(src, dst, epochs):
    """A SummaryWriter recording ``epochs`` of ``src`` (a loaded dynamics) into ``dst``."""
    from ttvis_widget.store import SummaryWriter

    wr = SummaryWriter(dst, name="live-digits", classes=src.class_names)
    wr.set_samples(labels=src.labels, split=src.split)
    for e in epochs:
        wr.add_epoch(e, src.representation(e), src.prediction(e))
    return wr


def test_a_widget_follows_a_recording_that_a_writer_thread_extends(digits, tmp_path):
    dst = tmp_path / "rec"
    wr = _recorder(digits, dst, digits.epochs[:3])
    w = TimeTravelWidget(dst, method="pca", live=True, cache_dir=tmp_path / "cache")
    wire = _view(w)
    added = threading.Event()

    def train():
        for e in digits.epochs[3:6]:
            time.sleep(0.3)
            wr.add_epoch(e, digits.representation(e), digits.prediction(e))
        added.set()

    th = threading.Thread(target=train)
    th.start()
    try:
        deadline = time.monotonic() + 120
        while w.ready_epochs != digits.epochs[:6] and time.monotonic() < deadline:
            time.sleep(0.1)
        th.join()
        assert added.is_set() and w.wait(60)
        assert w.epochs == w.ready_epochs == digits.epochs[:6]
        for e in w.epochs:
            assert np.isfinite(w.positions(e)).all()
        grown = wire.kinds("epochs")
        assert grown and grown[-1]["epochs"] == digits.epochs[:6]  # the view's timeline grew, no new meta
        assert len(wire.kinds("meta")) == 1
        assert sorted(c["e0"] for c in wire.kinds("chunk")) == list(range(6))
        assert w.progress["state"] == "following"
    finally:
        w.stop()
        w._fit.join(30)
    assert not w._fit.running


def test_a_live_view_switches_to_a_window_when_the_recording_grows_past_its_budget(digits, tmp_path, monkeypatch):
    n = digits.n_samples
    monkeypatch.setattr(lv, "BROWSER_BUDGET", 4 * n * lv.BYTES_HELD)  # four epochs: three fit, six do not
    dst = tmp_path / "rec"
    wr = _recorder(digits, dst, digits.epochs[:3])
    w = TimeTravelWidget(dst, method="pca", live=True, cache_dir=tmp_path / "cache")
    wire = _view(w)
    try:
        assert wire.kinds("meta")[0]["window"] == 0
        for e in digits.epochs[3:6]:
            wr.add_epoch(e, digits.representation(e), digits.prediction(e))
        deadline = time.monotonic() + 120
        while w.ready_epochs != digits.epochs[:6] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert w.wait(60) and w._streams.settle(30)
        switched = wire.kinds("windowed")
        assert [m["window"] for m in switched] == [4]
        # replay the stream as the view does: every epoch before the switch, then at most four in slots
        held, window = {}, 0
        for m, _ in wire.msgs:
            if m.get("type") == "windowed":
                held, window = {}, m["window"]
            elif m.get("type") == "evict":
                for k in m["epochs"]:
                    held.pop(k)
            elif m.get("type") == "chunk":
                assert not window or (m["slot"] < window and m["slot"] not in held.values())
                held[m["e0"]] = m["slot"]
                assert not window or len(held) <= window
        assert window == 4 and sorted(held) == sorted(lv.wanted(0, 0, 4, 6))
        assert w._streams.views["v1"].window == 4
    finally:
        w.stop()
        w._fit.join(30)


DVI_SMALL = {"layout_steps_first": 100, "layout_steps": 40, "encoder_steps_first": 150, "encoder_steps": 60,
             "decoder_steps_first": 40, "decoder_steps": 20, "num_threads": 1, "device": "cpu"}


@pytest.mark.parametrize("method, params", [("pca", {}), ("dvi", DVI_SMALL)], ids=["pca", "dvi"])
def test_a_cached_run_extends_by_new_epochs_bit_for_bit(digits, tmp_path, method, params):
    """The run of epochs 1..5 made from the cached run of 1..3 fits 4..5 alone and equals, byte for byte, the
    run of 1..5 fitted from scratch (DVI too: each finished epoch saves its random streams, so 4..5 continue
    them as the uninterrupted fit does)."""
    eps = digits.epochs
    ttvis_widget.fit(digits, method=method, epochs=eps[:3], cache_dir=tmp_path / "a", progress=False, **params)
    seen = []
    ext = ttvis_widget.fit(digits, method=method, epochs=eps[:5], cache_dir=tmp_path / "a", progress=False,
                           callback=lambda e, *_: seen.append(e), **params)
    scratch = ttvis_widget.fit(digits, method=method, epochs=eps[:5], cache_dir=tmp_path / "b", progress=False,
                               **params)
    assert seen == eps[3:5] and ext.manifest["extended_from"] == eps[:3]
    for e in eps[:5]:
        assert ext.embedding(e).tobytes() == scratch.embedding(e).tobytes()


FIT_SCRIPT = textwrap.dedent("""
    import sys, time, json
    import ttvis_widget
    from ttvis_widget.engine.baselines import PCABaseline as PCAProjector
    real = PCAProjector.fit_epoch
    def slow(self, ctx, e):
        time.sleep(0.4)
        real(self, ctx, e)
    PCAProjector.fit_epoch = slow
    fitted = []
    run = ttvis_widget.fit(sys.argv[1], method="pca", cache_dir=sys.argv[2], progress=False,
                           callback=lambda e, *_: fitted.append(e))
    print(json.dumps({"fitted": fitted, "path": str(run.path)}))
""")


def test_two_processes_fitting_one_run_leave_one_consistent_cache(digits_path, tmp_path):
    import json

    script = tmp_path / "fit.py"
    script.write_text(FIT_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script), str(digits_path), str(tmp_path / "c")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert outs[0]["path"] == outs[1]["path"]
    fitted = sorted(outs[0]["fitted"] + outs[1]["fitted"])
    digits = ttvis_widget.load(digits_path)
    assert fitted == digits.epochs  # every epoch fitted once, by one of them; the other loaded it
    run = ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path / "c", progress=False)
    ref = ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path / "ref", progress=False)
    assert run.manifest["complete"] and len(list((tmp_path / "c" / "runs").iterdir())) == 1
    for e in digits.epochs:
        assert run.embedding(e).tobytes() == ref.embedding(e).tobytes()


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    code = ("import sys, time; from ttvis_widget.engine.checkpoints import RunLock; "
            "l = RunLock(sys.argv[1]); assert l.acquire(blocking=False); print('locked', flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        mine = RunLock(tmp_path)
        assert not mine.acquire(blocking=False)  # held by a live process
        assert mine.holder().split()[0] == str(p.pid)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert mine.acquire(blocking=False)  # stale: its holder was killed
    mine.release()


def test_a_view_that_cannot_hold_every_epoch_gets_a_window_that_slides(digits_path, tmp_path, monkeypatch):
    ttvis_widget.fit(digits_path, method="pca", cache_dir=tmp_path, progress=False)
    n = ttvis_widget.load(digits_path).n_samples
    monkeypatch.setattr(lv, "BROWSER_BUDGET", 3 * n * lv.BYTES_HELD)  # three epochs of eight
    w = TimeTravelWidget(digits_path, method="pca", cache_dir=tmp_path, live=True)
    assert w.wait(60)
    wire = _view(w)
    assert w._streams.settle(30)
    meta = wire.kinds("meta")[0]
    assert meta["window"] == 3
    held = {c["e0"]: c["slot"] for c in wire.kinds("chunk")}
    assert sorted(held) == [0, 1, 2] and sorted(held.values()) == [0, 1, 2]
    sent_before, evicted_before = len(wire.kinds("chunk")), len(wire.kinds("evict"))
    w._handle_msg({"content": {"data": {"method": "custom", "content": {
        "type": "window", "rid": "v1", "center": 5, "direction": 1}}}, "buffers": []})
    assert w._streams.settle(30)
    msgs = [m for m in wire.msgs if m[0].get("type") in ("chunk", "evict")][sent_before + evicted_before:]
    assert [m["e0"] for m, _ in msgs if m["type"] == "chunk"][0] == 5  # the current epoch first, then ahead of it
    for m, _ in msgs:  # a slot is freed only right before an epoch of the window needs it
        if m["type"] == "evict":
            for k in m["epochs"]:
                held.pop(k)
        else:
            assert m["slot"] not in held.values() and len(held) < 3
            held[m["e0"]] = m["slot"]
    assert sorted(held) == sorted(lv.wanted(5, 1, 3, 8))
    assert len(held) == 3 and sorted(held.values()) == [0, 1, 2]
    # a view that acknowledges what it received ("held") has at most IN_FLIGHT epochs sent ahead of that

    def custom(content):
        w._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})

    for c in wire.kinds("chunk"):  # the view acknowledges every epoch it received, evicted since or not
        custom({"type": "held", "rid": "v1", "epoch": c["e0"]})
    sent = len(wire.kinds("chunk"))
    custom({"type": "window", "rid": "v1", "center": 0, "direction": -1})
    got = []
    while len(got) < 3:
        assert w._streams.settle(30)
        new = [c["e0"] for c in wire.kinds("chunk")[sent + len(got):]]
        assert 0 < len(new) <= lv.IN_FLIGHT, new  # nothing more until the view says it has them
        got += new
        for k in new:
            custom({"type": "held", "rid": "v1", "epoch": k})
    assert w._streams.settle(30) and got == [0, 1, 2]
    assert len(wire.kinds("chunk")) == sent + 3
    # a bad window message is refused, not obeyed
    w._handle_msg({"content": {"data": {"method": "custom", "content": {
        "type": "window", "rid": "v1", "center": 99, "direction": 1}}}, "buffers": []})
    assert w.refusals[-1]["field"] == "center"
    w.stop()


def test_live_mode_refuses_a_method_that_fits_all_epochs_at_once(digits_path, tmp_path):
    with pytest.raises(ValueError, match=r"epoch after epoch \(dvi.*timevis fits all epochs at once"):
        # refused in the constructor when the method's module is imported already, else by the fit's thread
        TimeTravelWidget(digits_path, method="timevis", live=True, cache_dir=tmp_path).wait(120)


def test_the_live_notebook_ships_in_the_package_and_follows_its_recording():
    import json
    from pathlib import Path

    import ttvis_widget.demo as demo

    root = Path(__file__).resolve().parents[1]
    shipped = Path(demo.__file__).with_name("live.ipynb")
    assert shipped.read_bytes() == (root / "notebooks" / "live.ipynb").read_bytes()
    code = ["".join(c["source"]) for c in json.loads(shipped.read_text())["cells"] if c["cell_type"] == "code"]
    assert any("live=True" in c for c in code) and any("write_epoch" in c for c in code)
    for c in code:
        compile(c, "live.ipynb", "exec")  # every cell is valid Python
