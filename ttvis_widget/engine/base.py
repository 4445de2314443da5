"""Common base of every projection method and small helpers (device, seeding, checkpoint store).

Methods follow the scikit-learn convention: all parameters are given to ``__init__`` and stored
unchanged as attributes; ``fit(dynamics, epochs)`` does the work; ``transform(epoch, reps)`` and
``inverse_transform(epoch, xy)`` apply the fitted projection.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import time
import warnings
from pathlib import Path

import numpy as np

from ..store.atomic import atomic_write_bytes, atomic_write_npy


def resolve_device(device="auto") -> str:
    """"auto" -> "cuda" when a CUDA GPU is available, else "cpu"; anything else is passed through."""
    if device is None or device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def amp_dtype(device: str, enabled=True):
    """bfloat16 where matrix products in it are native (CUDA, or a CPU with AVX512-BF16/AMX), else None.

    Used only for the encoder regression's forward pass (autocast; weights, loss and optimizer stay float32):
    on the 2-core AVX512-BF16 machine a 512-sample step of the (512, 64) encoder is 1.3-1.7x faster and the
    reached NN@15 is unchanged (0.28 vs 0.28 on the Fashion-MNIST demo layout)."""
    if not enabled:
        return None
    import torch

    if str(device).startswith("cuda"):
        return torch.bfloat16 if cuda_native_bf16() else None
    try:
        ok = bool(torch.cpu._is_avx512_bf16_supported()) or bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    except Exception:  # private helpers may move between torch versions
        ok = False
    return torch.bfloat16 if ok else None


def cuda_native_bf16() -> bool:
    """Whether the current CUDA GPU computes in bfloat16 natively (compute capability 8.0 on: A100, H100...).
    torch's ``is_bf16_supported()`` also says yes where it is emulated (a T4 or V100), slowly."""
    import torch

    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument counted native support only
        return bool(torch.cuda.is_bf16_supported())


