import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# scripts/test.sh's two workers share two cores and each fit runs two torch threads: idle OpenMP threads sleep
# rather than spin (what BackgroundFit sets for its fits; the README's num_threads note). Read once, when torch
# loads its OpenMP runtime, so set before any test imports torch; inherited by the ttvis processes tests start.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def digits_path(tmp_path_factory) -> Path:
    """Real training dynamics (digits MLP, 8 epochs, every epoch) in our layout. Shared; treat as read-only."""
    from ttvis_widget.demo import make_digits_dynamics

    return make_digits_dynamics(tmp_path_factory.mktemp("digits") / "digits", epochs=8)


@pytest.fixture(scope="session")
def digits(digits_path):
    import ttvis_widget

    return ttvis_widget.load(digits_path)


def pytest_collection_modifyitems(config, items):
    """scripts/test.sh hands whole test files to two xdist workers (``--dist loadfile --no-loadscope-reorder``) in
    the order of ``items``: files holding tests marked ``slow`` go first (the most first), then the browser
    tests (consecutive, so a worker keeps its JupyterLab, Notebook 7 and chromium between them), then the rest. A long file handed
    out last is the run's tail while the other worker idles. Within a file the order is pytest's. (Not
    ``--dist loadgroup``: pytest-xdist 3.8 marks a group in ``item._nodeid``, which pytest 9 no longer reads.)"""
    files: dict[Path, list] = {}
    for item in items:
        files.setdefault(Path(str(item.path)), []).append(item)

    def rank(path):  # the most slow tests first
        n_slow = sum(1 for i in files[path] if i.get_closest_marker("slow"))
        return (0, -n_slow) if n_slow else (1 if "browser" in path.relative_to(ROOT).parts else 2, 0)

    items[:] = [i for path in sorted(files, key=rank) for i in files[path]]


def snapshot_files(root: Path) -> dict:
    """{relative path: bytes} of every file under root, to prove a folder was left untouched."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train much faster on one torch thread than on two (restored afterwards)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _join_ttvis_threads(timeout: float) -> list[str]:
    """Join the widgets' background threads (streams, fits, analysis); the names of those still alive after."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    for th in threading.enumerate():
        if th is not threading.current_thread() and th.name.startswith("ttvis-"):
            th.join(timeout=max(0.0, deadline - time.monotonic()))
    return [th.name for th in threading.enumerate() if th.name.startswith("ttvis-") and th.is_alive()]


@pytest.fixture(autouse=True)
def _background_work_finishes():
    """Each test's widgets finish their background writes before the next test starts, so no territory file is
    still being written while a later test watches which files get opened (test_widget_messages)."""
    yield
    _join_ttvis_threads(60)


def pytest_sessionfinish(session, exitstatus):
    """No widget thread may still be inside torch when the interpreter exits: that aborts the process
    ("terminate called without an active exception", exit status 134) after every test has passed."""
    alive = _join_ttvis_threads(300)
    if alive:
        print(f"\nttvis threads still running at exit: {alive}")
