"""What a view sends is untrusted (issue 30, item 2): every bad custom message, trait update or comm envelope
is refused cleanly, through the same entry point the browser uses (``w.comm.handle_msg`` with a real
ipywidgets message dict). Each case asserts: the kernel-side exception is ``MessageRefused`` naming the field,
the view is answered ``{"type": "refused", "field", "reason"}``, ``w.refusals`` records it, no traceback is
logged, no file outside the run folder is opened, and the widget keeps working (a valid request still gets
its data). Uses an in-memory ArrayDynamics + a PCA run (fast, no numba)."""
from __future__ import annotations

import builtins
import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget import ArrayDynamics
from ttvis_widget.widget import TimeTravelWidget
from ttvis_widget.widget import fields as fl
from ttvis_widget.widget import transport as tr
from ttvis_widget.widget.messages import MAX_CONTENT_BYTES, MessageRefused, message

N, EPOCHS, CLASSES = 60, (1, 2, 3), 3
PATHS = ["/etc/passwd", "../../etc/passwd", "~/.ssh/id_rsa", "C:\\Windows\\win.ini", "file:///etc/passwd", "."]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rng = np.random.default_rng(0)
    reps = {e: rng.normal(size=(N, 5)).astype(np.float32) for e in EPOCHS}
    preds = {e: rng.normal(size=(N, CLASSES)).astype(np.float32) for e in EPOCHS}
    dyn = ArrayDynamics(reps, predictions=preds, labels=rng.integers(0, CLASSES, N),
                        images=rng.integers(0, 255, (N, 8, 8), dtype=np.uint8),
                        classes=[f"c{i}" for i in range(CLASSES)], name="msgs")
    return ttvis_widget.fit(dyn, method="pca", cache_dir=tmp_path_factory.mktemp("msgs-runs"), progress=False)


class Probe(TimeTravelWidget):
    """A widget with one more message, declared the way new messages (analysis requests, exports) will be."""

    @message("probe", epoch=fl.Epoch(), indices=fl.Indices(max_len=5), k=fl.Int(1, 50, optional=True, default=10),
             metric=fl.Choice("cosine", "euclidean", optional=True, default="cosine"),
             buffers=fl.Buffers(max_count=1, max_bytes=1024))
    def _on_probe(self, epoch, indices, k, metric, buffers, rid=None):
        self.probed = (epoch, indices.tolist(), k, metric, [bytes(b) for b in buffers], rid)

    @message("boom")
    def _on_boom(self, rid=None):
        raise RuntimeError("handler bug")


class Wire:
    """Everything the widget sends on its comm, plus a spy on the router's refusals (the exception objects)."""

    def __init__(self, w, monkeypatch):
        self.msgs, self.errors = [], []
        w.comm.send = lambda data=None, metadata=None, buffers=None: self.msgs.append((data, list(buffers or [])))
        real = w._messages.refuse

        def spy(exc, cause=None):
            self.errors.append(exc)
            real(exc, cause)

        monkeypatch.setattr(w._messages, "refuse", spy)

    def custom(self, kind=None):
        return [c["content"] for c, _ in self.msgs if c.get("method") == "custom"
                and (kind is None or c["content"].get("type") == kind)]

    def updates(self):
        return [c["state"] for c, _ in self.msgs if c.get("method") == "update"]


@pytest.fixture
def opened(monkeypatch):
    """Every path opened (builtins.open, io.open, os.open) during the test."""
    seen = []
    for mod, name in ((builtins, "open"), (io, "open"), (os, "open")):
        real = getattr(mod, name)

        def spy(file, *a, _real=real, **kw):
            if isinstance(file, (str, bytes, os.PathLike)):
                seen.append(Path(os.fsdecode(file)).resolve())
            return _real(file, *a, **kw)

        monkeypatch.setattr(mod, name, spy)
    return seen


@pytest.fixture
def widget(run, monkeypatch, opened, caplog):
    caplog.set_level(logging.DEBUG)
    w = Probe(run=run)
    w.wire = Wire(w, monkeypatch)
    opened.clear()  # constructing reads the widget's own bundle; only what the messages cause counts
    return w


def comm_msg(data: dict, buffers=()):
    return {"header": {"msg_type": "comm_msg"}, "content": {"comm_id": "x", "data": data}, "buffers": list(buffers)}


