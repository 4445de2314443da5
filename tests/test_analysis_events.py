"""Training events (ttvis_widget.analysis.events) on constructed dynamics with known flips, confidence changes
and movements, and every edge case: first epoch, missing predictions, unlabelled samples, bad arguments."""
import numpy as np
import pytest

from ttvis_widget import ArrayDynamics
from ttvis_widget.analysis import KINDS, AnalysisError, EpochNotRecordedError, Events, training_events

N, D, C = 40, 4, 3


def _logits(probs):
    return np.log(np.asarray(probs, np.float64)).astype(np.float32)


def constructed(labels=True, predictions=(1, 2, 3)):
    """Epochs 1, 2, 3 of 40 samples, 3 classes. Between epochs 1 and 2:

    sample 1 flips 0 -> 1 with label 0 (became wrong), sample 2 flips 0 -> 1 with label 1 (became correct),
    sample 3 flips 0 -> 1 with label 2 (wrong both times), sample 4 keeps predicting its label 0 while
    p(label) falls 0.95 -> 0.40 (confidence change 0.55), sample 5 keeps predicting 0 with p(label) 0.90 ->
    0.45 (change 0.45, under the default threshold 0.5; the flips of samples 1 and 2
    change p(label) by 0.6); everyone else predicts 0 at p = 0.8 both times.
    Representations: every sample ends (epoch 3) at the origin; at epoch 1 all are 5 away from it. At epoch
    2 samples 0-29 are about 4 away (1 closer), sample 30 is 0.5 away (4.5 closer), samples 31-38 5.1 away
    (0.1 farther), sample 39 8 away (3 farther). Closer sizes: mean 1.11, std 0.62 -> cut 2.35, so only
    sample 30; farther sizes: mean 0.42, std 0.91 -> cut 2.24, so only sample 39.
    """
    rng = np.random.default_rng(0)
    lab = np.zeros(N, np.int64)
    lab[2], lab[3] = 1, 2
    p1 = np.tile([0.8, 0.1, 0.1], (N, 1))
    p2 = p1.copy()
    p2[1] = p2[2] = p2[3] = [0.2, 0.7, 0.1]
    p1[4], p2[4] = [0.95, 0.025, 0.025], [0.40, 0.30, 0.30]
    p1[5], p2[5] = [0.90, 0.05, 0.05], [0.45, 0.275, 0.275]
    probs = {1: p1, 2: p2, 3: p1}
    direction = rng.normal(size=(N, D))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    r2 = np.concatenate([4.0 + rng.uniform(-0.01, 0.01, 30), [0.5], 5.1 + rng.uniform(-0.01, 0.01, 8), [8.0]])
    radii = {1: np.full(N, 5.0), 2: r2, 3: np.zeros(N)}
    reps = {e: (direction * radii[e][:, None]).astype(np.float32) for e in (1, 2, 3)}
    preds = {e: _logits(probs[e]) for e in predictions}
    return ArrayDynamics(reps, predictions=preds, labels=lab if labels else None), radii


def test_each_kind_finds_the_constructed_samples():
    dyn, radii = constructed()
    ev = training_events(dyn, 2)
    assert isinstance(ev, Events) and ev.previous == 1 and ev.final == 3
    assert ev.kinds == KINDS and not ev.not_computable
    expected = {"prediction_flip": [1, 2, 3], "became_wrong": [1], "became_correct": [2],
                "confidence_change": [1, 2, 4], "moved_closer": [30], "moved_farther": [39],
                "significant_movement": [30, 39]}
    for kind, idx in expected.items():
        got = ev.indices(kind)
        assert got.dtype == np.int64
        assert got.tolist() == idx, kind
    assert ev.counts() == {k: len(v) for k, v in expected.items()}


def test_thresholds_change_what_counts():
    dyn, _ = constructed()
    # |change of p(label)|: samples 1 and 2 (flips) 0.6, sample 3 0, sample 4 0.55, sample 5 0.45, others 0
    for threshold, idx in ((0.4, [1, 2, 4, 5]), (0.56, [1, 2]), (0.65, [])):
        assert training_events(dyn, 2, confidence=threshold).indices("confidence_change").tolist() == idx
    assert training_events(dyn, 2, movement_sigmas=10).indices("significant_movement").tolist() == []


def test_table_rows_carry_predictions_confidences_and_movement():
    dyn, radii = constructed()
    ev = training_events(dyn, 2)
    (row,) = ev.table("became_wrong")
    assert row["index"] == 1 and row["kind"] == "became_wrong" and row["label"] == 0 and row["split"] == "train"
    assert (row["prev_prediction"], row["prediction"]) == (0, 1)
    assert row["prev_confidence"] == pytest.approx(0.8, abs=1e-6) and row["confidence"] == pytest.approx(0.7, abs=1e-6)
    assert row["prev_label_prob"] == pytest.approx(0.8, abs=1e-6) and row["label_prob"] == pytest.approx(0.2, abs=1e-6)
    assert row["movement"] == pytest.approx(radii[2][1] - 5.0, abs=1e-5)
    (far,) = ev.table("moved_farther")
    assert far["index"] == 39 and far["movement"] == pytest.approx(3.0, abs=1e-5)
    rows = ev.table()
    assert len(rows) == sum(ev.counts().values())
    assert [(r["kind"], r["index"]) for r in rows][:3] == [("prediction_flip", 1), ("prediction_flip", 2),
                                                             ("prediction_flip", 3)]
    assert len(ev.table(limit=4)) == 4


