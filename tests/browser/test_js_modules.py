"""The front end's pure modules (js/src: flags, timeline, sync, panel host) under node's own test runner
(`cd js && npm test`), and the js/src house rules: one job per file, said in its opening comment, no file
over ~450 lines. No browser needed; lives beside the browser tests because it tests the same front end."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "js"
MAX_LINES = 450


def test_js_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        pytest.fail("the JS unit tests need node (apt-get install nodejs; scripts/setup.sh installs it)",
                    pytrace=False)
    r = subprocess.run([node, "--test", "test/"], cwd=JS, capture_output=True, text=True, timeout=120)
    summary = [ln for ln in r.stdout.splitlines() if ln.startswith(("# pass", "# fail", "not ok"))]
    assert r.returncode == 0, f"node --test failed: {summary}\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}"
    assert any(ln.startswith("# pass") and int(ln.split()[-1]) > 0 for ln in summary), r.stdout[-2000:]


def test_js_src_files_are_small_and_say_their_job():
    files = sorted((JS / "src").rglob("*.js"))
    assert len(files) >= 10, files
    for f in files:
        lines = f.read_text().splitlines()
        assert len(lines) <= MAX_LINES, f"{f.relative_to(JS)} has {len(lines)} lines (limit ~{MAX_LINES})"
        assert lines and lines[0].startswith("//") and len(lines[0]) > 30, \
            f"{f.relative_to(JS)} does not open with a comment saying its one job"