def custom(content, buffers=()):
    return comm_msg({"method": "custom", "content": content}, buffers)


def update(state):
    return comm_msg({"method": "update", "state": state, "buffer_paths": []})


def assert_refused(w, msg, field, run, opened, caplog):
    """Send ``msg`` through the comm; check the refusal end to end and that the widget still answers."""
    before = len(w.refusals)
    w.comm.handle_msg(msg)  # the browser's entry point; must not raise
    errs = w.wire.errors
    assert len(errs) == 1 and type(errs[0]) is MessageRefused
    exc = errs[0]
    assert exc.field == field, exc.reason
    assert repr(field if field is not None else exc.kind) in exc.reason  # names the field (or the failed type)
    answer = w.wire.custom("refused")
    assert len(answer) == 1 and answer[0]["field"] == field and answer[0]["reason"] == exc.reason
    assert len(w.refusals) == before + 1 and w.refusals[-1] == answer[0]
    assert not [r for r in caplog.records if r.exc_info and r.levelno > logging.DEBUG], "a traceback was logged"
    assert not [r for r in caplog.records if r.name == "traitlets"], "ipywidgets reported an exception"
    # still working: a valid request gets its data
    w.comm.handle_msg(custom({"type": "sample", "index": 5, "rid": "after"}))
    got = w.wire.custom("sample")
    assert got and got[-1]["index"] == 5 and got[-1]["rid"] == "after"
    png = [b for c, b in w.wire.msgs if c.get("content", {}).get("type") == "sample"][-1][0]
    assert bytes(png)[:4] == b"\x89PNG"
    allowed = Path(run.path).resolve()
    outside = [p for p in opened if allowed not in p.parents and p != allowed]
    assert not outside, f"files opened outside the run folder: {outside}"
    return exc


# ---- custom messages: one test per case ------------------------------------------------------------------

CUSTOM_CASES = {
    "unknown-type": ({"type": "nonsense"}, "type"),
    "path-as-type": ({"type": "/etc/passwd"}, "type"),
    "missing-type": ({"index": 3}, "type"),
    "type-not-a-string": ({"type": 7, "index": 3}, "type"),
    "content-not-an-object": (["sample", 3], "content"),
    "index-missing": ({"type": "sample"}, "index"),
    "index-float": ({"type": "sample", "index": 3.5}, "index"),
    "index-integral-float": ({"type": "sample", "index": 3.0}, "index"),
    "index-string": ({"type": "sample", "index": "3"}, "index"),
    "index-bool": ({"type": "sample", "index": True}, "index"),
    "index-nan": ({"type": "sample", "index": float("nan")}, "index"),
    "index-inf": ({"type": "sample", "index": float("inf")}, "index"),
    "index-huge-int": ({"type": "sample", "index": 10 ** 40}, "index"),
    "index-negative": ({"type": "sample", "index": -1}, "index"),
    "index-out-of-range": ({"type": "sample", "index": N}, "index"),
    "index-list": ({"type": "sample", "index": [1, 2]}, "index"),
    "index-path": ({"type": "sample", "index": "/etc/passwd"}, "index"),
    "unknown-field-path": ({"type": "sample", "index": 1, "path": "/etc/passwd"}, "path"),
    "rid-path": ({"type": "sample", "index": 1, "rid": "../../etc/passwd"}, "rid"),
    "rid-too-long": ({"type": "sample", "index": 1, "rid": "a" * 65}, "rid"),
    "rid-not-a-string": ({"type": "sample", "index": 1, "rid": ["a"]}, "rid"),
    "request-without-rid": ({"type": "request"}, "rid"),
    "request-rid-empty": ({"type": "request", "rid": ""}, "rid"),
    "oversized-payload": ({"type": "sample", "index": 1, "pad": "x" * (MAX_CONTENT_BYTES + 1)}, "content"),
    "oversized-list": ({"type": "sample", "index": list(range(100_000))}, "content"),
    "deep-nesting": ({"type": "sample", "index": [[[[[[[[[[1]]]]]]]]]]}, "content"),
    "probe-epoch-not-recorded": ({"type": "probe", "epoch": 99, "indices": [1]}, "epoch"),
    "probe-epoch-zero": ({"type": "probe", "epoch": 0, "indices": [1]}, "epoch"),
    "probe-epoch-float": ({"type": "probe", "epoch": 2.5, "indices": [1]}, "epoch"),
    "probe-indices-too-long": ({"type": "probe", "epoch": 1, "indices": [0, 1, 2, 3, 4, 5]}, "indices"),
    "probe-indices-negative": ({"type": "probe", "epoch": 1, "indices": [0, -3]}, "indices"),
    "probe-indices-out-of-range": ({"type": "probe", "epoch": 1, "indices": [N + 5]}, "indices"),
    "probe-indices-bool": ({"type": "probe", "epoch": 1, "indices": [1, True]}, "indices"),
    "probe-indices-huge-int": ({"type": "probe", "epoch": 1, "indices": [2 ** 70]}, "indices"),
    "probe-indices-not-a-list": ({"type": "probe", "epoch": 1, "indices": {"0": 1}}, "indices"),
    "probe-k-zero": ({"type": "probe", "epoch": 1, "indices": [1], "k": 0}, "k"),
    "probe-metric-path": ({"type": "probe", "epoch": 1, "indices": [1], "metric": "/etc/passwd"}, "metric"),
}


