"""The debugger's kernel side (issue 26 item 5, widget/debugger.py), without a browser: every message the
analysis panels send, through the comm the browser uses (``w.comm.handle_msg``), answered with what
``ttvis_widget.analysis`` computes and what the widget's Python methods return; the selection a click sets;
bad requests refused by the router; slow work kept off the comm thread. ArrayDynamics with linear heads and a
PCA run (it has an exact inverse, so the visualization errors are real): cheap, no numba."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget import ArrayDynamics
from ttvis_widget import analysis as an
from ttvis_widget.metrics import inverse_metrics
from ttvis_widget.store.head import MLPHead
from ttvis_widget.widget import TimeTravelWidget
from ttvis_widget.widget.debugger import visualization_errors

N, D, C, EPOCHS = 90, 6, 3, (1, 2, 3, 5)


def _dynamics(labels=True, heads=True, name="dbg"):
    rng = np.random.default_rng(7)
    reps = {e: rng.normal(size=(N, D)).astype(np.float32) for e in EPOCHS}
    hs = {e: MLPHead([rng.normal(size=(C, D)).astype(np.float32)], [rng.normal(size=C).astype(np.float32)])
          for e in EPOCHS}
    preds = None if heads else {e: rng.normal(size=(N, C)).astype(np.float32) for e in EPOCHS}
    return ArrayDynamics(reps, predictions=preds, labels=rng.integers(0, C, N) if labels else None,
                         split=(np.arange(N) % 4 == 0).astype(np.uint8), heads=hs if heads else None,
                         images=rng.integers(0, 255, (N, 8, 8), dtype=np.uint8),
                         classes=[f"c{i}" for i in range(C)], name=name)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ttvis_widget.fit(_dynamics(), method="pca", cache_dir=tmp_path_factory.mktemp("dbg-runs"), progress=False)


class Wired:
    """A widget whose comm records what it sends: custom answers and trait updates, in order."""

    def __init__(self, run, background=False):
        self.w = w = TimeTravelWidget(run=run)
        w.analysis_in_background = background
        self.sent = []
        w.comm.send = lambda data=None, metadata=None, buffers=None: self.sent.append((data, list(buffers or [])))

    def ask(self, **content):
        self.w.comm.handle_msg({"header": {"msg_type": "comm_msg"}, "buffers": [],
                                "content": {"comm_id": "x", "data": {"method": "custom", "content": content}}})

    def answers(self, kind):
        return [(d["content"], b) for d, b in self.sent if d.get("method") == "custom" and d["content"]["type"] == kind]

    def answer(self, kind):
        got = self.answers(kind)
        assert got, f"no {kind!r} answer; sent: {[d.get('content', d.get('state')) for d, _ in self.sent]}"
        return got[-1]

    def order(self):
        """("custom", type) / ("update", trait names) of everything sent, in order."""
        return [("custom", d["content"]["type"]) if d.get("method") == "custom" else ("update", tuple(d.get("state", {})))
                for d, _ in self.sent]


@pytest.fixture
def wired(run):
    return Wired(run)


def test_events_answer_and_w_events_are_the_analysis_events(wired, run):
    w = wired.w
    for e in EPOCHS:
        wired.ask(type="events", epoch=e, rid="v1")
        a, _ = wired.answer("events")
        ref = an.training_events(run.dynamics, e)
        assert (a["epoch"], a["rid"], a["status"]) == (e, "v1", "ready")
        assert a["counts"] == ref.counts() and a["not_computable"] == ref.not_computable
        assert a["previous"] == ref.previous
        w.epoch = e
        assert w.events.epoch == e and w.events.counts() == ref.counts()
    first, _ = wired.answers("events")[0]
    assert first["counts"] == {} and set(first["not_computable"]) == set(an.KINDS)  # the first epoch says why
    assert sum(wired.answer("events")[0]["counts"].values()) > 0, "test setup: no events at the last epoch"
    json.dumps(wired.answer("events")[0])  # plain JSON


def test_clicking_an_event_kind_selects_exactly_its_samples(wired):
    w = wired.w
    e = EPOCHS[2]
    counts = w.events_at(e).counts()
    assert any(counts.values()), counts
    for kind, n in counts.items():
        w.selection = [0]
        wired.ask(type="event_select", epoch=e, event=kind)
        assert w.selection == w.events_at(e).indices(kind).tolist(), kind
        assert wired.answer("event_select")[0]["count"] == n
    # a kind that is not computable at the first epoch: an error answer, the selection untouched
    w.selection = [4]
    wired.ask(type="event_select", epoch=EPOCHS[0], event="prediction_flip")
    a, _ = wired.answer("event_select")
    assert a["status"] == "error" and "first recorded epoch" in a["error"] and w.selection == [4]


def test_neighbors_answer_is_what_w_neighbors_returns(wired, run):
    e, i, k = EPOCHS[1], 11, 7
    wired.ask(type="neighbors", index=i, epoch=e, k=k)
    a, _ = wired.answer("neighbors")
    nb = wired.w.neighbors(i, k=k, epoch=e)
    ref = an.neighbors(run.dynamics, run, e, i, k=k)
    for name in ("high", "low", "kept", "gained", "lost"):
        assert a[name] == getattr(nb, name).tolist() == getattr(ref, name).tolist(), name
    assert a["preserved"] == pytest.approx(len(a["kept"]) / k)
    assert set(a["kept"]) | set(a["lost"]) == set(a["high"]) and set(a["kept"]) | set(a["gained"]) == set(a["low"])
    wired.ask(type="neighbors", index=i, epoch=e)  # k defaults to 15
    assert wired.answer("neighbors")[0]["k"] == 15


def test_sample_detail_top3_and_prediction_history(wired, run):
    d, w = run.dynamics, wired.w
    i, e = 5, EPOCHS[-1]
    wired.ask(type="sample_detail", index=i, epoch=e)
    top = wired.answer("sample_detail")[0]["top"]
    z = d.prediction(e)[i].astype(np.float64)
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert [c for c, _ in top] == np.argsort(-p)[:3].tolist()
    assert [q for _, q in top] == pytest.approx(np.sort(p)[::-1][:3].tolist(), abs=1e-6)
    assert [list(t) for t in w.top_predictions(i, epoch=e)] == top
    hist = w.prediction_history(i)
    # a windowed view (it holds some epochs' predictions only) asks for the whole history with the detail
    wired.ask(type="sample_detail", index=i, epoch=e, history=True)
    assert wired.answer("sample_detail")[0]["history"] == [[h["prediction"], h["confidence"]] for h in hist]
    assert [h["epoch"] for h in hist] == w.epochs
    assert [h["prediction"] for h in hist] == [int(d.predicted_class(x)[i]) for x in w.epochs]
    assert [h["confidence"] for h in hist] == pytest.approx([float(d.confidence(x)[i]) for x in w.epochs])


def test_similar_lists_then_selects_its_indices(wired):
    w = wired.w
    i, e = 9, EPOCHS[2]
    wired.ask(type="similar", index=i, epoch=e, k=6, metric="euclidean", rid="v2")
    a, _ = wired.answer("similar")
    idx, scores = w.similar(i, k=6, metric="euclidean", epoch=e)
    assert a["indices"] == idx.tolist() and a["scores"] == pytest.approx(scores.tolist())
    assert w.selection == sorted(idx.tolist()) and i not in w.selection
    # the list reaches the view before the selection it explains
    order = wired.order()
    assert order.index(("custom", "similar")) < max(j for j, o in enumerate(order) if o == ("update", ("selection",)))
    three, _ = w.similar(i, k=3, epoch=e, select=True)
    assert w.selection == sorted(three.tolist()) and len(three) == 3


def test_why_lists_influence_and_selects_both_lists(wired, run):
    w = wired.w
    i = 6
    wired.ask(type="influence", index=i, k=4)
    a, _ = wired.answer("influence")
    ref = an.influence(run.dynamics, i, k=4, target="prediction")
    assert a["proponents"]["indices"] == ref.proponents[0].tolist()
    assert a["opponents"]["indices"] == ref.opponents[0].tolist()
    assert a["proponents"]["scores"] == pytest.approx(ref.proponents[1].tolist())
    assert a["target"] == ref.target and a["epochs"] == list(ref.epochs) and a["notes"]
    assert w.selection == sorted(set(a["proponents"]["indices"]) | set(a["opponents"]["indices"]))
    wired.ask(type="influence", index=i, k=4, target="label")
    assert wired.answer("influence")[0]["target"] == int(run.dynamics.labels[i])


def test_vis_errors_are_the_round_trip_mismatches_the_metrics_count(wired, run):
    d, w = run.dynamics, wired.w
    total = 0
    for e in EPOCHS:
        got = w.vis_errors(e)
        recon = run.inverse(e, run.embedding(e))
        m = inverse_metrics(d.representation(e), recon, d.head(e), logits=d.prediction(e))
        assert len(got) == m["vis_error"] and np.all(np.diff(got) > 0)
        total += len(got)
        wired.ask(type="vis_errors", epoch=e)
        a, bufs = wired.answer("vis_errors")
        mask = np.unpackbits(np.frombuffer(bufs[0], np.uint8), bitorder="little")[:N].astype(bool)
        assert a["count"] == len(got) and a["n"] == N and np.flatnonzero(mask).tolist() == got.tolist()
        assert len(bufs[0]) == (N + 7) // 8
    assert total > 0, "test setup: a 2-D PCA of 6-d representations should change some predictions"
    w.epoch = EPOCHS[1]
    assert w.vis_errors().tolist() == visualization_errors(run, EPOCHS[1]).tolist()


class NoInverse:
    """A run whose method has no inverse (like UMAP): the round trip is not defined."""

    def __init__(self, run):
        self.dynamics, self.epochs, self.method, self.has_inverse = run.dynamics, run.epochs, "umap", False


def test_what_cannot_be_computed_is_answered_with_the_reason(run, tmp_path):
    with pytest.raises(an.AnalysisError, match="no inverse"):
        visualization_errors(NoInverse(run), EPOCHS[0])
    bare = ttvis_widget.fit(_dynamics(labels=False, heads=False, name="bare"), method="pca", cache_dir=tmp_path,
                            progress=False)
    wired = Wired(bare)
    wired.ask(type="vis_errors", epoch=EPOCHS[1])
    a, _ = wired.answer("vis_errors")
    assert a["status"] == "error" and "no classifier head" in a["error"]
    wired.ask(type="influence", index=3)
    a, _ = wired.answer("influence")
    assert a["status"] == "error" and "labels" in a["error"] and wired.w.selection == []
    wired.ask(type="events", epoch=EPOCHS[1])
    a, _ = wired.answer("events")
    assert "became_wrong" in a["not_computable"] and "prediction_flip" in a["counts"]


BAD = {
    "epoch not recorded": ({"type": "events", "epoch": 4}, "epoch"),
    "epoch as a string": ({"type": "vis_errors", "epoch": "1"}, "epoch"),
    "unknown event kind": ({"type": "event_select", "epoch": 2, "event": "__class__"}, "event"),
    "index out of range": ({"type": "neighbors", "index": N, "epoch": 2}, "index"),
    "negative index": ({"type": "sample_detail", "index": -1, "epoch": 2}, "index"),
    "float index": ({"type": "similar", "index": 1.0, "epoch": 2}, "index"),
    "k zero": ({"type": "neighbors", "index": 1, "epoch": 2, "k": 0}, "k"),
    "k above the cap": ({"type": "similar", "index": 1, "epoch": 2, "k": 201}, "k"),
    "k huge": ({"type": "influence", "index": 1, "k": 10 ** 30}, "k"),
    "unknown metric": ({"type": "similar", "index": 1, "epoch": 2, "metric": "../../etc"}, "metric"),
    "unknown target": ({"type": "influence", "index": 1, "target": 2}, "target"),
    "unknown field": ({"type": "events", "epoch": 2, "thresholds": {"confidence": 0}}, "thresholds"),
    "missing epoch": ({"type": "neighbors", "index": 1}, "epoch"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_are_refused_and_nothing_runs(wired, case):
    content, field = BAD[case]
    w = wired.w
    w.selection = [2]
    wired.ask(**content)
    refused = wired.answers("refused")
    assert len(refused) == 1 and refused[0][0]["field"] == field and refused[0][0]["message"] == content["type"]
    assert not wired.answers(content["type"]) and w.selection == [2] and w.refusals[-1]["field"] == field


def test_k_is_bounded_by_the_number_of_samples(tmp_path):
    dyn = ArrayDynamics({1: np.eye(5, dtype=np.float32), 2: np.eye(5, dtype=np.float32)[::-1].copy()},
                        labels=np.arange(5) % 2, name="five")
    wired = Wired(ttvis_widget.fit(dyn, method="pca", cache_dir=tmp_path, progress=False))
    wired.ask(type="neighbors", index=0, epoch=1, k=5)  # only 4 other samples
    assert wired.answers("refused")[0][0]["field"] == "k"
    wired.ask(type="neighbors", index=0, epoch=1, k=4)
    assert wired.answer("neighbors")[0]["status"] == "ready"


def test_slow_work_stays_off_the_comm_thread_and_the_latest_request_wins(run):
    wired = Wired(run, background=True)
    w, gate, started = wired.w, threading.Event(), threading.Event()
    real = type(w).events_at

    def slow(self, epoch):
        started.set()
        assert gate.wait(10)
        return real(self, epoch)

    w.events_at = slow.__get__(w)
    wired.ask(type="events", epoch=EPOCHS[1], rid="v")  # the handler returns although the work is blocked
    assert started.wait(10) and not wired.answers("events")
    for i in (1, 2, 3):  # queued behind it: only the last neighbours request of this view is answered
        wired.ask(type="neighbors", index=i, epoch=EPOCHS[1], rid="v")
    gate.set()
    assert w.wait_for_analysis(30)
    assert [a["epoch"] for a, _ in wired.answers("events")] == [EPOCHS[1]]
    assert [a["index"] for a, _ in wired.answers("neighbors")] == [3] and w._worker.replaced == 2
    assert w._worker._thread is None  # an idle widget holds no thread


def test_nothing_large_enters_the_synced_state(run):
    wired = Wired(run)
    w = wired.w
    keys = set(w.keys)
    for e in EPOCHS:
        wired.ask(type="events", epoch=e)
        wired.ask(type="vis_errors", epoch=e)
    wired.ask(type="neighbors", index=1, epoch=2, k=20)
    assert set(w.keys) == keys
    state = {k: v for k, v in w.get_state().items() if k != "_esm"}
    assert len(json.dumps(state, default=str)) < 4096
