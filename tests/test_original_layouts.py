"""Readers of the original tool's three layouts, on real recorded training dynamics (digits MLP).

The folders are built exactly as the format reference describes, from the session's digits recording
(our layout): same checkpoints, representations, logits, labels and images, and a real ``model.py``.
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, snapshot_files

import ttvis_widget
from ttvis_widget import TrainingDynamicsError, UntrustedCodeError
from ttvis_widget.store import detect_layout
from ttvis_widget.store.original import read_lenient_json


pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: the model.py the original ships with its data: the digits demo's own model file
MODEL_PY = (ROOT / "ttvis_widget" / "demo" / "digits_model.py").read_text()

# the SPEC's example style: // comments and trailing commas (not valid JSON as printed)
ERA_A_CONFIG = '''{
    "DVI": {
        "SETTING": "normal", // Defines the data setting mode
        "CLASSES": %(classes)s, // List of classes in the dataset
        "GPU": "0",
        "EPOCH_START": %(start)d, // Starting epoch
        "EPOCH_END": %(end)d,
        "EPOCH_PERIOD": %(period)d,
        "EPOCH_NAME": "Epoch",
        // subject model
        "TRAINING": {
            "NET": "DigitsMLP",   // class in Model/model.py
            "train_num": %(n_train)d,
            "test_num": %(n_test)d,
        },
        "VISUALIZATION": {
            "BOUNDARY": {"B_N_EPOCHS": 1, "L_BOUND": 0.4},
            "ENCODER_DIMS": [64, 32, 2], // "a // inside a string" stays
            "VIS_MODEL_NAME": "vismodel",
        }
    }
}
'''


def digits_inputs(n_total: int = 1797, test_size: int = 450, seed: int = 0):
    """The digits inputs in the recording's order (train then test), as the demo built them."""
    import torch
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    test, train = order[:test_size], order[test_size:]
    x = torch.tensor(d.data / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.int64)
    return x[train], y[train], x[test], y[test]


def _png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def decode_png(b: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(b)))


def _images(src: Path) -> np.ndarray:
    return np.load(src / "samples" / "images.npy")


def _save_torch(obj, path: Path):
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)


def make_era_a(root: Path, src: Path, epochs=None, reps: bool = True, sprites: str | None = "sprites") -> Path:
    """Era A (2.1): Model/Epoch_e/{subject_model.pth, train_data.npy, test_data.npy}, Model/model.py,
    Training_data/, Testing_data/, sprites/{i}.png, config.json keyed by method."""
    d = ttvis_widget.load(src)
    epochs = epochs or d.epochs
    ntr, nte = len(d.train_index), len(d.test_index)
    (root / "Model").mkdir(parents=True)
    (root / "Model" / "model.py").write_text(MODEL_PY)
    for e in epochs:
        ed = root / "Model" / f"Epoch_{e}"
        ed.mkdir()
        shutil.copyfile(src / "epochs" / str(e) / "checkpoint.pth", ed / "subject_model.pth")
        (ed / "index.json").write_text(json.dumps(list(range(ntr))))
        if reps:
            r = np.asarray(d.representation(e))
            np.save(ed / "train_data.npy", r[:ntr])
            np.save(ed / "test_data.npy", r[ntr:])
    xtr, ytr, xte, yte = digits_inputs()
    _save_torch(xtr, root / "Training_data" / "training_dataset_data.pth")
    _save_torch(ytr, root / "Training_data" / "training_dataset_label.pth")
    _save_torch(xte, root / "Testing_data" / "testing_dataset_data.pth")
    _save_torch(yte, root / "Testing_data" / "testing_dataset_label.pth")
    if sprites:
        (root / sprites).mkdir()
        for i, img in enumerate(_images(src)):
            (root / sprites / f"{i}.png").write_bytes(_png(img))
    period = epochs[1] - epochs[0] if len(epochs) > 1 else 1
    (root / "config.json").write_text(ERA_A_CONFIG % dict(
        classes=json.dumps(d.classes), start=epochs[0], end=epochs[-1], period=period, n_train=ntr, n_test=nte))
    (root / "iteration_structure.json").write_text(json.dumps(
        [{"value": e, "name": "Epoch", "pid": str(p) if p else ""} for p, e in zip([None] + epochs[:-1], epochs)]))
    return root


