from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def digits_path(tmp_path_factory) -> Path:
    """Real training dynamics (digits MLP, 8 epochs, every epoch) in our layout. Shared; treat as read-only."""
    from ttvis_widget.demo import make_digits_dynamics

    return make_digits_dynamics(tmp_path_factory.mktemp("digits") / "digits", epochs=8)


@pytest.fixture(scope="session")
def digits(digits_path):
    import ttvis_widget

    return ttvis_widget.load(digits_path)


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
