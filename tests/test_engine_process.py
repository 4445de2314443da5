"""Engine behaviour that needs a real process or the real demo dynamics.

* a ``ttvis fit`` process killed with SIGKILL mid-run resumes from its last finished epoch;
* on real Fashion-MNIST dynamics (the demo's CNN, recorded on a class-balanced 3,000-image subset for 4 epochs
  rather than the README demo's 12,000 for 15, which took ~6 min of the suite), DVI and TimeVis with their
  default settings: inverse round trips keep the head's prediction (PPR >= 0.9 at the last epoch) and the
  layouts keep far more neighbours than PCA does.
"""
import json
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ttvis_widget
from ttvis_widget.metrics.neighbors import nn_exact

pytestmark = pytest.mark.slow  # ttvis fit processes, a CNN recorded and fitted with the default settings

# the resume is what is checked, not the layout's quality: test_faults' small step counts on one torch thread
SMALL = ["--param", "layout_steps_first=100", "--param", "layout_steps=40", "--param", "encoder_steps_first=150",
         "--param", "encoder_steps=60", "--param", "decoder_steps_first=40", "--param", "decoder_steps=20",
         "--param", "num_threads=1"]


def test_sigkilled_fit_resumes_from_last_finished_epoch(digits_path, tmp_path):
    data = tmp_path / "digits"
    shutil.copytree(digits_path, data)
    cmd = [sys.executable, "-m", "ttvis_widget.cli", "fit", str(data), "--method", "dvi", "--epochs", "1-8",
           "--quiet", *SMALL]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = data / "ttvis_cache" / "runs"
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(runs.glob("dvi-*/embedding_*.npy"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the fit finished before it could be killed: " + proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    (run_dir,) = runs.glob("dvi-*")
    done_before = sorted(int(p.stem.split("_")[1]) for p in run_dir.glob("embedding_*.npy"))
    assert 2 <= len(done_before) < 8
    assert not json.loads((run_dir / "manifest.json").read_text()).get("complete")
    kept = {e: (run_dir / f"embedding_{e}.npy").read_bytes() for e in done_before}

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m.get("complete") is True
    assert m["resumed_epochs"] == done_before[: len(m["resumed_epochs"])] and len(m["resumed_epochs"]) >= len(done_before) - 1
    for e in m["resumed_epochs"]:  # finished epochs are reused byte for byte, not refitted
        assert (run_dir / f"embedding_{e}.npy").read_bytes() == kept[e]
    run = ttvis_widget.fit(data, method="dvi", epochs=list(range(1, 9)), progress=False,
                           **{p.split("=")[0]: int(p.split("=")[1]) for p in SMALL[1::2]})
    assert run.path == run_dir and all(np.isfinite(run.embedding(e)).all() for e in range(1, 9))


@pytest.fixture(scope="module")
def fashion_demo(tmp_path_factory):
    """The demo's CNN on Fashion-MNIST, recorded small: 2,500 train + 500 test images, 4 epochs (~30 s)."""
    from ttvis_widget.demo.fashion import make_fashion_dynamics
    from ttvis_widget.demo.idx import fashion_available

    assert fashion_available(), ("needs the Fashion-MNIST data of Debian's dataset-fashion-mnist, which is not installed: "
                                 "apt-get install dataset-fashion-mnist (scripts/setup.sh does it)")
    out = tmp_path_factory.mktemp("fashion") / "fashion_mnist"
    return ttvis_widget.load(make_fashion_dynamics(out, n_train=2500, n_test=500, epochs=4, progress=False))


@pytest.mark.parametrize("method", ["dvi", "timevis"])
def test_demo_dynamics_ppr_and_neighbours(fashion_demo, tmp_path, method):
    dyn = fashion_demo
    last = dyn.epochs[-1]
    run = ttvis_widget.fit(dyn, method=method, epochs=dyn.epochs[-2:], cache_dir=tmp_path, progress=False)
    xy = run.embedding(last)
    assert xy.shape == (dyn.n_samples, 2) and np.isfinite(xy).all()
    rec = run.inverse(last, xy)
    ppr = float((dyn.head(last)(rec).argmax(1) == dyn.predicted_class(last)).mean())
    assert ppr >= 0.9, f"{method}: PPR {ppr:.3f} at epoch {last}"
    rng = np.random.default_rng(0)
    sub = rng.choice(dyn.n_samples, 3000, replace=False)
    reps = dyn.representation(last)[sub]
    nn = nn_exact(reps, xy[sub], k=15)
    nn_pca = nn_exact(reps, (reps - reps.mean(0)) @ np.linalg.svd(reps - reps.mean(0), full_matrices=False)[2][:2].T, k=15)
    assert nn > 2 * nn_pca, f"{method}: NN@15 {nn:.3f} vs PCA {nn_pca:.3f}"
