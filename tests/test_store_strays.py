"""Nothing in a data folder is silently skipped: an entry that looks like part of a layout but is not read is named
in a TrainingDynamicsWarning (skipping it is safe) or a TrainingDynamicsError (it is not). One case per row: the
type, the entry named in the message, and the folder byte-identical afterwards. docs/FORMATS.md ("Nothing
silently skipped") lists the same cases."""
from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import snapshot_files
from test_bad_input import pristine  # noqa: F401 - the shared read-only folders, one per layout

import ttvis_widget
from ttvis_widget import TrainingDynamicsError, TrainingDynamicsWarning

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _copy(src, dst):
    def mutate(root: Path):
        s, d = root / src, root / dst
        shutil.copytree(s, d) if s.is_dir() else shutil.copyfile(s, d)
    return mutate


def _mkdir(rel):
    return lambda root: (root / rel).mkdir(parents=True)


def _touch(rel, data=b"x"):
    def mutate(root: Path):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return mutate


def _rm(rel):
    return lambda root: (root / rel).unlink()


def _png(root: Path, rel):
    from PIL import Image

    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / rel)


def _images(*names):
    def mutate(root: Path):
        for n in names:
            _png(root, n)
    return mutate


def _both(*mutations):
    def mutate(root: Path):
        for m in mutations:
            m(root)
    return mutate


def _era_a_range_1_to_3(root: Path):
    cfg = root / "config.json"
    cfg.write_text(cfg.read_text().replace('"EPOCH_END": 4', '"EPOCH_END": 3'))


# (layout, mutation, entry named, regex on the message, "warn" | "error")
CASES = {
    # ---- our layout
    "ttvis-epoch-name": ("ttvis", _mkdir("epochs/Epoch_x"), "epochs/Epoch_x", "one folder per epoch", "warn"),
    "ttvis-epoch-bak": ("ttvis", _copy("epochs/3", "epochs/3.bak"), "epochs/3.bak", "not read", "warn"),
    "ttvis-epoch-zeros": ("ttvis", _copy("epochs/3", "epochs/003"), "epochs/003", "in decimal", "warn"),
    "ttvis-epoch-file": ("ttvis", _touch("epochs/9"), "epochs/9", "one folder per epoch", "warn"),
    "ttvis-epoch-unlisted": ("ttvis", _copy("epochs/8", "epochs/9"), "epochs/9", "not listed in ttvis.json", "warn"),
    "ttvis-file-bak": ("ttvis", _copy("epochs/3/representation.npy", "epochs/3/representation.npy.bak"),
                       "epochs/3/representation.npy.bak", "epoch folder holds", "warn"),
    "ttvis-file-stray": ("ttvis", _copy("epochs/3/representation.npy", "epochs/3/representation_foo.npy"),
                         "epochs/3/representation_foo.npy", "not read", "warn"),
    "ttvis-file-tmp": ("ttvis", _touch("epochs/3/.prediction.npy.k2j4x.tmp"), "epochs/3/.prediction.npy.k2j4x.tmp",
                       "temporary file left by an interrupted write", "warn"),
    "ttvis-samples-stray": ("ttvis", _copy("samples/labels.npy", "samples/labels_old.npy"), "samples/labels_old.npy",
                            "samples/ holds", "warn"),
    "ttvis-samples-media": ("ttvis", _touch("samples/texts.json", b"[]"), "samples/texts.json", "media = 'image'",
                            "warn"),
    # ---- era A
    "a-epoch-name": ("era_a", _mkdir("Model/Epoch_x"), "Model/Epoch_x", r"Model/Epoch_<e>/", "warn"),
    "a-epoch-bak": ("era_a", _copy("Model/Epoch_3", "Model/Epoch_3.bak"), "Model/Epoch_3.bak", "not read", "warn"),
    "a-epoch-case": ("era_a", _copy("Model/Epoch_3", "Model/epoch_3"), "Model/epoch_3", "not read", "warn"),
    "a-epoch-range": ("era_a", _era_a_range_1_to_3, "Model/Epoch_4", "outside the epochs config.json asks for", "warn"),
    "a-file-bak": ("era_a", _copy("Model/Epoch_2/train_data.npy", "Model/Epoch_2/train_data.npy.bak"),
                   "Model/Epoch_2/train_data.npy.bak", "epoch folder's files are", "warn"),
    "a-file-stray": ("era_a", _copy("Model/Epoch_2/test_data.npy", "Model/Epoch_2/test_data_old.npy"),
                     "Model/Epoch_2/test_data_old.npy", "not read", "warn"),
    "a-sprite-name": ("era_a", _images("sprites/0.png", "sprites/x.png"), "sprites/x.png", "one <i>.png per sample",
                      "warn"),
    "a-sprite-range": ("era_a", _images("sprites/0.png", "sprites/1797.png"), "sprites/1797.png",
                       r"sample 1797 is out of range \(N = 1797\)", "warn"),
    "a-train-missing": ("era_a", _rm("Model/Epoch_2/train_data.npy"), "Model/Epoch_2/train_data.npy",
                        "missing, but test_data.npy is there", "error"),
    # ---- era B
    "b-rep-bak": ("era_b", _copy("dataset/representation/3.npy", "dataset/representation/3.npy.bak"),
                  "dataset/representation/3.npy.bak", "one <e>.npy per epoch", "warn"),
    "b-rep-stray": ("era_b", _copy("dataset/representation/3.npy", "dataset/representation/representation_foo.npy"),
                    "dataset/representation/representation_foo.npy", "not read", "warn"),
    "b-rep-name": ("era_b", _copy("dataset/representation/3.npy", "dataset/representation/epoch_3.npy"),
                   "dataset/representation/epoch_3.npy", "not read", "warn"),
    "b-rep-folder": ("era_b", _mkdir("dataset/representation/5.npy"), "dataset/representation/5.npy", "not read",
                     "warn"),
    "b-pred-orphan": ("era_b", _copy("dataset/prediction/3.npy", "dataset/prediction/9.npy"),
                      "dataset/prediction/9.npy", r"epoch 9 has no representation", "warn"),
    "b-model-bak": ("era_b", _copy("model/3.pth", "model/3.pth.bak"), "model/3.pth.bak", "one <e>.pth per epoch", "warn"),
    "b-model-orphan": ("era_b", _copy("model/3.pth", "model/7.pth"), "model/7.pth", "epoch 7 has no representation",
                       "warn"),
    "b-label-stray": ("era_b", _copy("dataset/label/labels.npy", "dataset/label/labels_v2.npy"),
                      "dataset/label/labels_v2.npy", "holds labels.npy", "warn"),
    "b-image-name": ("era_b", _images("dataset/image/0.png", "dataset/image/0 (copy).png"),
                     "dataset/image/0 (copy).png", "one <i>.png per sample", "warn"),
    # ---- era C
    "c-epoch-name": ("era_c", _mkdir("epochs/epoch_x"), "epochs/epoch_x", "one epoch_<k>/ folder per epoch", "warn"),
    "c-epoch-bak": ("era_c", _copy("epochs/epoch_4", "epochs/epoch_4.bak"), "epochs/epoch_4.bak", "not read", "warn"),
    "c-epoch-case": ("era_c", _copy("epochs/epoch_4", "epochs/Epoch_10"), "epochs/Epoch_10", "not read", "warn"),
    "c-epoch-file": ("era_c", _touch("epochs/epoch_10"), "epochs/epoch_10", "not read", "warn"),
    "c-file-bak": ("era_c", _copy("epochs/epoch_4/embeddings.npy", "epochs/epoch_4/embeddings.npy.bak"),
                   "epochs/epoch_4/embeddings.npy.bak", "epoch folder holds", "warn"),
    "c-file-stray": ("era_c", _copy("epochs/epoch_4/embeddings.npy", "epochs/epoch_4/representation_foo.npy"),
                     "epochs/epoch_4/representation_foo.npy", "not read", "warn"),
    "c-pred-missing": ("era_c", _rm("epochs/epoch_4/predictions.npy"), "epochs/epoch_4/predictions.npy",
                       "missing here but present in other epochs", "warn"),
    "c-image-bak": ("era_c", _both(_images("dataset/image/5.png"), _touch("dataset/image/5.png.bak")),
                    "dataset/image/5.png.bak", "one <i>.png per sample", "warn"),
}
# Errors for unreadable entries, unparsable JSON and epoch folders missing a required file are in
# tests/test_bad_input.py (e.g. ttvis-garbage-manifest, a-garbage-config, b-missing-pred, c-missing-emb).