def check_choice(name: str, value, choices):
    """``value`` if it is one of ``choices``, else ValueError naming the parameter and the choices."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


#: nodes of one epoch of the Fashion-MNIST demo (12,000 samples + 1,200 border points): the step counts of DVI
#: and TimeVis were tuned there
REFERENCE_NODES = 13_200


def check_steps_scale(scale):
    """``steps_scale`` as given if it is "auto" or a positive number, else ValueError."""
    import numbers

    if scale == "auto" or (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and scale > 0):
        return scale
    raise ValueError(f"steps_scale must be 'auto' or a positive number, not {scale!r}")


def step_factor(scale, n_nodes: int) -> float:
    """Multiplier of a method's step counts: ``scale`` when it is a number; "auto": n_nodes / REFERENCE_NODES,
    at least 1, so that each node gets as many updates as on the demo, whatever N (umap-learn's epochs
    likewise sample each edge a fixed number of times). Measured at 60k x 512 (5x the demo's nodes): the
    fixed counts reached NN@15 0.084 and PPR 0.882 (umap-learn: NN@15 0.163), three times the counts 0.125
    and 0.953 (README, "Where the engine stands")."""
    if scale == "auto":
        return max(1.0, float(n_nodes) / REFERENCE_NODES)
    short = float(n_nodes) / (REFERENCE_NODES * float(scale))
    if short >= 2:  # once per process for one size (the warnings registry)
        warnings.warn(f"{int(n_nodes):,} nodes per epoch get {short:.0f}x fewer updates each than the "
                      f"{REFERENCE_NODES:,} the step counts were tuned on, so the fit may be undertrained "
                      f"(at 60k x 512: NN@15 0.084 and PPR 0.882 against 0.144 and 0.966); steps_scale='auto' "
                      f"scales the steps with the nodes, at a time that grows with them", UserWarning,
                      stacklevel=2)
    return float(scale)


def scaled_steps(steps: int, factor: float) -> int:
    """``steps`` times ``factor``, rounded (0 stays 0)."""
    return int(round(int(steps) * float(factor)))


#: torch CPU threads of the parametric methods: min(2, cores). Measured on an idle 2-core machine, 2 threads
#: make a 256-sample step of the (256, 256) encoder 1.5x and a 1024-sample step 1.8x faster than 1 thread.
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))


@contextlib.contextmanager
def torch_threads(n: int | None, device: str = "cpu"):
    """Run a block with ``n`` torch CPU threads (restored afterwards). Pass ``num_threads=1`` to a method
    when the cores are shared with other busy processes (OpenMP spin-waiting under oversubscription can make
    2 threads much slower than 1 there)."""
    import torch

    if n is None or str(device).startswith("cuda"):
        yield
        return
    old, n = torch.get_num_threads(), max(1, int(n))
    if n == old:  # each set_num_threads call re-forms the OpenMP team; skip the needless ones (_threads.py)
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


_LIBC_TRIM = None


def stack_rows(arrays, device="cpu", chunk: int = 8192):
    """One float32 tensor on ``device`` holding the rows of ``arrays`` (numpy arrays or memory maps, same
    width) one after the other, filled in chunks: no whole-matrix temporary besides the result (a fit's node
    matrix was built from a float32 copy, a torch concatenation and a normalised copy: three epochs' worth)."""
    import numpy as np
    import torch

    arrays = [a for a in arrays if len(a)]
    out = torch.empty((sum(len(a) for a in arrays), arrays[0].shape[1]), dtype=torch.float32, device=device)
    host = out.numpy() if out.device.type == "cpu" else None
    o = 0
    for a in arrays:
        for s in range(0, len(a), chunk):
            part = a[s:s + chunk]
            if host is not None:
                host[o + s:o + s + len(part)] = part
            else:
                # a copy: a memory map's rows are read-only, which torch.from_numpy warns about
                out[o + s:o + s + len(part)] = torch.from_numpy(np.array(part, np.float32)).to(device)
        o += len(a)
    return out


def release_memory() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim(0)``; elsewhere a no-op, False).

    Between DVI epochs freed tensors stay in glibc's arenas, fragmented, and the process grows epoch by
    epoch: on the demo the RSS above the loaded data at the end of epochs 1-3 went 112 -> 262 -> 404 MB
    without a trim and 177 -> 182 -> 191 MB with one after each epoch. It does not lower the peak *within*
    an epoch (10 demo epochs: fit +444 MB either way, benchmarks/fit_speed.py), but a notebook gets the
    memory back between epochs and after the fit. Costs a few milliseconds."""
    global _LIBC_TRIM
    if _LIBC_TRIM is None:
        try:
            import ctypes
            import ctypes.util

            _LIBC_TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
            _LIBC_TRIM = False
    if not _LIBC_TRIM:
        return False
    _LIBC_TRIM(0)
    return True


def cpu_state(module) -> dict:
    """A detached CPU copy of ``module``'s state_dict (what a checkpoint saves)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


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
    elif torch.is_tensor(saved) and saved.numel() == gen.get_state().numel():  # a checkpoint of before
        gen.set_state(saved)
    else:
        gen.manual_seed(int(reseed))


def param_copy(module, prefix: str = "") -> dict:
    """Detached copies of ``module``'s parameters whose names start with ``prefix`` (a temporal anchor's
    reference, layout.Anchor.for_prefix)."""
    return {k: v.detach().clone() for k, v in module.named_parameters() if k.startswith(prefix)}


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


class Checkpoints:
    """Per-epoch results and training state of one run folder; every write is atomic.

    ``embedding_{e}.npy``, ``models/epoch_{e}.pt`` (state_dict), ``state/*.pt`` (resumable training
    state). ``None`` folder = keep everything in memory (no resumption).
    """

    def __init__(self, folder: str | os.PathLike | None):
        self.folder = None if folder is None else Path(folder)
        self._mem: dict = {}

    # embeddings -------------------------------------------------------------------------------
    def emb_path(self, epoch: int) -> Path:
        return self.folder / f"embedding_{int(epoch)}.npy"

    def has_embedding(self, epoch: int) -> bool:
        if self.folder is None:
            return ("emb", int(epoch)) in self._mem
        return self.emb_path(epoch).exists()

    def save_embedding(self, epoch: int, emb: np.ndarray) -> None:
        emb = np.ascontiguousarray(emb, dtype=np.float32)
        if self.folder is None:
            self._mem[("emb", int(epoch))] = emb
        else:
            atomic_write_npy(self.emb_path(epoch), emb)

    def load_embedding(self, epoch: int) -> np.ndarray:
        if self.folder is None:
            return self._mem[("emb", int(epoch))]
        return np.load(self.emb_path(epoch), allow_pickle=False)

    # torch objects (state_dicts of tensors / plain containers only: loadable with weights_only=True)
    def _pt_path(self, name: str) -> Path:
        return self.folder / f"{name}.pt"

    def has(self, name: str) -> bool:
        if self.folder is None:
            return ("pt", name) in self._mem
        return self._pt_path(name).exists()

    def save_torch(self, name: str, obj) -> None:
        import io

        import torch

        if self.folder is None:
            self._mem[("pt", name)] = obj
            return
        buf = io.BytesIO()
        torch.save(obj, buf)
        atomic_write_bytes(self._pt_path(name), buf.getvalue())

    def load_torch(self, name: str):
        import torch

        if self.folder is None:
            return self._mem[("pt", name)]
        return torch.load(self._pt_path(name), map_location="cpu", weights_only=True)

    def save_npz(self, name: str, arrays: dict) -> None:
        from ..store.atomic import atomic_write_npz

        if self.folder is None:
            self._mem[("npz", name)] = dict(arrays)
        else:
            atomic_write_npz(self.folder / f"{name}.npz", arrays)

    def has_npz(self, name: str) -> bool:
        if self.folder is None:
            return ("npz", name) in self._mem
        return (self.folder / f"{name}.npz").exists()

    def load_npz(self, name: str) -> dict:
        if self.folder is None:
            return self._mem[("npz", name)]
        with np.load(self.folder / f"{name}.npz", allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


class Projector:
    """Base class of the projection methods."""

    name: str = "base"
    has_inverse: bool = False
    #: parameters that do not change the result and are left out of the cache key
    _volatile = ("device", "progress", "num_threads")

    def __init__(self, seed: int = 0, device: str = "auto", progress: bool = False):
        self.seed = seed
        self.device = device
        self.progress = progress

    # scikit-learn style parameters -------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        names = []
        for klass in cls.__mro__:
            if klass is object:
                continue
            sig = inspect.signature(klass.__init__)
            for p in sig.parameters.values():
                if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in names:
                    names.append(p.name)
        return names

    def get_params(self) -> dict:
        return {n: getattr(self, n) for n in self._param_names() if hasattr(self, n)}

    def cache_params(self) -> dict:
        """Parameters that define the result (JSON-able), used for the run's hash and manifest."""
        return {k: _jsonable(v) for k, v in sorted(self.get_params().items()) if k not in self._volatile}

    # interface --------------------------------------------------------------------------------
    def fit(self, dynamics, epochs=None, checkpoints: Checkpoints | None = None, on_epoch=None):
        raise NotImplementedError

    def transform(self, epoch: int, reps) -> np.ndarray:
        raise NotImplementedError(f"{self.name} cannot project new points")

    def inverse_transform(self, epoch: int, xy) -> np.ndarray:
        raise NotImplementedError(f"{self.name} has no inverse projection (2-D -> representation)")

    def load(self, dynamics, epochs, checkpoints: Checkpoints) -> "Projector":
        """Restore a fitted projector from a finished run folder (no training)."""
        self.epochs_ = list(epochs)
        self.dynamics_ = dynamics
        return self

    #: filled by fit: {"graph_s": ..., "train_s": ..., "jit_s": ...} totals and per-epoch rows
    timings_: dict


def _jsonable(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return v


class Timer:
    def __init__(self):
        self.t = {}

    def add(self, key, dt):
        self.t[key] = self.t.get(key, 0.0) + float(dt)

    class _Ctx:
        def __init__(self, timer, key):
            self.timer, self.key = timer, key

        def __enter__(self):
            self.t0 = time.perf_counter()
            return self

        def __exit__(self, *a):
            self.timer.add(self.key, time.perf_counter() - self.t0)

    def __call__(self, key):
        return Timer._Ctx(self, key)
