"""Bad training-dynamics input: every problem raises TrainingDynamicsError naming the file and the problem,
and the input folder is left byte-identical. Covers our layout and the original tool's three layouts."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import snapshot_files
from test_original_layouts import MODEL_PY, make_era_a, make_era_b, make_era_c

import ttvis_widget
from ttvis_widget import TrainingDynamicsError, UntrustedCodeError

GARBAGE = b"\x00\x13garbage, not a real file\xff\xfe" * 7


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pristine(digits_path, tmp_path_factory):
    """Small read-only folders per layout; each case works on a copy."""
    base = tmp_path_factory.mktemp("pristine")
    return {
        "ttvis": digits_path,
        "era_a": make_era_a(base / "a", digits_path, epochs=[1, 2, 3, 4], sprites=None),
        "era_b": make_era_b(base / "b", digits_path, epochs=[1, 2, 3, 4], images=False),
        "era_c": make_era_c(base / "c", digits_path, epochs=[2, 4, 6, 8], images=False),
    }


# ------------------------------------------------------------------ mutations (applied to the copy)
def _edit_npy(rel, fn):
    def mutate(root: Path):
        p = root / rel
        a = np.load(p)
        out = fn(a)
        p.unlink()
        if isinstance(out, np.ndarray) and out.dtype == object:
            np.save(p, out, allow_pickle=True)
        else:
            np.save(p, out)
    return mutate


def _rows(a):
    return a[:-1]


def _cols(a):
    return a[:, :-1]


def _nan(a):
    a = a.copy()
    a[5, 2] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a[7, 0] = np.inf
    return a


def _strings(a):
    return np.full(a.shape, "x", dtype="<U3")


def _objects(a):
    return np.array([{"x": 1}] * len(a), dtype=object)


def _delete(*rels):
    def mutate(root: Path):
        for rel in rels:
            p = root / rel
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    return mutate


def _write(rel, data):
    def mutate(root: Path):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return mutate


def _edit_json(rel, fn):
    def mutate(root: Path):
        p = root / rel
        p.write_text(json.dumps(fn(json.loads(p.read_text()))))
    return mutate


def _manifest_drop_epoch(m):
    m["epochs"] = [e for e in m["epochs"] if e != 3]
    return m


def _float_labels(root: Path):
    import torch

    torch.save(torch.full((1347,), 0.5), root / "Training_data" / "training_dataset_label.pth")


def _no_reps_no_code(root: Path):
    for e in (1, 2, 3, 4):
        (root / "Model" / f"Epoch_{e}" / "train_data.npy").unlink()
        (root / "Model" / f"Epoch_{e}" / "test_data.npy").unlink()


def _no_reps_broken_code(root: Path):
    _no_reps_no_code(root)
    (root / "Model" / "model.py").write_text(MODEL_PY + "\nthis is not python(\n")


def _no_reps_wrong_class(root: Path):
    _no_reps_no_code(root)
    (root / "Model" / "model.py").write_text(MODEL_PY.replace("class DigitsMLP", "class OtherNet"))


# (layout, mutation, file named in the message, problem regex, stage, load kwargs)
# stage "load": load() itself raises (headers are checked at load); "read": reading an epoch / head raises.
CASES = {
    # ---- our layout
    "ttvis-missing-rep": ("ttvis", _delete("epochs/3/representation.npy"), "epochs/3/representation.npy", "missing", "load", {}),
    "ttvis-missing-manifest": ("ttvis", _delete("ttvis.json"), "", "no training dynamics found", "load", {}),
    "ttvis-rows": ("ttvis", _edit_npy("epochs/3/representation.npy", _rows), "epochs/3/representation.npy", "1796 rows", "load", {}),
    "ttvis-dim": ("ttvis", _edit_npy("epochs/5/representation.npy", _cols), "epochs/5/representation.npy", "63 columns", "load", {}),
    "ttvis-pred-cols": ("ttvis", _edit_npy("epochs/5/prediction.npy", _cols), "epochs/5/prediction.npy", "9 columns", "load", {}),
    "ttvis-nan": ("ttvis", _edit_npy("epochs/3/representation.npy", _nan), "epochs/3/representation.npy", "NaN/inf", "read", {}),
    "ttvis-inf-pred": ("ttvis", _edit_npy("epochs/6/prediction.npy", _inf), "epochs/6/prediction.npy", "NaN/inf", "read", {}),
    "ttvis-strings": ("ttvis", _edit_npy("epochs/2/representation.npy", _strings), "epochs/2/representation.npy", "dtype", "load", {}),
    "ttvis-objects": ("ttvis", _edit_npy("epochs/2/representation.npy", _objects), "epochs/2/representation.npy", "(?i)pickle|object", "load", {}),
    "ttvis-garbage-npy": ("ttvis", _write("epochs/4/representation.npy", GARBAGE), "epochs/4/representation.npy", "cannot read", "load", {}),
    "ttvis-garbage-manifest": ("ttvis", _write("ttvis.json", GARBAGE), "ttvis.json", "not valid JSON", "load", {}),
    "ttvis-garbage-head": ("ttvis", _write("epochs/4/head.npz", GARBAGE), "epochs/4/head.npz", "cannot read", "read", {}),
    "ttvis-gap": ("ttvis", _edit_json("ttvis.json", _manifest_drop_epoch), "ttvis.json", "gap in epoch numbering", "load", {}),
    "ttvis-labels": ("ttvis", _edit_npy("samples/labels.npy", _rows), "samples/labels.npy", "1796 labels", "load", {}),
    "ttvis-bad-manifest-fields": ("ttvis", _edit_json("ttvis.json", lambda m: {**m, "n_samples": "many"}), "ttvis.json", "n_samples", "load", {}),
    "ttvis-labels-range": ("ttvis", _edit_json("ttvis.json", lambda m: {**m, "classes": m["classes"][:5]}), "samples/labels.npy", "out of range", "load", {}),
    # ---- era A
    "a-missing-epoch": ("era_a", _delete("Model/Epoch_3"), "Model", r"Model/Epoch_3 .*missing", "load", {}),
    "a-missing-test": ("era_a", _delete("Model/Epoch_2/test_data.npy"), "Model/Epoch_2/test_data.npy", "missing", "load", {}),
    "a-missing-model-py": ("era_a", lambda r: (_no_reps_no_code(r), _delete("Model/model.py")(r)), "Model/model.py", "missing", "load", {"trust_model_code": True}),
    "a-untrusted": ("era_a", _no_reps_no_code, "Model/model.py", "trust_model_code=True", "load", {}),
    "a-broken-code": ("era_a", _no_reps_broken_code, "Model/model.py", "importing the model code failed", "read", {"trust_model_code": True}),
    "a-wrong-class": ("era_a", _no_reps_wrong_class, "Model/model.py", "no class 'DigitsMLP'", "read", {"trust_model_code": True}),
    "a-input-count": ("era_a", lambda r: (_no_reps_no_code(r), __import__("torch").save(__import__("torch").zeros(5, 1, 8, 8), r / "Testing_data" / "testing_dataset_data.pth")), "Testing_data/testing_dataset_data.pth", "holds 5 samples; expected 450", "load", {"trust_model_code": True}),
    "a-rows": ("era_a", _edit_npy("Model/Epoch_2/train_data.npy", _rows), "Model/Epoch_2/train_data.npy", "1346 rows", "load", {}),
    "a-dim": ("era_a", _edit_npy("Model/Epoch_2/test_data.npy", _cols), "Model/Epoch_2/test_data.npy", "63 columns", "load", {}),
    "a-nan": ("era_a", _edit_npy("Model/Epoch_3/test_data.npy", _nan), "Model/Epoch_3/test_data.npy", "NaN/inf", "read", {}),
    "a-strings": ("era_a", _edit_npy("Model/Epoch_1/train_data.npy", _strings), "Model/Epoch_1/train_data.npy", "dtype", "load", {}),
    "a-garbage-npy": ("era_a", _write("Model/Epoch_4/train_data.npy", GARBAGE), "Model/Epoch_4/train_data.npy", "cannot read", "load", {}),
    "a-garbage-pth": ("era_a", _write("Model/Epoch_4/subject_model.pth", GARBAGE), "Model/Epoch_4/subject_model.pth", "cannot read", "read", {}),
    "a-garbage-labels": ("era_a", _write("Training_data/training_dataset_label.pth", GARBAGE), "Training_data/training_dataset_label.pth", "cannot read", "load", {}),
    "a-float-labels": ("era_a", _float_labels, "Training_data/training_dataset_label.pth", "integers", "load", {}),
    "a-garbage-config": ("era_a", _write("config.json", GARBAGE.decode("latin-1")), "config.json", "not valid JSON|cannot read", "load", {}),
    "a-bad-period": ("era_a", _write("config.json", '{"DVI": {"EPOCH_START": 1, "EPOCH_END": 4, "EPOCH_PERIOD": 0}}'), "config.json", "bad epoch range", "load", {}),
    # ---- era B
    "b-missing-labels": ("era_b", _delete("dataset/label/labels.npy"), "dataset/label/labels.npy", "missing", "load", {}),
    "b-missing-pred": ("era_b", _delete("dataset/prediction/3.npy"), "dataset/prediction/3.npy", "missing", "load", {}),
    "b-rows": ("era_b", _edit_npy("dataset/representation/2.npy", _rows), "dataset/representation/2.npy", "1796 rows", "load", {}),
    "b-dim": ("era_b", _edit_npy("dataset/representation/4.npy", _cols), "dataset/representation/4.npy", "63 columns", "load", {}),
    "b-nan": ("era_b", _edit_npy("dataset/prediction/4.npy", _nan), "dataset/prediction/4.npy", "NaN/inf", "read", {}),
    "b-gap": ("era_b", _delete("dataset/representation/3.npy", "dataset/prediction/3.npy"), "dataset/representation", "gap in epoch numbering", "load", {}),
    "b-objects": ("era_b", _edit_npy("dataset/label/labels.npy", _objects), "dataset/label/labels.npy", "(?i)pickle|object", "load", {}),
    "b-labels-range": ("era_b", _edit_npy("dataset/label/labels.npy", lambda a: np.where(np.arange(len(a)) == 3, 12, a)), "dataset/label/labels.npy", "label 12 is out of range", "load", {}),
    "b-garbage-pth": ("era_b", _write("model/2.pth", GARBAGE), "model/2.pth", "cannot read", "read", {}),
    "b-garbage-index": ("era_b", _write("index.json", GARBAGE.decode("latin-1")), "index.json", "not valid JSON|cannot read", "load", {}),
    "b-index-range": ("era_b", _write("index.json", '{"train": [0, 1, 5000], "test": [2]}'), "index.json", "outside", "load", {}),
    # ---- era C
    "c-missing-emb": ("era_c", _delete("epochs/epoch_4/embeddings.npy"), "epochs/epoch_4/embeddings.npy", "missing", "load", {}),
    "c-rows": ("era_c", _edit_npy("epochs/epoch_6/embeddings.npy", _rows), "epochs/epoch_6/embeddings.npy", "1796 rows", "load", {}),
    "c-pred-cols": ("era_c", _edit_npy("epochs/epoch_6/predictions.npy", _cols), "epochs/epoch_6/predictions.npy", "9 columns", "load", {}),
    "c-inf": ("era_c", _edit_npy("epochs/epoch_8/embeddings.npy", _inf), "epochs/epoch_8/embeddings.npy", "NaN/inf", "read", {}),
    "c-gap": ("era_c", _delete("epochs/epoch_4"), "epochs", "gap in epoch numbering", "load", {}),
    "c-garbage-info": ("era_c", _write("dataset/info.json", "{classes: [1,2"), "dataset/info.json", "not valid JSON", "load", {}),
    "c-string-labels": ("era_c", _edit_npy("dataset/labels.npy", lambda a: a.astype(str)), "dataset/labels.npy", "dtype", "load", {}),
    "c-classes-vs-pred": ("era_c", _edit_json("dataset/info.json", lambda m: {**m, "classes": m["classes"][:5]}), "epochs/epoch_2/predictions.npy", "10 columns; expected 5 as in the class list", "load", {}),
    "c-garbage-pth": ("era_c", _write("epochs/epoch_2/model.pth", GARBAGE), "epochs/epoch_2/model.pth", "cannot read", "read", {}),
    "c-garbage-npy": ("era_c", _write("epochs/epoch_2/predictions.npy", GARBAGE), "epochs/epoch_2/predictions.npy", "cannot read", "load", {}),
}


def _read_everything(dyn):
    dyn.validate()
    for e in dyn.epochs:
        dyn.head(e)
        dyn.prediction(e)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(case, pristine, tmp_path):
    layout, mutate, fname, problem, stage, kw = CASES[case]
    root = tmp_path / "run"
    shutil.copytree(pristine[layout], root)
    mutate(root)
    before = snapshot_files(root)
    if stage == "load":
        with pytest.raises(TrainingDynamicsError) as ei:
            ttvis_widget.load(root, **kw)
    else:
        dyn = ttvis_widget.load(root, **kw)
        with pytest.raises(TrainingDynamicsError) as ei:
            _read_everything(dyn)
    msg = str(ei.value)
    assert str(root / fname).rstrip("/") in msg, msg
    assert ei.value.path is not None and Path(ei.value.path).is_relative_to(root)
    import re

    assert re.search(problem, msg), msg
    assert snapshot_files(root) == before


def test_untrusted_is_a_training_dynamics_error(pristine, tmp_path):
    root = tmp_path / "run"
    shutil.copytree(pristine["era_a"], root)
    _no_reps_no_code(root)
    with pytest.raises(UntrustedCodeError):
        ttvis_widget.load(root)


@pytest.mark.parametrize("layout,drop,epochs,named", [
    ("ttvis", None, [1, 2, 4, 5, 6, 7, 8], ["epochs/3"]),  # its folder stays, unlisted: named
    ("era_a", "Model/Epoch_3", [1, 2, 4], []),
    ("era_b", ("dataset/representation/3.npy", "dataset/prediction/3.npy"), [1, 2, 4], ["model/3.pth"]),
    ("era_c", "epochs/epoch_4", [2, 6, 8], []),
])
def test_allow_gaps(layout, drop, epochs, named, pristine, tmp_path):
    import warnings

    root = tmp_path / "run"
    shutil.copytree(pristine[layout], root)
    if layout == "ttvis":
        _edit_json("ttvis.json", _manifest_drop_epoch)(root)
    else:
        _delete(*([drop] if isinstance(drop, str) else drop))(root)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        dyn = ttvis_widget.load(root, allow_gaps=True)
    assert [w.message.path for w in rec if issubclass(w.category, ttvis_widget.TrainingDynamicsWarning)] == \
        [str(root / n) for n in named]
    assert dyn.epochs == epochs
    dyn.validate()


def test_nonexistent_and_unrecognised_folders(tmp_path):
    with pytest.raises(TrainingDynamicsError, match="does not exist") as ei:
        ttvis_widget.load(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(ei.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainingDynamicsError, match="not a folder"):
        ttvis_widget.load(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingDynamicsError, match="no training dynamics found"):
        ttvis_widget.load(tmp_path / "empty")
    for layout in ("era_a", "era_b", "era_c"):
        with pytest.raises(TrainingDynamicsError):
            ttvis_widget.load(tmp_path / "empty", layout=layout)


def test_trusted_model_code_leaves_no_bytecode_in_the_folder(pristine, tmp_path, monkeypatch):
    """Importing a folder's model.py (trust_model_code=True) must not write Model/__pycache__/ into it, even where
    Python writes bytecode caches (PYTHONDONTWRITEBYTECODE unset, the usual case)."""
    import sys

    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = tmp_path / "run"
    shutil.copytree(pristine["era_a"], root)
    (root / "Model" / "model.py").write_text(MODEL_PY + "\n# edited: a module of its own\n")
    before = snapshot_files(root)
    dyn = ttvis_widget.load(root, trust_model_code=True)
    assert "prediction" in dyn.head(2).source
    assert snapshot_files(root) == before
    assert not (root / "Model" / "__pycache__").exists()