@pytest.mark.parametrize("case", sorted(CASES))
def test_entry_not_read_is_named(case, pristine, tmp_path):  # noqa: F811 - pristine is the imported fixture
    layout, mutate, entry, problem, kind = CASES[case]
    root = tmp_path / "run"
    shutil.copytree(pristine[layout], root)
    epochs = ttvis_widget.load(root).epochs
    mutate(root)
    before = snapshot_files(root)
    named = str(root / entry)
    if kind == "error":
        with pytest.raises(TrainingDynamicsError) as ei:
            ttvis_widget.load(root)
        assert ei.value.path == named and re.search(problem, str(ei.value)), str(ei.value)
    else:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            dyn = ttvis_widget.load(root)
        ours = [w.message for w in rec if issubclass(w.category, TrainingDynamicsWarning)]
        assert [w.path for w in ours] == [named], [str(w) for w in ours]
        assert str(ours[0]).startswith(named + ": ") and re.search(problem, str(ours[0])), str(ours[0])
        assert isinstance(ours[0], UserWarning)
        assert [(str(p), r) for p, r in dyn.skipped] == [(named, ours[0].problem)]
        # the rest of the folder reads as before
        assert dyn.epochs == [e for e in epochs if not (case == "a-epoch-range" and e == 4)]
        dyn.representation(dyn.epochs[-1])
    assert snapshot_files(root) == before


def test_clean_folders_warn_nothing(pristine):  # noqa: F811
    for layout, root in pristine.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error", TrainingDynamicsWarning)
            assert ttvis_widget.load(root).skipped == [], layout


def test_many_strays_name_ten_then_count_the_rest(pristine, tmp_path):  # noqa: F811
    root = tmp_path / "run"
    shutil.copytree(pristine["era_c"], root)
    names = [f"dataset/image/{i}.png.orig" for i in range(25)]
    for n in names:
        _touch(n)(root)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        dyn = ttvis_widget.load(root)
    msgs = [w.message for w in rec if issubclass(w.category, TrainingDynamicsWarning)]
    assert len(msgs) == 11 and len(dyn.skipped) == 25
    assert all(m.path is not None for m in msgs[:10]) and msgs[10].path is None
    assert "15 more entries are not read" in str(msgs[10]) and "dynamics.skipped" in str(msgs[10])
    # the filter users are told about silences them
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=ttvis_widget.TrainingDynamicsWarning)
        ttvis_widget.load(root)
    assert not rec
