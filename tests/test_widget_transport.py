"""Widget transport and Python-side behaviour (no browser): binary encoding/decoding of positions and
per-epoch metadata, chunk limits and order, small synced state, traits, and the kernel's message handlers."""
from __future__ import annotations

import json

import numpy as np
import pytest
import traitlets

from ttvis_widget import ArrayDynamics
from ttvis_widget.widget import TimeTravelWidget
from ttvis_widget.widget import transport as tr


class StandInRun:
    """The VisRun attributes the widget reads (docs/CONTRACTS.md), from arrays; no engine involved."""

    method = "stand-in"

    def __init__(self, dynamics, emb: np.ndarray, territory: bool = False):
        self.dynamics = dynamics
        self.epochs = list(dynamics.epochs)
        self._emb = emb.astype(np.float32)
        lo = emb.reshape(-1, 2).min(0)
        hi = emb.reshape(-1, 2).max(0)
        pad = 0.05 * (hi - lo)
        self.bounds = (float(lo[0] - pad[0]), float(lo[1] - pad[1]), float(hi[0] + pad[0]), float(hi[1] + pad[1]))
        self._territory = territory

    def embedding(self, epoch):
        return self._emb[self.epochs.index(int(epoch))]

    def embeddings(self):
        return self._emb

    def territory(self, epoch, resolution=None):
        if not self._territory:
            return None
        from ttvis_widget.store.dynamics import png_bytes

        class T:
            def png(self_inner):
                img = np.zeros((16, 16, 4), np.uint8)
                img[:8, :, 0] = 255  # top half red: row 0 = ymax
                img[..., 3] = 128
                return png_bytes(img)

        return T()


def make_run(n=300, epochs=5, classes=4, seed=0, images=True, territory=False, preds=True):
    rng = np.random.default_rng(seed)
    reps = {e: rng.normal(size=(n, 6)).astype(np.float32) for e in range(1, epochs + 1)}
    predictions = {e: rng.normal(size=(n, classes)).astype(np.float32) for e in reps} if preds else None
    labels = rng.integers(0, classes, n)
    split = (rng.random(n) < 0.25).astype(np.uint8)
    imgs = rng.integers(0, 255, (n, 8, 8), dtype=np.uint8) if images else None
    dyn = ArrayDynamics(reps, predictions=predictions, labels=labels, split=split,
                        classes=[f"c{i}" for i in range(classes)], images=imgs, name="toy")
    emb = np.stack([rng.normal(size=(n, 2)) * (1 + e) + e for e in range(epochs)]).astype(np.float32)
    return StandInRun(dyn, emb, territory=territory)


class Recorder:
    """Captures what the widget sends to the front end."""

    def __init__(self, w):
        self.msgs = []
        w.send = lambda content, buffers=None: self.msgs.append((content, list(buffers or [])))

    def of(self, kind):
        return [m for m in self.msgs if m[0]["type"] == kind]


def nbytes(buf) -> int:
    return memoryview(buf).nbytes


# ---- quantization ----------------------------------------------------------------------------------

def test_quantization_error_within_bound():
    rng = np.random.default_rng(1)
    xy = rng.uniform([-3.0, 100.0], [7.0, 100.5], size=(20000, 2)).astype(np.float32)
    bounds = (-3.0, 100.0, 7.0, 100.5)
    q = tr.quantize(xy, bounds)
    assert q.dtype == np.dtype("<u2")
    back = tr.dequantize(q, bounds)
    err = np.abs(back - xy)
    rx, ry = 10.0, 0.5
    # half a quantization step, plus float32 rounding of the coordinates themselves
    assert err[:, 0].max() <= rx / 131070 + 4 * np.spacing(np.float32(7.0))
    assert err[:, 1].max() <= ry / 131070 + 4 * np.spacing(np.float32(100.5))
    assert err[:, 0].max() <= rx / 65535 and err[:, 1].max() <= ry / 65535
    # the bounds' corners map to the ends of the uint16 range
    assert tr.quantize(np.array([[-3.0, 100.0], [7.0, 100.5]]), bounds).tolist() == [[0, 0], [65535, 65535]]