@pytest.mark.parametrize("case", list(CUSTOM_CASES))
def test_custom_message_refused(widget, case, run, opened, caplog):
    content, field = CUSTOM_CASES[case]
    exc = assert_refused(widget, custom(content), field, run, opened, caplog)
    assert exc.kind in (None, content.get("type") if isinstance(content, dict) else None)
    assert not hasattr(widget, "probed")


@pytest.mark.parametrize("case,buffers", [
    ("buffers-on-a-message-without-buffers", [b"x"]),
    ("probe-too-many-buffers", [b"a", b"b"]),
    ("probe-buffer-too-large", [bytes(2048)]),
    ("probe-buffer-not-binary", ["/etc/passwd"]),
])
def test_buffers_refused(widget, case, buffers, run, opened, caplog):
    kind = "sample" if case.startswith("buffers-on") else "probe"
    content = {"type": "sample", "index": 1} if kind == "sample" else {"type": "probe", "epoch": 2, "indices": [1]}
    exc = assert_refused(widget, custom(content, buffers), "buffers", run, opened, caplog)
    assert exc.kind in (kind, None) and not hasattr(widget, "probed")  # None: refused with the envelope


def test_handler_exception_is_reported_not_raised(widget, run, opened, caplog):
    exc = assert_refused(widget, custom({"type": "boom", "rid": "r1"}), None, run, opened, caplog)
    assert "RuntimeError: handler bug" in exc.reason and exc.kind == "boom" and exc.rid == "r1"
    assert widget.refusals[-1]["rid"] == "r1"


def test_valid_probe_message_reaches_its_handler_checked(widget):
    widget.comm.handle_msg(custom({"type": "probe", "epoch": 3, "indices": [4, 0], "metric": "euclidean",
                                   "rid": "p-1"}, [b"\x00\x01"]))
    assert widget.probed == (3, [4, 0], 10, "euclidean", [b"\x00\x01"], "p-1")
    assert widget.refusals == [] and widget.wire.errors == []


# ---- synced traits: a view's "update" ---------------------------------------------------------------------

