"""Per-epoch training figures: recorded by SummaryWriter (given by the loop, or computed from logits and labels),
read back from our layout (version 2) and the original tool's (era A's subject_model_eval.json), computed from
the logits wherever nothing was recorded (checked against torch's cross_entropy), cached in ttvis_cache keyed by
the data, and the layout's version handled."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest

from conftest import snapshot_files
from test_bad_input import pristine  # noqa: F401 - the shared read-only folders, one per layout

import ttvis_widget
from ttvis_widget import ArrayDynamics, SummaryWriter, TrainingDynamicsError, TrainingDynamicsWarning
from ttvis_widget.store import ttvis_layout

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STANDARD = ["train_accuracy", "test_accuracy", "train_loss", "test_loss"]


def reference(path, **kw) -> dict:
    """{epoch: figures} from the folder's logits and labels, with torch (independent of the store's code)."""
    import torch

    dyn = ttvis_widget.load(path, **kw)
    out = {}
    for e in dyn.epochs:
        z = torch.from_numpy(np.asarray(dyn.prediction(e), np.float64))
        y = torch.from_numpy(dyn.labels)
        row = {}
        for part, name in ((0, "train"), (1, "test")):
            sel = torch.from_numpy(dyn.split == part)
            row[f"{name}_accuracy"] = float((z[sel].argmax(1) == y[sel]).double().mean())
            row[f"{name}_loss"] = float(torch.nn.functional.cross_entropy(z[sel], y[sel]))
        out[e] = row
    return out


def assert_figures(table, ref):
    assert [r["epoch"] for r in table] == sorted(ref)
    for row in table:
        for k in STANDARD:
            assert row[k] == pytest.approx(ref[row["epoch"]][k], rel=1e-6, abs=1e-9), (row["epoch"], k)


def as_version_1(root):
    """The folder as a version-1 writer left it: no training figures in the manifest."""
    m = json.loads((root / "ttvis.json").read_text())
    for key in ("metrics", "computed_metrics"):
        m.pop(key, None)
    m["version"] = 1
    (root / "ttvis.json").write_text(json.dumps(m))


# ------------------------------------------------------------------ the writer, round trip
def test_writer_records_given_and_computed_figures_round_trip(tmp_path, digits):
    root = tmp_path / "run"
    w = SummaryWriter(root, classes=digits.classes)
    w.set_samples(labels=digits.labels, split=digits.split)
    got = w.add_epoch(1, digits.representation(1), prediction=digits.prediction(1),
                      metrics={"train_loss": 0.75, "lr": np.float32(0.5)})
    w.add_epoch(2, digits.representation(2), prediction=digits.prediction(2))
    w.add_scalar("test_loss", 1.25, 2)                      # known only at the epoch's end: the epoch is written
    w.add_metrics(3, {"train_accuracy": 0.5, "lr": 0.25})   # before the epoch is written
    w.add_epoch(3, digits.representation(3), head=digits.head(3))  # no logits: the head gives them
    w.add_epoch(4, digits.representation(4))                       # neither: nothing to compute from
    assert not list(root.rglob("*.tmp"))
    ref = reference(digits.content_path)
    assert got["train_loss"] == 0.75 and got["lr"] == 0.5 and got["test_accuracy"] == pytest.approx(ref[1]["test_accuracy"])

    m = json.loads((root / "ttvis.json").read_text())
    assert m["version"] == ttvis_layout.VERSION == 2
    assert m["metrics"] == {"1": {"train_loss": 0.75, "lr": 0.5}, "2": {"test_loss": 1.25},
                            "3": {"train_accuracy": 0.5, "lr": 0.25}}
    assert set(m["computed_metrics"]) == {"1", "2", "3"}

    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingDynamicsWarning)  # logits in some epochs only is fine in ours
        dyn = ttvis_widget.load(root)
    before = snapshot_files(root)
    table = dyn.training_metrics()
    assert table.columns == ["epoch", *STANDARD, "lr", "recorded"]
    assert [r["recorded"] for r in table] == [["train_loss", "lr"], ["test_loss"], ["train_accuracy", "lr"], []]
    # recorded figures win; every other one is computed from that epoch's logits (recorded or the head's)
    assert (table[0]["train_loss"], table[1]["test_loss"], table[2]["train_accuracy"]) == (0.75, 1.25, 0.5)
    assert table.column("lr") == [0.5, None, 0.25, None]
    for row in table[:3]:
        for k in STANDARD:
            if k not in row["recorded"]:
                assert row[k] == pytest.approx(ref[row["epoch"]][k], rel=1e-6), (row["epoch"], k)
    assert all(table[3][k] is None for k in STANDARD)  # no logits, no head
    # epochs 1-3 had their figures from the writer; only epoch 4 was looked at (and found without logits)
    after = snapshot_files(root)
    assert {k: v for k, v in after.items() if not k.startswith("ttvis_cache/")} == before
    assert list(json.loads(after["ttvis_cache/training_metrics.json"])["epochs"]) == ["4"]


def test_writer_refuses_bad_figures_and_keeps_the_folder(tmp_path, digits):
    root = tmp_path / "run"
    w = SummaryWriter(root)
    w.set_samples(labels=digits.labels, split=digits.split)
    w.add_epoch(1, digits.representation(1), prediction=digits.prediction(1))
    before = snapshot_files(root)
    for bad, field in (({"train_loss": float("nan")}, "train_loss"), ({"train_loss": "low"}, "train_loss"),
                       ({"epoch": 1.0}, "'epoch'"), ({"": 1.0}, "''"), ({"x": np.ones(3)}, "'x'"),
                       ({"ok": True}, "'ok'")):
        with pytest.raises(ValueError, match=field):
            w.add_metrics(1, bad)
        with pytest.raises(ValueError, match=field):
            w.add_epoch(2, digits.representation(2), metrics=bad)
    assert snapshot_files(root) == before
    import torch

    w.add_scalar("lr", torch.tensor(0.125), 1)  # a 0-d tensor is a number
    assert ttvis_widget.load(root).training_metrics()[0]["lr"] == 0.125


def test_new_labels_drop_the_figures_computed_with_the_old(tmp_path, digits):
    root = tmp_path / "run"
    w = SummaryWriter(root)
    w.set_samples(labels=digits.labels, split=digits.split)
    w.add_epoch(1, digits.representation(1), prediction=digits.prediction(1))
    shuffled = np.random.default_rng(0).permutation(digits.labels)
    w.set_samples(labels=shuffled, split=digits.split)
    assert "computed_metrics" not in json.loads((root / "ttvis.json").read_text())
    row = ttvis_widget.load(root).training_metrics()[0]
    ok = digits.prediction(1).argmax(1) == shuffled
    assert row["train_accuracy"] == pytest.approx(ok[digits.split == 0].mean())


# ------------------------------------------------------------------ computed where nothing was recorded
@pytest.mark.parametrize("layout", ["ttvis-v1", "era_a", "era_b", "era_c"])
def test_computed_when_absent_in_every_layout_and_cached(layout, pristine, tmp_path):  # noqa: F811
    from ttvis_widget.store import TrainingDynamics

    root = tmp_path / "run"
    shutil.copytree(pristine["ttvis" if layout == "ttvis-v1" else layout], root)
    shutil.rmtree(root / "ttvis_cache", ignore_errors=True)
    if layout == "ttvis-v1":
        as_version_1(root)
    ref = reference(root)
    before = snapshot_files(root)
    dyn = ttvis_widget.load(root)
    table = dyn.training_metrics()
    assert_figures(table, ref)
    assert all(r["recorded"] == [] for r in table)
    assert dyn._pred_cache == {}  # one epoch's logits at a time, none kept
    cache = root / "ttvis_cache" / "training_metrics.json"
    assert cache.is_file()
    assert {k: v for k, v in snapshot_files(root).items() if not k.startswith("ttvis_cache")} == before

    # read back from the cache without touching any logits
    calls = []
    real = TrainingDynamics._read_prediction

    def counting(self, e):
        calls.append(e)
        return real(self, e)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TrainingDynamics, "_read_prediction", counting)
        assert ttvis_widget.load(root).training_metrics() == table
        assert calls == []
        # an epoch whose files change is computed again, alone
        e = table[1]["epoch"]
        rep = {"ttvis-v1": f"epochs/{e}/prediction.npy", "era_a": f"Model/Epoch_{e}/subject_model.pth",
               "era_b": f"dataset/prediction/{e}.npy", "era_c": f"epochs/epoch_{e}/predictions.npy"}[layout]
        os.utime(root / rep, ns=(1, 1))  # same bytes, another modification time
        again = ttvis_widget.load(root).training_metrics()
        assert calls == [e] and again == table


def test_array_dynamics_and_missing_labels_or_test_samples(digits):
    reps = {e: digits.representation(e) for e in (1, 2)}
    preds = {e: np.asarray(digits.prediction(e), np.float64) for e in (1, 2)}  # converted, so held in memory
    t = ArrayDynamics(reps, predictions=preds, labels=digits.labels).training_metrics()  # no split: all train
    ok = digits.prediction(2).argmax(1) == digits.labels
    assert t[1]["train_accuracy"] == pytest.approx(ok.mean()) and t[1]["test_accuracy"] is None
    assert t[1]["test_loss"] is None and t[1]["train_loss"] > 0
    t = ArrayDynamics(reps, predictions=preds).training_metrics()  # no labels: nothing to compute
    assert [r["epoch"] for r in t] == [1, 2] and all(r[k] is None for r in t for k in STANDARD)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="list of dicts"):
            t.to_pandas()
    else:
        assert list(t.to_pandas().columns) == t.columns and len(t.to_pandas()) == 2


# ------------------------------------------------------------------ the original tool's recorded figures
def test_era_a_reads_subject_model_eval(pristine, tmp_path):  # noqa: F811
    root = tmp_path / "run"
    shutil.copytree(pristine["era_a"], root)
    ref = reference(root)
    ev = {"train_acc": {"1": 0.5, "2": 0.625, "9": 0.75}, "test_acc": {"2": 0.25}}
    (root / "Model" / "subject_model_eval.json").write_text(json.dumps(ev))
    table = ttvis_widget.load(root).training_metrics()
    assert [r["recorded"] for r in table] == [["train_accuracy"], ["train_accuracy", "test_accuracy"], [], []]
    assert (table[0]["train_accuracy"], table[1]["train_accuracy"], table[1]["test_accuracy"]) == (0.5, 0.625, 0.25)
    assert table[0]["test_accuracy"] == pytest.approx(ref[1]["test_accuracy"])
    assert_figures(table[2:], {e: ref[e] for e in (3, 4)})
    for row in table:
        assert row["train_loss"] == pytest.approx(ref[row["epoch"]]["train_loss"])

    # a file that does not parse is named, and the accuracies are computed instead
    for text, problem in (("{train_acc: [", "not valid JSON"), ('{"train_acc": {"x": 0.5, "2": "high"}}', "not read")):
        (root / "Model" / "subject_model_eval.json").write_text(text)
        before = snapshot_files(root)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            table = ttvis_widget.load(root).training_metrics()
        msgs = [w.message for w in rec if issubclass(w.category, TrainingDynamicsWarning)]
        assert msgs and all(m.path == str(root / "Model" / "subject_model_eval.json") for m in msgs)
        assert problem in str(msgs[0])
        assert_figures(table, ref)
        assert {k: v for k, v in snapshot_files(root).items() if not k.startswith("ttvis_cache")} == \
            {k: v for k, v in before.items() if not k.startswith("ttvis_cache")}


# ------------------------------------------------------------------ versions
def test_versions_old_loads_new_refused_fields_checked(tmp_path, digits_path, digits):
    old = tmp_path / "v1"
    shutil.copytree(digits_path, old)
    shutil.rmtree(old / "ttvis_cache", ignore_errors=True)
    as_version_1(old)
    assert_figures(ttvis_widget.load(old).training_metrics(), reference(digits_path))
    # a writer continuing a version-1 folder upgrades it; its old epochs keep being computed on demand
    w = SummaryWriter(old)
    w.add_epoch(9, digits.representation(8), prediction=digits.prediction(8), metrics={"train_loss": 0.5})
    m = json.loads((old / "ttvis.json").read_text())
    assert m["version"] == 2 and set(m["computed_metrics"]) == {"9"}
    t = ttvis_widget.load(old).training_metrics()
    assert t[-1]["train_loss"] == 0.5 and t[0]["train_loss"] == pytest.approx(reference(digits_path)[1]["train_loss"])

    def manifest_with(**fields):
        root = tmp_path / "case"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(digits_path, root)
        m = json.loads((root / "ttvis.json").read_text())
        m.update(fields)
        (root / "ttvis.json").write_text(json.dumps(m))
        return root, snapshot_files(root)

    for fields, problem in (({"version": 3}, "version 3 is newer than this ttvis_widget reads"),
                            ({"metrics": [1, 2]}, "manifest metrics must be an object"),
                            ({"metrics": {"x": {"a": 1}}}, "'x' is not an epoch number"),
                            ({"metrics": {"1": {"train_loss": "low"}}}, r"metrics\['1'\]: figure 'train_loss'"),
                            ({"metrics": {"1": {"train_loss": None}}}, "must be a finite number"),
                            ({"computed_metrics": {"1": {"recorded": 1.0}}}, "'recorded' is not allowed")):
        root, before = manifest_with(**fields)
        with pytest.raises(TrainingDynamicsError, match=problem) as ei:
            ttvis_widget.load(root)
        assert ei.value.path == str(root / "ttvis.json")
        if fields.get("version") == 3:  # the writer does not continue a folder from the future either
            with pytest.raises(TrainingDynamicsError, match="newer"):
                SummaryWriter(root)
        assert snapshot_files(root) == before
