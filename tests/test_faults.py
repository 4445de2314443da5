"""No data loss under faults (issue 30, item 4).

* a DVI fit killed with SIGKILL at random moments (several kills, each in its own ``ttvis fit`` process, at
  times drawn from a seeded RNG) always leaves a run folder that loads right, and the fit resumed after the last
  kill ends with the same embeddings, byte for byte, as an uninterrupted fit with the same seed;
* a full disk (ENOSPC at the write call, ``os.write``) while a result is written raises ``ResultWriteError``
  naming the file, and leaves the previous state of the run folder intact; the input folder is never touched.
"""
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ttvis_widget import fit
from ttvis_widget.store.atomic import ResultWriteError, atomic_write_bytes, atomic_write_npy

# small step counts and one torch thread (two threads on two shared cores wait for each other): 5 epochs of the
# digits fixture fit in ~10 s
SMALL = {"layout_steps_first": 100, "layout_steps": 40, "encoder_steps_first": 150, "encoder_steps": 60,
         "decoder_steps_first": 40, "decoder_steps": 20, "num_threads": 1}
EPOCHS = "1-5"


def hashes(root: Path) -> dict:
    """{relative path: sha256} of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _cmd(data, cache):
    params = [x for k, v in SMALL.items() for x in ("--param", f"{k}={v}")]
    return [sys.executable, "-m", "ttvis_widget.cli", "fit", str(data), "--method", "dvi", "--epochs", EPOCHS,
            "--quiet", "--cache-dir", str(cache), *params]


def _check_loads_right(run_dir: Path, n: int) -> list[int]:
    """What a later fit or load reads from a killed run folder is whole: the manifest parses and is not
    complete, every finished epoch's embedding and model load. Returns the finished epochs."""
    import torch

    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["complete"] is False
    done = sorted(int(p.stem.split("_")[1]) for p in run_dir.glob("embedding_*.npy"))
    for e in done:
        emb = np.load(run_dir / f"embedding_{e}.npy", allow_pickle=False)
        assert emb.shape == (n, 2) and np.isfinite(emb).all()
        torch.load(run_dir / "models" / f"epoch_{e}.pt", weights_only=True)
        torch.load(run_dir / "state" / f"rng_{e}.pt", weights_only=True)
    return done


def _finished(cache: Path) -> int:
    """Finished epochs in the run folder under ``cache`` (-1: no run folder yet)."""
    runs = list((cache / "runs").glob("dvi-*"))
    return len(list(runs[0].glob("embedding_*.npy"))) if runs else -1