def _shuffled(d, seed=1):
    """A row order mixing train and test, as Era B/C share one array and split by index file."""
    return np.random.default_rng(seed).permutation(d.n_samples)


def make_era_b(root: Path, src: Path, epochs=None, images: bool = True) -> Path:
    """Era B (4): dataset/{representation,prediction}/{e}.npy, dataset/label/labels.npy, index.json,
    model/{e}.pth, model.py, config.json, dataset/image/{i}.png."""
    d = ttvis_widget.load(src)
    epochs = epochs or d.epochs
    perm = _shuffled(d)
    for sub in ("representation", "prediction", "label", "image"):
        (root / "dataset" / sub).mkdir(parents=True)
    (root / "model").mkdir()
    for e in epochs:
        np.save(root / "dataset" / "representation" / f"{e}.npy", np.asarray(d.representation(e))[perm])
        np.save(root / "dataset" / "prediction" / f"{e}.npy", np.asarray(d.prediction(e))[perm])
        shutil.copyfile(src / "epochs" / str(e) / "checkpoint.pth", root / "model" / f"{e}.pth")
    np.save(root / "dataset" / "label" / "labels.npy", d.labels[perm])
    split = d.split[perm]
    (root / "index.json").write_text(json.dumps({"train": np.flatnonzero(split == 0).tolist(),
                                                 "test": np.flatnonzero(split == 1).tolist()}))
    for i, img in enumerate(_images(src)[perm] if images else []):
        (root / "dataset" / "image" / f"{i}.png").write_bytes(_png(img))
    (root / "model.py").write_text(MODEL_PY)
    (root / "config.json").write_text(json.dumps({"dataset": {
        "taskType": "classification", "classes": d.classes, "attributes": {
            "sample": {"source": {"type": "folder", "pattern": "dataset/image/${index}.png"}},
            "label": {"source": {"type": "folder", "pattern": "dataset/label/labels.npy"}},
            "prediction": {"source": {"type": "folder", "pattern": "dataset/prediction/${epoch}.npy"}}}}}))
    return root


def make_era_c(root: Path, src: Path, epochs=None, images: bool = True) -> Path:
    """Era C (5.1): dataset/{info.json, labels.npy, index.json, image/{i}.png}, scripts/model.py,
    epochs/epoch_k/{embeddings.npy, predictions.npy, model.pth}."""
    d = ttvis_widget.load(src)
    epochs = epochs or d.epochs
    perm = _shuffled(d, seed=2)
    (root / "dataset" / "image").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "model.py").write_text(MODEL_PY)
    (root / "dataset" / "info.json").write_text(json.dumps({"classes": d.classes, "model": "DigitsMLP"}))
    np.save(root / "dataset" / "labels.npy", d.labels[perm])
    split = d.split[perm]
    (root / "dataset" / "index.json").write_text(json.dumps({"train": np.flatnonzero(split == 0).tolist(),
                                                             "test": np.flatnonzero(split == 1).tolist()}))
    for i, img in enumerate(_images(src)[perm] if images else []):
        (root / "dataset" / "image" / f"{i}.png").write_bytes(_png(img))
    for e in epochs:
        ed = root / "epochs" / f"epoch_{e}"
        ed.mkdir(parents=True)
        np.save(ed / "embeddings.npy", np.asarray(d.representation(e))[perm])
        np.save(ed / "predictions.npy", np.asarray(d.prediction(e))[perm])
        shutil.copyfile(src / "epochs" / str(e) / "checkpoint.pth", ed / "model.pth")
    return root


# ------------------------------------------------------------------ pristine folders (built once, read-only)
@pytest.fixture(scope="module")
def era_a_path(digits_path, tmp_path_factory):
    return make_era_a(tmp_path_factory.mktemp("era_a") / "run", digits_path)


@pytest.fixture(scope="module")
def era_b_path(digits_path, tmp_path_factory):
    return make_era_b(tmp_path_factory.mktemp("era_b") / "run", digits_path)


@pytest.fixture(scope="module")
def era_c_path(digits_path, tmp_path_factory):
    return make_era_c(tmp_path_factory.mktemp("era_c") / "run", digits_path, epochs=[2, 4, 6, 8])


