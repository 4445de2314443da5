"""Random state of a fit: a block seeded apart from the caller's global streams, and a generator's state as a
checkpoint keeps it (resumable on another kind of device)."""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def seeded(seed: int, device=None):
    """A block in which torch's global generator is seeded with ``seed``, restored after it: the CPU's, and
    with a CUDA ``device`` that GPU's too (torch.pca_lowrank draws there). Model initialisation and
    pca_lowrank draw from the global generator; seeded this way a fit depends on its seed alone and leaves the
    caller's random streams as they were -- ``torch.manual_seed`` would also reseed every GPU for good."""
    import torch

    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda":
        index = torch.cuda.current_device() if dev.index is None else dev.index
        with torch.random.fork_rng(devices=[index], device_type="cuda"):
            torch.default_generator.manual_seed(int(seed))
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
            yield
    else:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(seed))
            yield


def generator_state(gen) -> dict:
    """What a checkpoint keeps of a torch.Generator: its state and the kind of device it draws on."""
    return {"device": gen.device.type, "state": gen.get_state()}


def restore_generator(gen, saved, reseed: int) -> None:
    """Continue ``gen`` from ``generator_state``. A run folder does not depend on the device, so a fit stopped
    on a GPU may resume on a CPU or the other way round; a state from another kind of device does not fit
    (CUDA's is 16 bytes, the CPU's 5,056) and ``gen`` is seeded with ``reseed`` instead: the resumed fit is
    then as good, not the same draw for draw."""
    import torch

    if isinstance(saved, dict) and saved.get("device") == gen.device.type:
        gen.set_state(saved["state"])
    elif torch.is_tensor(saved) and saved.numel() == gen.get_state().numel():  # a bare state, as saved before
        gen.set_state(saved)
    else:
        gen.manual_seed(int(reseed))