@pytest.mark.slow  # six ttvis fit processes
def test_repeated_sigkill_resumes_to_the_uninterrupted_result(digits_path, tmp_path):
    before = hashes(digits_path)
    ref_cache, cache = tmp_path / "reference", tmp_path / "killed"
    t0 = time.monotonic()
    r = subprocess.run(_cmd(digits_path, ref_cache), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    full_s = time.monotonic() - t0
    (ref_dir,) = (ref_cache / "runs").iterdir()

    timings = json.loads((ref_dir / "manifest.json").read_text())["timings"]["epochs"]
    epoch_s = float(np.mean([t["train_s"] + t["graph_s"] for e, t in timings.items() if e != "1"]))

    # the first kill at a random moment of the whole fit (often the start or the first epoch); each later one
    # a random moment after the next epoch is finished, so that the kills land all over the fit
    rng = np.random.default_rng(30)
    stages = []
    for i in range(4):
        proc = subprocess.Popen(_cmd(digits_path, cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if i == 0:
            time.sleep(float(rng.uniform(0.1, 0.6)) * full_s)
        else:
            have = _finished(cache)
            deadline = time.monotonic() + 300
            while proc.poll() is None and _finished(cache) <= have and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(float(rng.uniform(0.0, 1.2)) * epoch_s)
        finished = proc.poll() is not None
        if not finished:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        runs = list((cache / "runs").glob("dvi-*"))
        if finished:
            assert proc.returncode == 0, proc.stderr.read().decode()[-3000:]
            stages.append("finished before the kill")
            break
        if not runs or not (runs[0] / "manifest.json").exists():
            stages.append("before the fit started")
            continue
        run_dir = runs[0]
        if json.loads((run_dir / "manifest.json").read_text())["complete"]:  # killed on its way out
            stages.append("after the fit completed")
            break
        done = _check_loads_right(run_dir, 1797)
        stray = len(list(run_dir.rglob(".*.tmp")))
        stages.append(f"after {len(done)} epochs" + (f" ({stray} half-written temporary file)" if stray else ""))
    print("kills landed:", stages)
    assert sum(s.startswith("after") for s in stages) >= 3, stages  # the kills did land inside the fit

    r = subprocess.run(_cmd(digits_path, cache), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    (run_dir,) = (cache / "runs").iterdir()
    assert run_dir.name == ref_dir.name
    assert json.loads((run_dir / "manifest.json").read_text())["complete"] is True
    for e in range(1, 6):  # resumed over and over, still the same fit
        assert (run_dir / f"embedding_{e}.npy").read_bytes() == (ref_dir / f"embedding_{e}.npy").read_bytes(), e
    assert not list(run_dir.rglob(".*.tmp"))  # the killed fits' half-written files were removed on resume
    assert hashes(digits_path) == before


def test_a_killed_writers_temporary_files_go_when_the_lock_is_taken(tmp_path):
    from ttvis_widget.engine.checkpoints import RunLock

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # exited: no process has this pid now (unless reused at once; then it stays)
    (tmp_path / "sub").mkdir()
    orphan = tmp_path / "sub" / f".embedding_3.npy.{dead_pid}-abc123.tmp"
    live = tmp_path / f".manifest.json.{os.getpid()}-def456.tmp"
    foreign = tmp_path / ".notes.txt.tmp"  # not ours (no pid): never touched
    kept = tmp_path / "embedding_2.npy"
    for f in (orphan, live, foreign, kept):
        f.write_bytes(b"x")
    lock = RunLock(tmp_path)
    assert lock.acquire(blocking=False)
    try:
        assert not orphan.exists()
        assert live.exists() and foreign.exists() and kept.read_bytes() == b"x"
    finally:
        lock.release()


def _enospc_on(match):
    """An ``os.write`` that fails with ENOSPC when the descriptor is a temporary file whose name contains
    ``match`` (every write when ``match`` is ""), like a disk that filled up."""
    real = os.write

    def write(fd, data):
        try:
            name = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            name = ""
        if name.endswith(".tmp") and match in Path(name).name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    return write


def test_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "results" / "embedding_3.npy"
    atomic_write_npy(target, np.arange(6, dtype=np.float32).reshape(3, 2))
    before = hashes(tmp_path)
    monkeypatch.setattr(os, "write", _enospc_on("embedding_3.npy"))
    with pytest.raises(ResultWriteError) as err:
        atomic_write_npy(target, np.zeros((1000, 2), np.float32))
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert str(target) in str(err.value) and "disk is full" in str(err.value) and "left as it was" in str(err.value)
    assert isinstance(err.value, OSError)  # callers that handle OSError still do
    assert hashes(tmp_path) == before  # the old file as it was, no temporary file left


def test_full_disk_while_a_fit_writes_leaves_the_run_intact(digits_path, tmp_path, monkeypatch):
    before_input = hashes(digits_path)
    stop = threading.Event()
    kw = dict(method="dvi", epochs=[1, 2, 3], cache_dir=tmp_path, progress=False, overlap=False, **SMALL)
    with pytest.raises(Exception) as stopped:
        fit(digits_path, stop=stop, callback=lambda e, emb, info: stop.set(), **kw)
    assert type(stopped.value).__name__ == "FitStopped"
    (run_dir,) = (tmp_path / "runs").iterdir()
    before = hashes(run_dir)
    assert "embedding_1.npy" in before and "embedding_2.npy" not in before

    # the disk is full from the start: nothing can be written, not even the manifest
    with monkeypatch.context() as m:
        m.setattr(os, "write", _enospc_on(""))
        with pytest.raises(ResultWriteError) as err:
            fit(digits_path, **kw)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(run_dir / "manifest.json")
    assert str(run_dir / "manifest.json") in str(err.value)
    assert hashes(run_dir) == before

    # the disk fills while epoch 2's embedding is written: its model is saved, its embedding (the mark of a
    # finished epoch) is not; epoch 1 is untouched and the folder still resumes
    with monkeypatch.context() as m:
        m.setattr(os, "write", _enospc_on("embedding_2.npy"))
        with pytest.raises(ResultWriteError) as err:
            fit(digits_path, **kw)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(run_dir / "embedding_2.npy")
    assert "embedding_2.npy" in str(err.value)
    after = hashes(run_dir)
    assert {k: v for k, v in after.items() if k in before and k != "manifest.json"} == \
           {k: v for k, v in before.items() if k != "manifest.json"}
    assert "embedding_2.npy" not in after and not [k for k in after if k.endswith(".tmp")]
    assert json.loads((run_dir / "manifest.json").read_text())["complete"] is False

    run = fit(digits_path, **kw)
    assert run.path == run_dir and run.manifest["resumed_epochs"] == [1]
    assert all(np.isfinite(run.embedding(e)).all() for e in (1, 2, 3))
    assert hashes(digits_path) == before_input