def _check_same_as(dyn, digits, perm=None, epochs=None, images=True):
    perm = np.arange(digits.n_samples) if perm is None else perm
    assert dyn.epochs == (epochs or digits.epochs)
    assert dyn.n_samples == digits.n_samples == 1797
    assert dyn.dim == 64
    assert dyn.n_classes == 10
    assert dyn.class_names == digits.class_names
    np.testing.assert_array_equal(dyn.labels, digits.labels[perm])
    np.testing.assert_array_equal(dyn.split, digits.split[perm])
    assert len(dyn.train_index) == 1347 and len(dyn.test_index) == 450
    for e in dyn.epochs:
        r = dyn.representation(e)
        assert r.dtype == np.float32 and r.shape == (1797, 64)
        np.testing.assert_array_equal(r, digits.representation(e)[perm])
    if images:
        assert dyn.media == "image"
        raw = np.load(digits.content_path / "samples" / "images.npy")
        for i in (0, 5, 1346, 1347, 1796):
            np.testing.assert_array_equal(decode_png(dyn.sample_image(i)), raw[perm[i]])


# ------------------------------------------------------------------ era A
def test_era_a_reads_recorded_representations(era_a_path, digits):
    before = snapshot_files(era_a_path)
    dyn = ttvis_widget.load(era_a_path)
    assert dyn.layout == "era_a" and detect_layout(era_a_path) == "era_a"
    _check_same_as(dyn, digits)
    # sprite id of test sample j is train_num + j
    raw = np.load(digits.content_path / "samples" / "images.npy")
    assert (era_a_path / "sprites" / f"{1347 + 3}.png").read_bytes() == dyn.sample_image(1347 + 3)
    np.testing.assert_array_equal(decode_png(dyn.sample_image(1350)), raw[1350])
    # no trust: the classifier is inferred from subject_model.pth's plain weights; logits match the recording
    h = dyn.head(8)
    assert h is not None and h.source.startswith("inferred")
    for e in (1, 8):
        np.testing.assert_allclose(dyn.prediction(e), digits.prediction(e), rtol=1e-4, atol=1e-4)
    assert dyn.predicted_class(8).shape == (1797,)
    assert snapshot_files(era_a_path) == before


def test_era_a_trusted_head_is_model_prediction(era_a_path, digits):
    dyn = ttvis_widget.load(era_a_path, trust_model_code=True)
    h = dyn.head(4)
    assert "prediction" in h.source
    np.testing.assert_allclose(h(dyn.representation(4)), digits.prediction(4), rtol=1e-4, atol=1e-4)
    import torch

    mod = h.torch_module("cpu")
    out = mod(torch.from_numpy(np.ascontiguousarray(dyn.representation(4)[:10]))).numpy()
    np.testing.assert_allclose(out, digits.prediction(4)[:10], rtol=1e-4, atol=1e-4)


def test_era_a_capital_sprites_and_derived_images(tmp_path, digits_path, digits):
    a = make_era_a(tmp_path / "caps", digits_path, epochs=[1, 2, 3], sprites="Sprites")
    dyn = ttvis_widget.load(a)
    _check_same_as(dyn, digits, epochs=[1, 2, 3])
    # no sprite folder: images come from the Training_data/Testing_data input tensors
    b = make_era_a(tmp_path / "nosprites", digits_path, epochs=[1, 2, 3], sprites=None)
    dyn = ttvis_widget.load(b)
    assert dyn.media == "image"
    raw = np.load(digits.content_path / "samples" / "images.npy")
    for i in (0, 100, 1400):
        got = decode_png(dyn.sample_image(i)).astype(int)
        assert got.shape == (8, 8)
        assert np.abs(got - raw[i]).max() <= 1


def test_era_a_model_code_needs_trust_and_caches(tmp_path, digits_path, digits):
    root = make_era_a(tmp_path / "run", digits_path, epochs=[2, 4, 6], reps=False)
    before = snapshot_files(root)
    with pytest.raises(UntrustedCodeError) as ei:
        ttvis_widget.load(root)
    assert "trust_model_code=True" in str(ei.value) and "model.py" in str(ei.value)
    assert isinstance(ei.value, TrainingDynamicsError)
    assert not (root / "ttvis_cache").exists()

    dyn = ttvis_widget.load(root, trust_model_code=True)
    assert dyn.epochs == [2, 4, 6]
    for e in dyn.epochs:
        np.testing.assert_allclose(dyn.representation(e), digits.representation(e), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dyn.prediction(e), digits.prediction(e), rtol=1e-4, atol=1e-4)
    cached = sorted((root / "ttvis_cache").rglob("*.npy"))
    assert len(cached) == 3 and all("ttvis_cache" in str(p) for p in cached)
    assert not list((root / "ttvis_cache").rglob("*.tmp"))
    after = {k: v for k, v in snapshot_files(root).items() if not k.startswith("ttvis_cache")}
    assert after == before

    # the cache is read back without running any code
    dyn2 = ttvis_widget.load(root)
    np.testing.assert_array_equal(dyn2.representation(4), dyn.representation(4))


