"""Which device a fit runs on, and whether it multiplies natively in bfloat16."""
from __future__ import annotations


def resolve_device(device="auto") -> str:
    """"auto" -> "cuda" when a CUDA GPU is available, else "cpu"; anything else is passed through."""
    if device is None or device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def amp_dtype(device: str, enabled=True):
    """bfloat16 where matrix products in it are native (CUDA, or a CPU with AVX512-BF16/AMX), else None.

    The fits use it for forward passes only (autocast; weights, losses and optimizers stay float32): where it
    is emulated it would be slower than float32, and where it is native it is faster at no measurable cost in
    quality (docs/methods/building-blocks.md)."""
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