def test_quantization_degenerate_range_and_clipping():
    q = tr.quantize(np.array([[1.0, 2.0], [5.0, -9.0]]), (1.0, 0.0, 1.0, 1.0))
    assert q[0, 0] == 0 and q[1, 1] == 0 and q[1, 0] == 65535  # zero-width x range -> range 1, clipped


# ---- chunk planning ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n_epochs,n,limit", [(200, 60000, tr.CHUNK_LIMIT), (50, 1_000_000, tr.CHUNK_LIMIT),
                                              (7, 1000, 10_000), (3, 5, 1 << 20), (1, 10, 1 << 20)])
def test_plan_chunks_cover_once_within_limit_first_epoch_first(n_epochs, n, limit):
    for has_pred in (True, False):
        plan = tr.plan_chunks(n_epochs, n, has_pred, limit)
        per = tr.bytes_per_point_epoch(has_pred)
        covered = np.zeros(n_epochs, np.int64)
        for e0, ne, s0, ns in plan:
            assert ne * ns * per <= limit
            covered[e0:e0 + ne] += ns
        assert (covered == n).all()
        e0, ne, s0, ns = plan[0]
        assert (e0, ne, s0) == (0, 1, 0)
        first_epoch = [c for c in plan if c[0] == 0]
        assert plan[:len(first_epoch)] == first_epoch  # all of epoch 0 before anything else
    assert tr.bytes_per_point_epoch(False) <= 4  # positions: at most 4 bytes per point and epoch


# ---- full round trip through the widget's message handler ------------------------------------------------

def test_round_trip_positions_and_metadata():
    run = make_run(n=500, epochs=6, territory=True)
    w = TimeTravelWidget(run)
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "abc"}, [])
    w.wait_for_territories(30)
    kinds = [c["type"] for c, _ in rec.msgs]
    assert kinds[0] == "meta" and kinds[1] == "chunk" and "done" in kinds
    # positions complete before the later territories (which are computed in the background)
    assert kinds.index("done") == max(i for i, k in enumerate(kinds) if k == "chunk") + 1
    assert all(c["rid"] == "abc" for c, _ in rec.msgs)
    first = rec.of("chunk")[0][0]
    assert (first["e0"], first["ne"], first["s0"], first["ns"]) == (0, 1, 0, 500)
    d = tr.decode_messages(rec.msgs)
    assert d["complete"] and d.get("done")
    emb = run.embeddings()
    xmin, ymin, xmax, ymax = run.bounds
    err = np.abs(d["positions"] - emb)
    assert err[..., 0].max() <= (xmax - xmin) / 65535 and err[..., 1].max() <= (ymax - ymin) / 65535
    dyn = run.dynamics
    for k, e in enumerate(run.epochs):
        np.testing.assert_array_equal(d["predictions"][k], dyn.predicted_class(e))
        assert np.abs(d["confidence"][k] - dyn.confidence(e)).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_array_equal(d["labels"], dyn.labels)
    np.testing.assert_array_equal(d["split"], dyn.split)
    assert sorted(d["territories"]) == list(range(6))
    assert all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in d["territories"].values())
    # the first epoch's territory follows the first chunk directly
    assert kinds[2] == "territory" and rec.msgs[2][0]["epochs"] == [0]
    meta = rec.of("meta")[0][0]
    assert meta["n"] == 500 and meta["n_epochs"] == 6 and meta["epochs"] == run.epochs
    assert meta["bounds"] == list(run.bounds) and meta["n_chunks"] == len(rec.of("chunk"))


