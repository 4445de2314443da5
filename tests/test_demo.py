"""Demo dynamics: IDX reading, the Fashion-MNIST recording (small), reuse, digits fallback, CLI."""
import gzip
import subprocess
import sys

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget import TrainingDynamicsError
from ttvis_widget.demo import fashion, idx


def _write_idx(path, arr, compress=True):
    arr = np.asarray(arr, np.uint8)
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    raw = head + arr.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_read_idx_roundtrip_and_errors(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    _write_idx(tmp_path / "a.gz", a)
    _write_idx(tmp_path / "b", a, compress=False)
    assert np.array_equal(idx.read_idx(tmp_path / "a.gz"), a)
    assert np.array_equal(idx.read_idx(tmp_path / "b"), a)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(TrainingDynamicsError, match="bad magic"):
        idx.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"abc")
    with pytest.raises(TrainingDynamicsError, match="short.*10 bytes"):
        idx.read_idx(tmp_path / "short")


def test_fashion_dynamics_small_real_run(tmp_path):
    assert idx.fashion_available(), "needs Debian dataset-fashion-mnist (scripts/setup.sh installs it)"
    out = fashion.make_fashion_dynamics(tmp_path / "fm", n_train=300, n_test=100, epochs=2, progress=False)
    dyn = ttvis_widget.load(out)
    assert dyn.epochs == [1, 2] and dyn.n_samples == 400 and dyn.dim == 128
    assert dyn.class_names == idx.FASHION_CLASSES
    assert (dyn.split == 0).sum() == 300 and (dyn.split == 1).sum() == 100
    assert np.bincount(dyn.labels[dyn.split == 0], minlength=10).tolist() == [30] * 10  # class-balanced subset
    # images are the real IDX pixels of the chosen samples, with matching labels
    xtr, ytr, _, _ = idx.load_fashion_mnist()
    img0 = dyn.sample_array(0)
    hits = np.flatnonzero((xtr == img0).all(axis=(1, 2)))
    assert len(hits) >= 1 and ytr[hits[0]] == dyn.labels[0]
    # the head recorded as plain weights reproduces the recorded logits
    head = dyn.head(2)
    assert head is not None and head.is_linear
    np.testing.assert_allclose(head(dyn.representation(2)), dyn.prediction(2), rtol=1e-4, atol=1e-4)
    # deterministic for a seed, and reused when present (no retraining: files untouched)
    mtime = (out / "epochs" / "2" / "representation.npy").stat().st_mtime_ns
    fashion.make_fashion_dynamics(out, n_train=300, n_test=100, epochs=2, progress=False)
    assert (out / "epochs" / "2" / "representation.npy").stat().st_mtime_ns == mtime
    again = fashion.make_fashion_dynamics(tmp_path / "fm2", n_train=300, n_test=100, epochs=2, progress=False)
    np.testing.assert_array_equal(ttvis_widget.load(again).representation(2), dyn.representation(2))


def test_fashion_dynamics_rep_dim_is_recorded_and_part_of_the_settings(tmp_path):
    """``rep_dim`` sets the recorded width (the large benchmark case records 512); a recording at another
    width is not mistaken for a reusable one."""
    out = fashion.make_fashion_dynamics(tmp_path / "w", n_train=100, n_test=20, epochs=1, progress=False, rep_dim=24)
    dyn = ttvis_widget.load(out)
    assert dyn.dim == 24 and dyn.representation(1).shape == (120, 24)
    np.testing.assert_allclose(dyn.head(1)(dyn.representation(1)), dyn.prediction(1), rtol=1e-4, atol=1e-4)
    again = ttvis_widget.load(fashion.make_fashion_dynamics(out, n_train=100, n_test=20, epochs=1, progress=False))
    assert again.dim == 128  # re-recorded at the default width, not reused


def test_fashion_dir_from_the_environment(tmp_path, monkeypatch):
    """$TTVIS_FASHION_DIR points the reader at another copy of the four IDX files (a GPU machine without the
    Debian package, benchmarks/gpu_check.sh); an incomplete folder is named in the error."""
    rng = np.random.default_rng(0)
    for name, shape in (("train-images-idx3-ubyte.gz", (6, 28, 28)), ("train-labels-idx1-ubyte.gz", (6,)),
                        ("t10k-images-idx3-ubyte.gz", (2, 28, 28))):
        _write_idx(tmp_path / name, rng.integers(0, 10, shape))
    monkeypatch.setenv("TTVIS_FASHION_DIR", str(tmp_path))
    assert idx.fashion_dir() == tmp_path and not idx.fashion_available()
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        idx.load_fashion_mnist()
    labels = rng.integers(0, 10, (2,))
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    assert idx.fashion_available()
    xtr, ytr, xte, yte = idx.load_fashion_mnist()
    assert xtr.shape == (6, 28, 28) and np.array_equal(yte, labels)
    monkeypatch.delenv("TTVIS_FASHION_DIR")
    assert idx.fashion_dir() == idx.FASHION_DIR


def test_fashion_missing_falls_back_to_digits(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fashion, "fashion_available", lambda: False)
    with pytest.warns(UserWarning, match="apt-get install dataset-fashion-mnist"):
        out = fashion.make_fashion_dynamics(tmp_path / "fb", epochs=2, progress=False)
    assert "dataset-fashion-mnist" in capsys.readouterr().err
    dyn = ttvis_widget.load(out)
    assert dyn.n_samples == 1797 and dyn.epochs == [1, 2]
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        fashion.make_fashion_dynamics(tmp_path / "fc", epochs=2, progress=False, fallback_to_digits=False)


def test_cli_info_and_error(digits_path, tmp_path):
    r = subprocess.run([sys.executable, "-m", "ttvis_widget", "info", str(digits_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "N=1797" in r.stdout and "epochs=1..8" in r.stdout
    r = subprocess.run([sys.executable, "-m", "ttvis_widget.cli", "info", str(tmp_path / "nope")], capture_output=True, text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_demo_headless_executes_the_quickstart_notebook(digits_path, tmp_path):
    """The README's demo command minus setup: data -> fit -> execute notebooks/quickstart.ipynb headless."""
    import shutil

    data = tmp_path / "digits"
    shutil.copytree(digits_path, data)
    r = subprocess.run([sys.executable, "-m", "ttvis_widget.cli", "demo", "--headless", "--data", str(data),
                        "--method", "pca"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "OK: executed" in r.stdout and "1 widget view(s)" in r.stdout
    assert any((data / "ttvis_cache" / "runs").glob("pca-*/manifest.json"))