UPDATE_CASES = {
    "selection-negative": ({"selection": [3, -1]}, "selection"),
    "selection-out-of-range": ({"selection": [N]}, "selection"),
    "selection-floats": ({"selection": [1.5]}, "selection"),
    "selection-bools": ({"selection": [True]}, "selection"),
    "selection-string": ({"selection": "0,1,2"}, "selection"),
    "selection-huge": ({"selection": list(range(N)) + [0]}, "selection"),
    "selection-oversized": ({"selection": [0] * 100_000}, "state"),
    "epoch-not-recorded": ({"epoch": 99}, "epoch"),
    "epoch-float": ({"epoch": 2.0}, "epoch"),
    "epoch-string": ({"epoch": "2"}, "epoch"),
    "time-nan": ({"time": float("nan")}, "time"),
    "time-out-of-range": ({"time": 1e9}, "time"),
    "time-with-bad-epoch": ({"time": 1.0, "epoch": -5}, "epoch"),
    "hovered-huge-int": ({"hovered": 10 ** 30}, "hovered"),
    "hovered-out-of-range": ({"hovered": N}, "hovered"),
    "hovered-below-none": ({"hovered": -2}, "hovered"),
    "filters-label-string": ({"filters": {"labels": ["x"]}}, "filters.labels"),
    "filters-label-float": ({"filters": {"labels": [1.7]}}, "filters.labels"),
    "filters-label-out-of-range": ({"filters": {"labels": [CLASSES]}}, "filters.labels"),
    "filters-unknown-key": ({"filters": {"path": "/etc/passwd"}}, "filters.path"),
    "filters-split-path": ({"filters": {"split": "../train"}}, "filters.split"),
    "filters-not-an-object": ({"filters": ["labels"]}, "filters"),
    "point-size-nan": ({"point_size": float("nan")}, "point_size"),
    "point-size-huge": ({"point_size": 1e308}, "point_size"),
    "speed-negative": ({"speed": -1}, "speed"),
    "speed-string": ({"speed": "fast"}, "speed"),
    "color-by-path": ({"color_by": "/etc/passwd"}, "color_by"),
    "show-territory-string": ({"show_territory": "yes"}, "show_territory"),
    "playing-int": ({"playing": 1}, "playing"),
    "info-is-read-only": ({"info": {"n": 1}}, "info"),
    "status-is-read-only": ({"status": "hacked"}, "status"),
    "esm-path-is-read-only": ({"_esm": "/etc/passwd"}, "_esm"),
    "layout-is-read-only": ({"layout": "IPY_MODEL_x"}, "layout"),
    "unknown-trait": ({"no_such_trait": 1}, "no_such_trait"),
}


@pytest.mark.parametrize("case", list(UPDATE_CASES))
def test_trait_update_refused(widget, case, run, opened, caplog):
    state, field = UPDATE_CASES[case]
    w = widget
    w.selection, w.epoch, w.point_size = [2, 7], 2, 5.0
    keys = [k for k in state if w.has_trait(k)]
    before = {k: getattr(w, k) for k in keys}
    w.wire.msgs.clear()
    exc = assert_refused(w, update(state), field, run, opened, caplog)
    assert exc.kind == "update"
    assert {k: getattr(w, k) for k in keys} == before  # the widget keeps its previous values
    kernel = w.get_state(keys) if keys else {}
    echoes = [c["state"] for c, _ in w.wire.msgs if c.get("method") == "echo_update"]
    assert all(e == kernel for e in echoes), "the bad value was echoed to the views"
    if keys:  # the views get the kernel's values back: as the echo the sender waits for, and as an update
        assert echoes == [kernel] and kernel in w.wire.updates()


def test_update_with_buffers_refused(widget, run, opened, caplog):
    msg = comm_msg({"method": "update", "state": {"selection": None}, "buffer_paths": [["selection"]]}, [b"\x01"])
    assert_refused(widget, msg, "buffers", run, opened, caplog)
    assert widget.selection == []


def test_valid_updates_still_apply(widget):
    w = widget
    w.comm.handle_msg(update({"time": 2.0, "epoch": 3}))
    w.comm.handle_msg(update({"selection": list(range(N))[::-1], "hovered": -1, "playing": True, "speed": 4}))
    w.comm.handle_msg(update({"filters": {"labels": [2, 0], "predictions": None, "split": "test",
                                          "correctness": "all"}, "color_by": "prediction", "point_size": 8}))
    assert w.refusals == [] and w.wire.errors == []
    assert (w.epoch, w.time, w.selection, w.playing, w.speed) == (3, 2.0, list(range(N)), True, 4.0)
    assert w.filters == {"labels": [0, 2], "predictions": None, "split": "test", "correctness": "all"}
    assert (w.color_by, w.point_size) == ("prediction", 8.0)


# ---- the comm envelope ------------------------------------------------------------------------------------

ENVELOPE_CASES = {
    "no-method": (comm_msg({}), "method"),
    "unknown-method": (comm_msg({"method": "exec", "code": "open('/etc/passwd')"}), "method"),
    "data-not-a-dict": ({"content": {"data": "custom"}, "buffers": []}, "data"),
    "content-missing": ({"buffers": []}, "content"),
    "custom-without-content": (comm_msg({"method": "custom"}), "content"),
    "update-without-state": (comm_msg({"method": "update"}), "state"),
    "buffers-not-a-list": ({"content": {"data": {"method": "custom", "content": {"type": "sample", "index": 1}}},
                            "buffers": "abc"}, "buffers"),
}