def test_a_paced_stream_waits_for_the_views_first_frame():
    """paced: meta, the first epoch and its territory, then nothing until the view's ``drawn``; then the rest,
    once. The decoded stream equals an unpaced one."""
    run = make_run(n=400, epochs=5, territory=True)
    w = TimeTravelWidget(run)
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "p", "paced": True}, [])
    w.wait_for_territories(30)
    assert [c["type"] for c, _ in rec.msgs] == ["meta", "chunk", "territory"]
    assert rec.of("chunk")[0][0]["e0"] == 0 and rec.of("territory")[0][0]["epochs"] == [0]
    w._on_custom_msg(w, {"type": "drawn", "rid": "other"}, [])  # another view's: nothing for this one
    assert len(rec.msgs) == 3
    w._on_custom_msg(w, {"type": "drawn", "rid": "p"}, [])
    w.wait_for_territories(30)
    n = len(rec.msgs)
    chunks = [c for c, _ in rec.of("chunk")]
    assert sorted(k for c in chunks for k in range(c["e0"], c["e0"] + c["ne"])) == list(range(5)) and rec.of("done")
    assert [c["seq"] for c in chunks] == list(range(len(chunks)))  # numbered as one stream
    w._on_custom_msg(w, {"type": "drawn", "rid": "p"}, [])  # again: nothing more
    assert len(rec.msgs) == n
    paced = tr.decode_messages(rec.msgs)
    plain_w = TimeTravelWidget(run)
    plain = Recorder(plain_w)
    plain_w._on_custom_msg(plain_w, {"type": "request", "rid": "p"}, [])
    plain_w.wait_for_territories(30)
    ref = tr.decode_messages(plain.msgs)
    assert paced["complete"] and np.array_equal(paced["positions"], ref["positions"])
    assert sorted(paced["territories"]) == sorted(ref["territories"]) == list(range(5))


def test_chunks_respect_limit_with_real_arrays():
    run = make_run(n=3000, epochs=5)
    p = TimeTravelWidget(run).payload
    limit = 2000 * 7  # smaller than one epoch (3000 points x 7 bytes): every epoch is split by samples
    msgs = list(tr.chunk_messages(p, "r", limit=limit))
    assert len(msgs) == 10
    assert all(sum(nbytes(b) for b in bufs) <= limit for _, bufs in msgs)
    assert msgs[0][0]["e0"] == 0 and msgs[0][0]["s0"] == 0
    d = tr.decode_messages([tr.meta_message(p, "r"), *msgs])
    assert d["complete"]
    assert np.abs(d["positions"] - run.embeddings()).max() < 1e-2


def test_prefetching_threads_send_the_same_chunks_and_raise_in_order():
    run = make_run(n=700, epochs=7)
    limit = 400 * 7  # two chunks per epoch
    serial = list(tr.chunk_messages(TimeTravelWidget(run).payload, "r", limit=limit, workers=1))
    parallel = list(tr.chunk_messages(TimeTravelWidget(run).payload, "r", limit=limit, workers=3))
    assert [c for c, _ in serial] == [c for c, _ in parallel]
    assert all(bytes(a) == bytes(b) for (_, ba), (_, bb) in zip(serial, parallel) for a, b in zip(ba, bb))
    p = TimeTravelWidget(run).payload
    good = p._epoch_arrays

    def failing(k):
        if k == 4:
            raise ValueError("epoch 4 unreadable")
        return good(k)
    p._epoch_arrays = failing
    got = []
    with pytest.raises(ValueError, match="epoch 4 unreadable"):
        for content, _ in tr.chunk_messages(p, "r", limit=limit, workers=3):
            got.append(content["e0"])
    assert got == [0, 0, 1, 1, 2, 2, 3, 3]  # every epoch before the failing one went out, in order


def test_buffers_are_little_endian_and_sized():
    run = make_run(n=101, epochs=3)
    w = TimeTravelWidget(run)
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "x"}, [])
    meta, bufs = rec.of("meta")[0]
    assert nbytes(bufs[0]) == 2 * 101 and nbytes(bufs[1]) == 101
    for c, bufs in rec.of("chunk"):
        assert nbytes(bufs[0]) == c["ne"] * c["ns"] * 4  # uint16 x, y
        assert nbytes(bufs[1]) == c["ne"] * c["ns"] * 2 and nbytes(bufs[2]) == c["ne"] * c["ns"]
    q = tr.quantize(run.embeddings()[0], run.bounds)
    c0 = rec.of("chunk")[0][1][0]
    assert bytes(c0) == q.astype("<u2").tobytes()