def test_era_a_without_config_discovers_epochs(tmp_path, digits_path, digits):
    root = make_era_a(tmp_path / "run", digits_path, epochs=[1, 2, 3], sprites=None)
    (root / "config.json").unlink()
    dyn = ttvis_widget.load(root)
    assert dyn.epochs == [1, 2, 3] and dyn.classes is None and dyn.n_classes == 10
    np.testing.assert_array_equal(dyn.labels, digits.labels)


# ------------------------------------------------------------------ era B
def test_era_b(era_b_path, digits):
    before = snapshot_files(era_b_path)
    dyn = ttvis_widget.load(era_b_path)
    assert dyn.layout == "era_b"
    perm = _shuffled(digits)
    _check_same_as(dyn, digits, perm=perm)
    for e in (1, 8):
        np.testing.assert_array_equal(dyn.prediction(e), digits.prediction(e)[perm])
        h = dyn.head(e)
        assert h is not None and h.source.startswith("inferred")
        np.testing.assert_allclose(h(dyn.representation(e)), dyn.prediction(e), rtol=1e-4, atol=1e-4)
    trusted = ttvis_widget.load(era_b_path, trust_model_code=True)
    h = trusted.head(8)
    assert "prediction" in h.source
    np.testing.assert_allclose(h(trusted.representation(8)), dyn.prediction(8), rtol=1e-4, atol=1e-4)
    assert snapshot_files(era_b_path) == before


# ------------------------------------------------------------------ era C
def test_era_c(era_c_path, digits):
    before = snapshot_files(era_c_path)
    dyn = ttvis_widget.load(era_c_path)
    assert dyn.layout == "era_c"
    perm = _shuffled(digits, seed=2)
    _check_same_as(dyn, digits, perm=perm, epochs=[2, 4, 6, 8])
    for e in dyn.epochs:
        np.testing.assert_array_equal(dyn.prediction(e), digits.prediction(e)[perm])
        np.testing.assert_allclose(dyn.head(e)(dyn.representation(e)), dyn.prediction(e), rtol=1e-4, atol=1e-4)
    trusted = ttvis_widget.load(era_c_path, trust_model_code=True)
    np.testing.assert_allclose(trusted.head(6)(trusted.representation(6)), dyn.prediction(6), rtol=1e-4, atol=1e-4)
    assert snapshot_files(era_c_path) == before


def test_era_c_text_and_all_train(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "text"
    (root / "dataset").mkdir(parents=True)
    (root / "dataset" / "text.txt").write_text("\n".join(f"def f{i}(): return {i}" for i in range(20)) + "\n")
    for k in (5, 10, 15):
        (root / "epochs" / f"epoch_{k}").mkdir(parents=True)
        np.save(root / "epochs" / f"epoch_{k}" / "embeddings.npy", rng.normal(size=(20, 6)).astype(np.float32))
    dyn = ttvis_widget.load(root)
    assert dyn.epochs == [5, 10, 15] and dyn.media == "text" and dyn.labels is None
    assert dyn.sample_text(3) == "def f3(): return 3" and dyn.sample_image(3) is None
    assert (dyn.split == 0).all() and dyn.prediction(5) is None and dyn.head(5) is None


# ------------------------------------------------------------------ config parsing
def test_lenient_config(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"a": [1, 2,], // note\n "b": "x // y", /* block */ "c": {"d": 1,},}')
    assert read_lenient_json(p) == {"a": [1, 2], "b": "x // y", "c": {"d": 1}}
    p.write_text('{"a": __import__("os")}')
    with pytest.raises(TrainingDynamicsError, match="not valid JSON"):
        read_lenient_json(p)
