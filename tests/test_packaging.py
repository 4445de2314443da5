"""Install like any widget: the sdist and the wheel built from a clean copy of the checkout carry the front end,
and the wheel, installed into a fresh venv (torch==2.13.0 first), works from a folder outside the repository.

One build for all assertions: the sdist from the clean copy (its build hook runs js/'s npm build), then the wheel
from that sdist with `npm` and `node` replaced by commands that fail, which proves that an sdist installs without
Node. The fresh venv is made without pip of its own (this environment's pip installs into it with --python) and
packages are installed without byte-compiling: the same files, minutes cheaper on 2 cores.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import ttvis_widget

ROOT = Path(__file__).resolve().parents[1]
VERSION = ttvis_widget.__version__
BUNDLE = "ttvis_widget/static/widget.js"


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _clean_copy(dest: Path) -> Path:
    """The files git would commit (tracked and untracked, minus .gitignore'd: no node_modules, no built bundle,
    no .venv), copied to ``dest``: what a fresh clone of this working tree holds."""
    assert (ROOT / ".git").exists(), f"{ROOT} is not a git checkout: this test builds from the checkout's files"
    out = _run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"]).stdout
    for rel in filter(None, out.split("\0")):
        src = ROOT / rel
        if not (src.exists() or src.is_symlink()):
            continue  # deleted in the working tree, not yet committed
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel, follow_symlinks=False)
    return dest


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("packaging")
    src = _clean_copy(tmp / "src")
    assert not (src / BUNDLE).exists() and not (src / "js" / "node_modules").exists()
    dist = tmp / "dist"
    _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", dist, src])
    (sdist,) = dist.glob("*.tar.gz")
    shims = tmp / "no-node"
    shims.mkdir()
    for name in ("npm", "node"):
        (shims / name).write_text("#!/bin/sh\necho \"$0: Node is not needed to install an sdist\" >&2\nexit 127\n")
        (shims / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{shims}{os.pathsep}{os.environ['PATH']}")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-w", dist,
          sdist], env=env)
    (wheel,) = dist.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "tmp": tmp}


def test_wheel_carries_the_bundle_the_notebook_and_the_metadata(dists):
    with zipfile.ZipFile(dists["wheel"]) as z:
        names = set(z.namelist())
        bundle = z.read(BUNDLE)
        meta = z.read(f"ttvis_widget-{VERSION}.dist-info/METADATA").decode()
    assert len(bundle) > 10_000 and b"render" in bundle and b"WebGL" in bundle  # the real bundle, minified
    assert "ttvis_widget/demo/quickstart.ipynb" in names
    assert f"ttvis_widget-{VERSION}.dist-info/licenses/LICENSE" in names
    assert not any(n.startswith(("js/", "tests/")) for n in names)
    for line in ("License: MIT", "Project-URL: Repository, https://github.com/ttvis/ttvis_widget",
                 "Classifier: License :: OSI Approved :: MIT License", "Provides-Extra: demo", "Provides-Extra: dev"):
        assert line in meta, line


def test_sdist_carries_the_js_sources_and_the_built_bundle(dists):
    top = f"ttvis_widget-{VERSION}"
    with tarfile.open(dists["sdist"]) as t:
        names = set(t.getnames())
        bundle = t.extractfile(f"{top}/{BUNDLE}").read()
    js_src = {f"{top}/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "js" / "src").rglob("*.js")}
    assert js_src and js_src <= names
    for rel in ("js/package.json", "js/package-lock.json", "js/build.mjs", "LICENSE", "pyproject.toml",
                "ttvis_widget/demo/quickstart.ipynb"):
        assert f"{top}/{rel}" in names, rel
    assert not any("node_modules" in n for n in names)
    with zipfile.ZipFile(dists["wheel"]) as z:
        assert z.read(BUNDLE) == bundle  # the wheel, built from the sdist without Node, ships the sdist's bundle


@pytest.fixture(scope="module")
def fresh_venv(dists):
    venv = dists["tmp"] / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    py = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", py, "install", "--quiet", "--no-compile"]
    _run([*pip, "torch==2.13.0"])  # the pinned CPU wheel first, so the wheel's torch>=2.9 keeps it
    _run([*pip, dists["wheel"]])
    outside = dists["tmp"] / "elsewhere"
    outside.mkdir()
    return {"bin": venv / "bin", "cwd": outside}


def test_installed_wheel_works_outside_the_repository(dists, fresh_venv):
    b, cwd = fresh_venv["bin"], fresh_venv["cwd"]
    r = _run([b / "ttvis", "--version"], cwd=cwd)
    assert r.stdout.strip() == f"ttvis {VERSION}"
    probe = ("import json, ttvis_widget; from ttvis_widget import TimeTravelWidget as W; "
             "from ttvis_widget.demo.cli import NOTEBOOK; "
             "print(json.dumps({'file': ttvis_widget.__file__, 'esm': str(W._esm), 'nb': NOTEBOOK.is_file()}))")
    got = json.loads(_run([b / "python", "-c", probe], cwd=cwd).stdout)
    assert Path(got["file"]).is_relative_to(b.parent)  # the installed copy, not this checkout
    with zipfile.ZipFile(dists["wheel"]) as z:
        assert got["esm"] == z.read(BUNDLE).decode()  # _esm is the real bundle, not the "not built" stand-in
    assert got["nb"]


def test_installed_demo_without_its_extra_says_what_to_install_at_once(fresh_venv):
    """Without the [demo] extra, `ttvis demo --headless` stops before recording anything and names the extra."""
    cwd = fresh_venv["cwd"]
    r = subprocess.run([fresh_venv["bin"] / "ttvis", "demo", "--headless", "--data", "fm", "--workdir", "w"],
                       cwd=cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "nbclient" in r.stderr and "pip install 'ttvis_widget[demo]'" in r.stderr
    assert list(cwd.iterdir()) == []  # nothing recorded, no folder made