def test_explicit_previous_epoch():
    dyn, _ = constructed()
    ev = training_events(dyn, 3, previous=1)  # probabilities of 3 equal those of 1: no flip
    assert ev.previous == 1 and ev.indices("prediction_flip").size == 0
    # at the final epoch every sample reaches distance 0: all move closer by 5, so none stands out
    assert ev.indices("moved_closer").size == 0 and ev.indices("moved_farther").size == 0
    back = training_events(dyn, 3)  # against epoch 2: the flips revert
    assert back.indices("became_correct").tolist() == [1] and back.indices("became_wrong").tolist() == [2]
    assert back.indices("moved_closer").tolist() == [39]


def test_first_epoch_has_nothing_to_compare():
    dyn, _ = constructed()
    ev = training_events(dyn, 1)
    assert ev.kinds == () and set(ev.not_computable) == set(KINDS)
    assert "first recorded epoch" in ev.not_computable["prediction_flip"]
    assert ev.counts() == {} and ev.table() == []
    with pytest.raises(AnalysisError, match="first recorded epoch"):
        ev.indices("prediction_flip")


def test_missing_predictions_leave_movement_only():
    dyn, _ = constructed(predictions=(1, 3))
    ev = training_events(dyn, 2)
    assert ev.kinds == ("significant_movement", "moved_closer", "moved_farther")
    assert set(ev.not_computable) == {"prediction_flip", "became_wrong", "became_correct", "confidence_change"}
    assert "epoch 2" in ev.not_computable["prediction_flip"] and "epoch 1" not in ev.not_computable["prediction_flip"]
    assert ev.indices("moved_closer").tolist() == [30]
    (row,) = ev.table("moved_closer")
    assert row["prediction"] is None and row["label"] == 0 and row["movement"] < 0


def test_unlabelled_samples_get_flips_and_movement():
    dyn, _ = constructed(labels=False)
    ev = training_events(dyn, 2)
    assert ev.kinds == ("prediction_flip", "significant_movement", "moved_closer", "moved_farther")
    assert set(ev.not_computable) == {"became_wrong", "became_correct", "confidence_change"}
    assert all("no labels" in r for r in ev.not_computable.values())
    assert ev.indices("prediction_flip").tolist() == [1, 2, 3]
    with pytest.raises(AnalysisError, match="no labels"):
        ev.indices("confidence_change")
    assert ev.table("prediction_flip")[0]["label"] is None


def test_bad_arguments_raise_typed_errors():
    dyn, _ = constructed()
    with pytest.raises(TypeError, match="unknown threshold.*confidance"):
        training_events(dyn, 2, confidance=0.2)
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="confidence"):
            training_events(dyn, 2, confidence=bad)
    with pytest.raises(TypeError, match="number"):
        training_events(dyn, 2, movement_sigmas="2")
    with pytest.raises(EpochNotRecordedError, match=r"epoch 7 was not recorded.*\[1, 2, 3\]"):
        training_events(dyn, 7)
    with pytest.raises(KeyError):  # also a KeyError, like dynamics.representation's
        training_events(dyn, 2, previous=0)
    with pytest.raises(AnalysisError, match="earlier"):
        training_events(dyn, 2, previous=3)
    with pytest.raises(TypeError, match="integer"):
        training_events(dyn, 2.0)
    ev = training_events(dyn, 2)
    with pytest.raises(ValueError, match="unknown event kind"):
        ev.indices("flips")


def test_labels_outside_the_predicted_classes_are_refused():
    dyn, _ = constructed()
    bad = ArrayDynamics({e: dyn.representation(e) for e in dyn.epochs},
                        predictions={e: dyn.prediction(e) for e in dyn.epochs}, labels=np.full(N, 5))
    with pytest.raises(AnalysisError, match="label 5 is out of range"):
        training_events(bad, 2)


def test_events_read_memory_mapped_recordings(tmp_path):
    """Our on-disk layout (read-only memory maps) gives the same events as the arrays it was written from."""
    import ttvis_widget
    from ttvis_widget import SummaryWriter

    dyn, _ = constructed()
    w = SummaryWriter(tmp_path / "rec")
    w.set_samples(labels=dyn.labels)
    for e in dyn.epochs:
        w.add_epoch(e, dyn.representation(e), prediction=dyn.prediction(e))
    w.close()
    disk = ttvis_widget.load(tmp_path / "rec")
    a, b = training_events(dyn, 2), training_events(disk, 2)
    assert a.counts() == b.counts()
    for kind in a.kinds:
        np.testing.assert_array_equal(a.indices(kind), b.indices(kind))


def test_equal_movements_up_to_round_off_are_not_significant():
    """Every sample moves 2 closer to where it ends: float32 round-off alone must not make outliers."""
    rng = np.random.default_rng(1)
    u = rng.normal(size=(2000, 64))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    end = rng.normal(size=(2000, 64)) * 10
    dyn = ArrayDynamics({1: (end + 5 * u).astype(np.float32), 2: (end + 3 * u).astype(np.float32),
                         3: end.astype(np.float32)})
    ev = training_events(dyn, 2)
    assert ev.counts() == {"significant_movement": 0, "moved_closer": 0, "moved_farther": 0}
    assert set(ev.not_computable) == {"prediction_flip", "became_wrong", "became_correct", "confidence_change"}


def test_the_room_imports_no_widget_and_no_torch_until_needed():
    """Lower rooms never import higher ones; importing the analysis costs no torch start-up."""
    import subprocess
    import sys

    code = ("import sys, ttvis_widget.analysis; "
            "print(sorted(m for m in sys.modules if m.startswith(('ttvis_widget.widget', 'torch', 'anywidget'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