@pytest.mark.parametrize("case", list(ENVELOPE_CASES))
def test_malformed_comm_message_refused(widget, case, run, opened, caplog):
    msg, field = ENVELOPE_CASES[case]
    assert_refused(widget, msg, field, run, opened, caplog)


# ---- the router's own guarantees -----------------------------------------------------------------------

def test_refusals_logged_once_per_field_and_bounded(run, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG, logger="ttvis_widget")
    w = TimeTravelWidget(run=run)
    wire = Wire(w, monkeypatch)
    for i in range(150):
        w.comm.handle_msg(custom({"type": "sample", "index": N + i}))
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "'index'" in warnings[0].getMessage() and not warnings[0].exc_info
    assert len(w.refusals) == 100 and str(N + 149) in w.refusals[-1]["reason"]
    assert len(wire.custom("refused")) == 150  # every view is still told every time
    w.comm.handle_msg(custom({"type": "sample", "index": "x"}))  # same field: still once
    w.comm.handle_msg(custom({"type": "nonsense"}))  # another field: logged
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2


def test_a_full_stream_after_many_refusals(widget):
    w = widget
    for content, _ in CUSTOM_CASES.values():
        w.comm.handle_msg(custom(content))
    for state, _ in UPDATE_CASES.values():
        w.comm.handle_msg(update(state))
    assert len(w.wire.errors) == len(CUSTOM_CASES) + len(UPDATE_CASES)
    w.wire.msgs.clear()
    w.territories_in_background = False
    w.comm.handle_msg(custom({"type": "request", "rid": "view-9"}))
    stream = [(c["content"], b) for c, b in w.wire.msgs if c.get("method") == "custom"]
    d = tr.decode_messages(stream)
    assert d["complete"] and all(c["rid"] == "view-9" for c, _ in stream)
    b = w.run.bounds
    assert np.abs(d["positions"] - w.run.embeddings()).max() <= max(b[2] - b[0], b[3] - b[1]) / 65535


def _all_fields(f):
    yield f
    for sub in getattr(f, "fields", {}).values():
        yield from _all_fields(sub)


def test_no_field_can_carry_a_path(run):
    """Structural: every declared field of every message and browser-writable trait is of a kind that
    cannot pass a path through (numbers, flags, ids without '/', '.' or '\\', or a fixed set of choices)."""
    w = Probe(run=run)
    declared = [f for spec in w._messages.specs.values() for f in spec.fields.values()]
    declared += [w.trait_metadata(k, "browser") for k in w.keys if w.trait_metadata(k, "browser") is not None]
    assert {s for s in w._messages.specs} >= {"request", "sample"} and len(declared) >= 12
    safe = (fl.Int, fl.Number, fl.Flag, fl.Choice, fl.Token, fl.Indices, fl.Record)
    for f in (x for d in declared for x in _all_fields(d)):
        assert isinstance(f, safe), f"{type(f).__name__} may pass free text"
        if isinstance(f, fl.Choice):
            assert all(o.isidentifier() for o in f.options)
        for p in PATHS:
            with pytest.raises(MessageRefused):
                f.check(p, w, "f")


def test_contracts_document_every_message_and_writable_trait(run):
    """docs/CONTRACTS.md's message tables list every declared message type and browser-writable trait."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "CONTRACTS.md").read_text()
    table = doc[doc.index("### Messages"):]
    rows = [ln for ln in table.splitlines() if ln.startswith("| `")]
    w = TimeTravelWidget(run=run)
    writable = [k for k in w.keys if w.trait_metadata(k, "browser") is not None]
    assert set(writable) == {"epoch", "time", "selection", "hovered", "color_by", "filters", "point_size", "speed",
                             "show_territory", "territory_opacity", "territory_extent", "playing"}
    for name in list(w._messages.specs) + writable:
        assert any(f"`{name}`" in ln.split("|")[1] for ln in rows), f"{name} is not in docs/CONTRACTS.md's tables"