def test_without_predictions_or_labels():
    rng = np.random.default_rng(0)
    dyn = ArrayDynamics({e: rng.normal(size=(50, 3)).astype(np.float32) for e in (1, 2)}, name="bare")
    run = StandInRun(dyn, rng.normal(size=(2, 50, 2)).astype(np.float32))
    w = TimeTravelWidget(run)
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "x"}, [])
    d = tr.decode_messages(rec.msgs)
    assert d["predictions"] is None and (d["labels"] == -1).all()
    assert all(len(b) == 1 for c, b in rec.of("chunk"))


# ---- synced state -------------------------------------------------------------------------------------------

def _state_size(w) -> int:
    state = {k: v for k, v in w.get_state().items() if k not in ("_esm", "_css")}
    return len(json.dumps(state, default=str))


def test_synced_state_is_small_and_independent_of_n():
    small = TimeTravelWidget(make_run(n=100, epochs=3, images=False))
    big = TimeTravelWidget(make_run(n=20000, epochs=12, images=False))
    s_small, s_big = _state_size(small), _state_size(big)
    assert s_big < 10_000, s_big
    assert s_big - s_small < 500, (s_small, s_big)  # only the epoch list grows
    state = big.get_state()
    assert not any(isinstance(v, (bytes, memoryview)) for v in state.values())
    assert len(state.get("_esm", "")) < 1_000_000


# ---- traits ---------------------------------------------------------------------------------------------------

def test_traits_defaults_and_info():
    run = make_run(n=80, epochs=4)
    w = TimeTravelWidget(run)
    assert w.epoch == 1 and w.time == 0.0 and w.selection == [] and w.hovered == -1
    assert w.color_by == "label" and w.show_territory is True and w.playing is False
    assert w.filters == {"labels": None, "predictions": None, "split": "all", "correctness": "all"}
    i = w.info
    assert i["name"] == "toy" and i["n"] == 80 and i["epochs"] == [1, 2, 3, 4] and i["method"] == "stand-in"
    assert i["classes"] == ["c0", "c1", "c2", "c3"] and i["colors"][0] == "#1f77b4" and i["media"] == "image"


def test_epoch_and_time_are_linked():
    w = TimeTravelWidget(make_run(n=50, epochs=5))
    w.epoch = 4
    assert w.time == 3.0
    w.time = 1.4
    assert w.epoch == 2
    w.time = 1.6
    assert w.epoch == 3
    w.time = 99
    assert w.time == 4.0 and w.epoch == 5
    with pytest.raises(traitlets.TraitError, match="not recorded"):
        w.epoch = 17


def test_view_kwargs_and_validation():
    w = TimeTravelWidget(make_run(n=50, epochs=3), color_by="prediction", point_size=7, epoch=2,
                         show_territory=False, speed=4)
    assert (w.color_by, w.point_size, w.epoch, w.show_territory, w.speed) == ("prediction", 7.0, 2, False, 4.0)
    w.selection = [5, 3, 5, 0]
    assert w.selection == [0, 3, 5]
    with pytest.raises(traitlets.TraitError):
        w.selection = [50]
    w.filters = {"labels": [2, 1], "split": "test"}
    assert w.filters == {"labels": [1, 2], "predictions": None, "split": "test", "correctness": "all"}
    with pytest.raises(traitlets.TraitError):
        w.filters = {"split": "validation"}
    with pytest.raises(traitlets.TraitError):
        w.filters = {"colour": "red"}
    with pytest.raises(traitlets.TraitError):
        w.color_by = "confidence"
    w.play(speed=8)
    assert w.playing and w.speed == 8.0
    w.pause()
    assert not w.playing


