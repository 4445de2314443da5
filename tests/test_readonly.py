"""Read-only and shared data (issue 30, item 3): a content folder the user cannot write gets its results in the
per-user cache, keyed by what the folder holds, with a one-line notice instead of a failure.

Tests run as root, whom file modes do not stop, so the checks run for real as an unprivileged user: a copy of the
digits fixture owned by root and readable by all, and a child process as ``nobody`` (``setpriv``, util-linux)
that fits, asks for the training figures and reports what happened. A non-root user runs the child as itself
(file modes then stop it already)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CHILD = r"""
import json, os, sys, warnings
from pathlib import Path
import ttvis_widget
from ttvis_widget.store.cache_location import CacheLocationNotice, NoWritableCacheError

case, content = sys.argv[1], Path(sys.argv[2])
out = {"case": case}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        dyn = ttvis_widget.load(content)
        run = ttvis_widget.fit(dyn, method="pca", epochs=[1, 2], progress=False)
        dyn.training_metrics()
        out.update(run_path=str(run.path), output_dir=str(dyn.output_dir), n_rows=int(len(run.embedding(2))))
        if case == "shipped":
            out["territory"] = run.territory(2) is not None
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.update(error=type(e).__name__, message=str(e), is_oserror=isinstance(e, OSError),
                   filename=getattr(e, "filename", None))
out["notices"] = [str(w.message) for w in caught if issubclass(w.category, CacheLocationNotice)]
print(json.dumps(out))
"""


def hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shared(digits_path):
    """A root-owned, world-readable, nobody-writable copy of the digits fixture (and a second copy, at another
    path), under a folder every user can reach; a home folder and a cache folder owned by the child's user."""
    base = Path(tempfile.mkdtemp(prefix="ttvis-ro-"))
    os.chmod(base, 0o755)
    a, b = base / "shared" / "digits", base / "mirror" / "digits"
    for d in (a, b):
        shutil.copytree(digits_path, d, ignore=shutil.ignore_patterns("ttvis_cache"))
        m = json.loads((d / "ttvis.json").read_text())  # as recorded before the writer kept the figures, so that
        m.pop("computed_metrics", None)  # the store computes them and caches them in output_dir
        (d / "ttvis.json").write_text(json.dumps(m))
    for d in (base / "shared", base / "mirror"):
        for p in [d, *d.rglob("*")]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
    home, cache = base / "home", base / "cache"
    for p in (home, cache):
        p.mkdir()
        if os.geteuid() == 0:
            os.chown(p, 65534, 65534)  # nobody
    yield {"a": a, "b": b, "home": home, "cache": cache, "base": base}
    for p in base.rglob("*"):
        if p.is_dir():
            os.chmod(p, 0o755)
    shutil.rmtree(base)


def run_child(case, content, env_extra, home):
    env = {k: v for k, v in os.environ.items() if k not in ("TTVIS_CACHE", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), NUMBA_CACHE_DIR=str(home / "numba"), **env_extra)
    cmd = [sys.executable, "-c", CHILD, case, str(content)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "needs setpriv (util-linux) to run as an unprivileged user: apt-get install util-linux"
        cmd = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=home)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_a_read_only_folder_uses_TTVIS_CACHE_with_a_notice(shared):
    before = hashes(shared["a"])
    out = run_child("env", shared["a"], {"TTVIS_CACHE": str(shared["cache"])}, shared["home"])
    assert "error" not in out, out
    out_dir = Path(out["output_dir"])
    assert out_dir.parent == shared["cache"] / "content" and out_dir.name.startswith("digits-")
    assert Path(out["run_path"]).parent == out_dir / "runs" and out["n_rows"] == 1797
    assert (out_dir / "training_metrics.json").is_file()  # the store's computed figures went there too
    assert json.loads((out_dir / "content.json").read_text())["content_path"] == str(shared["a"].resolve())
    (notice,) = out["notices"]  # one line, naming the folder and where the results go
    assert "\n" not in notice and str(shared["a"]) in notice and str(out_dir) in notice and "TTVIS_CACHE" in notice
    assert hashes(shared["a"]) == before and not (shared["a"] / "ttvis_cache").exists()

    # the same content at another path shares the results (the run is loaded, not refitted); its identity is
    # what the folder holds, not where it is
    before_b = hashes(shared["b"])
    again = run_child("env", shared["b"], {"TTVIS_CACHE": str(shared["cache"])}, shared["home"])
    assert again["run_path"] == out["run_path"]
    assert hashes(shared["b"]) == before_b


def test_without_TTVIS_CACHE_the_platform_user_cache_is_used(shared):
    before = hashes(shared["a"])
    out = run_child("platform", shared["a"], {}, shared["home"])
    assert "error" not in out, out
    assert Path(out["output_dir"]).is_relative_to(shared["home"] / ".cache" / "ttvis_widget" / "content")
    assert len(out["notices"]) == 1 and str(shared["a"]) in out["notices"][0]
    assert hashes(shared["a"]) == before


def test_nowhere_to_write_is_a_typed_error_naming_the_folders(shared):
    locked = shared["base"] / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)  # root's, not writable by nobody
    before = hashes(shared["a"])
    out = run_child("locked", shared["a"], {"TTVIS_CACHE": str(locked)}, shared["home"])
    assert out.get("error") == "NoWritableCacheError" and out["is_oserror"], out
    assert str(shared["a"] / "ttvis_cache") in out["message"] and str(locked) in out["filename"]
    assert "TTVIS_CACHE" in out["message"]
    assert hashes(shared["a"]) == before


@pytest.fixture(scope="module")
def shipped(digits_path):
    """A read-only content folder that holds a finished PCA run of epochs 1-2 in its own ttvis_cache (a shared
    dataset shipped with its visualization), fitted as root before the folder was locked."""
    import ttvis_widget

    base = Path(tempfile.mkdtemp(prefix="ttvis-shipped-"))
    os.chmod(base, 0o755)
    d = base / "digits"
    shutil.copytree(digits_path, d, ignore=shutil.ignore_patterns("ttvis_cache"))
    ttvis_widget.fit(d, method="pca", epochs=[1, 2], progress=False)
    for p in [d, *d.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    yield d
    for p in [base, *base.rglob("*")]:
        if p.is_dir():
            os.chmod(p, 0o755)
    shutil.rmtree(base)


def test_a_finished_run_shipped_in_a_read_only_folder_is_read_in_place(shipped, shared):
    before = hashes(shipped)
    out = run_child("shipped", shipped, {"TTVIS_CACHE": str(shared["cache"])}, shared["home"])
    assert "error" not in out, out
    run_path = Path(out["run_path"])
    assert run_path.parent == shipped / "ttvis_cache" / "runs"  # read where it was shipped, not fitted again
    assert out["n_rows"] == 1797 and out["territory"]  # a territory is computed, kept in memory
    assert not (Path(out["output_dir"]) / "runs").exists()  # nothing fitted into the per-user cache
    assert hashes(shipped) == before
