"""Demo dynamics: IDX reading, the Fashion-MNIST recording (small), reuse, digits fallback, CLI; ``ttvis demo``'s
checks before any long step, its packaged notebook."""
import gzip
import importlib.util
import subprocess
import sys
from pathlib import Path

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
    """The README's demo command minus setup: data -> fit -> execute the packaged quickstart notebook headless."""
    import shutil

    data = tmp_path / "digits"
    shutil.copytree(digits_path, data)
    r = subprocess.run([sys.executable, "-m", "ttvis_widget.cli", "demo", "--headless", "--data", str(data),
                        "--method", "pca", "--workdir", str(tmp_path / "work")], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert "OK: executed" in r.stdout and "1 widget view(s)" in r.stdout
    assert any((data / "ttvis_cache" / "runs").glob("pca-*/manifest.json"))


def test_quickstart_notebook_is_package_data_with_one_source():
    """The notebook ships inside the package (so an installed wheel has it); the checkout's notebooks/ copy is
    a link to it, not a second copy that could drift."""
    import nbformat

    from ttvis_widget.demo.cli import NOTEBOOK

    assert NOTEBOOK.is_file() and NOTEBOOK.parent.name == "demo"
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))
    link = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
    assert link.is_symlink() and link.resolve() == NOTEBOOK


def _demo_args(tmp_path, *extra):
    from ttvis_widget.cli import build_parser

    return build_parser().parse_args(["demo", "--data", str(tmp_path / "data"), "--workdir", str(tmp_path / "w"),
                                      *extra])


@pytest.fixture
def no_long_steps(monkeypatch):
    """Fails the test if the demo gets as far as recording or fitting."""
    from ttvis_widget.demo import fashion

    def boom(*a, **k):
        raise AssertionError("a long step ran before the checks stopped the demo")

    monkeypatch.setattr(fashion, "make_fashion_dynamics", boom)
    monkeypatch.setattr(ttvis_widget, "fit", boom, raising=False)


def test_demo_checks_everything_before_any_long_step(tmp_path, monkeypatch, capsys, no_long_steps):
    """Missing packages, a missing notebook and folders it cannot write are all named at once, with what to
    install, before anything is recorded or fitted; nothing is written."""
    import importlib.util

    from ttvis_widget.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n in ("nbclient", "nbformat") else real(n, *a))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = main(["demo", "--headless", "--data", str(tmp_path / "data"), "--workdir", str(blocker / "w"),
               "--notebook", str(tmp_path / "missing.ipynb")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot start" in err
    assert "nbformat, nbclient" in err and "pip install 'ttvis_widget[demo]'" in err
    assert f"{tmp_path / 'missing.ipynb'} not found" in err
    assert f"{blocker} is a file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]  # nothing recorded, no folder made


def test_demo_checks_serving_needs_and_existing_data(tmp_path, monkeypatch, no_long_steps):
    import socket

    from ttvis_widget.demo.cli import preflight

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "stray.txt").write_text("not training dynamics")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "jupyterlab" else real(n, *a))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        problems, notes = preflight(_demo_args(tmp_path, "--port", str(port)))
    text = "\n".join(problems)
    assert "missing Python packages jupyterlab (needed to open the notebook)" in text
    assert f"port {port} on 127.0.0.1 is in use" in text
    assert str(tmp_path / "data") in text  # an existing folder that is not training dynamics, named
    assert len(problems) == 3 and notes == []


def test_demo_without_fashion_mnist_says_so_first_and_goes_on_with_digits(tmp_path, monkeypatch):
    from ttvis_widget.demo import idx
    from ttvis_widget.demo.cli import preflight

    monkeypatch.setattr(idx, "fashion_available", lambda root=None: False)
    problems, notes = preflight(_demo_args(tmp_path, "--headless"))
    assert problems == []
    assert len(notes) == 1 and "apt-get install dataset-fashion-mnist" in notes[0] and "digits" in notes[0]


def test_demo_copies_the_notebook_into_its_workdir_and_keeps_a_changed_copy(tmp_path, capsys):
    from ttvis_widget.demo.cli import NOTEBOOK, _copy_notebook

    nb = _copy_notebook(NOTEBOOK, tmp_path)
    assert nb == tmp_path / "quickstart.ipynb" and nb.read_bytes() == NOTEBOOK.read_bytes()
    nb.write_text("{}")  # the user's own edits
    assert _copy_notebook(NOTEBOOK, tmp_path) == nb and nb.read_text() == "{}"
    assert "keeping your changed" in capsys.readouterr().out