def test_find_sample_info_and_positions():
    run = make_run(n=60, epochs=3)
    w = TimeTravelWidget(run)
    rec = Recorder(w)
    w.epoch = 3
    info = w.find(7)
    assert rec.msgs[-1][0] == {"type": "focus", "index": 7}
    dyn = run.dynamics
    assert info["index"] == 7 and info["epoch"] == 3 and info["label"] == int(dyn.labels[7])
    assert info["prediction"] == int(dyn.predicted_class(3)[7])
    assert info["confidence"] == pytest.approx(float(dyn.confidence(3)[7]))
    assert info["xy"] == pytest.approx(run.embedding(3)[7].tolist())
    assert info["split"] in ("train", "test")
    np.testing.assert_array_equal(w.positions(), run.embedding(3))
    np.testing.assert_array_equal(w.positions(1), run.embedding(1))
    with pytest.raises(IndexError):
        w.find(60)


def test_sample_request_replies_with_png():
    w = TimeTravelWidget(make_run(n=20, epochs=2))
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "sample", "index": 4}, [])
    content, bufs = rec.msgs[-1]
    assert content["type"] == "sample" and content["index"] == 4 and content["media"] == "image"
    assert bytes(bufs[0])[:4] == b"\x89PNG"
    w._on_custom_msg(w, {"type": "sample", "index": 999}, [])  # out of range: refused (test_widget_messages.py)
    w._on_custom_msg(w, {"type": "nonsense"}, [])
    assert [c["type"] for c, _ in rec.msgs] == ["sample", "refused", "refused"]
    assert [c["field"] for c, _ in rec.msgs[1:]] == ["index", "type"]


def test_each_request_gets_its_own_stream():
    w = TimeTravelWidget(make_run(n=30, epochs=2))
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "view-1"}, [])
    n1 = len(rec.msgs)
    w._on_custom_msg(w, {"type": "request", "rid": "view-2"}, [])
    assert len(rec.msgs) == 2 * n1
    assert {c["rid"] for c, _ in rec.msgs[n1:]} == {"view-2"}


def test_accepts_run_keyword_and_rejects_garbage():
    run = make_run(n=30, epochs=2)
    assert TimeTravelWidget(run=run).run is run
    with pytest.raises(TypeError):
        TimeTravelWidget(run=object())
    with pytest.raises(TypeError):
        TimeTravelWidget()


def test_content_path_goes_through_fit(digits_path):
    w = TimeTravelWidget(digits_path, method="pca", progress=False)
    assert w.wait(300)  # fitted in the background unless cached (tests/test_live.py)
    assert type(w.run).__name__ == "VisRun" and w.run.method == "pca"
    assert w.info["n"] == 1797 and w.info["epochs"] == list(range(1, 9))
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "r"}, [])
    d = tr.decode_messages(rec.msgs)
    assert d["complete"]
    b = w.run.bounds
    assert np.abs(d["positions"] - w.run.embeddings()).max() <= max(b[2] - b[0], b[3] - b[1]) / 65535


def test_territories_inline_and_failing_territory():
    run = make_run(n=40, epochs=3, territory=True)
    w = TimeTravelWidget(run)
    w.territories_in_background = False
    rec = Recorder(w)
    w._on_custom_msg(w, {"type": "request", "rid": "r"}, [])
    assert sorted(tr.decode_messages(rec.msgs)["territories"]) == [0, 1, 2]

    def broken(epoch, resolution=None):
        raise RuntimeError("no GPU")

    run2 = make_run(n=40, epochs=3)
    run2.territory = broken
    w2 = TimeTravelWidget(run2)
    rec2 = Recorder(w2)
    w2._on_custom_msg(w2, {"type": "request", "rid": "r"}, [])
    d = tr.decode_messages(rec2.msgs)
    assert d["complete"] and d["territories"] == {}
    assert "territories unavailable" in w2.status and "no GPU" in w2.status
