"""Optimizers of the parametric fits: fused Adam, Muon with a Newton-Schulz iteration in a dtype the hardware
multiplies natively, and ``MuonAdam`` (Muon on the hidden-to-hidden weights, Adam on the rest). Why Muon and
what it bought: docs/methods/dvi.md; the comparison with Adam: benchmarks/tuning.py."""
from __future__ import annotations

import math

import torch

from .device import amp_dtype

#: the optimizers ``make_optimizer`` knows
OPTIMIZERS = ("adam", "muon")


def adam(params, lr: float, **kw):
    """``torch.optim.Adam`` with the fused kernel where torch has one for the parameters' device (CPU, CUDA):
    one kernel per step instead of a dozen elementwise passes per tensor, a visible share of the fits' many
    small steps."""
    params = list(params)
    dev = params[0].device.type if params and torch.is_tensor(params[0]) else "cpu"
    return torch.optim.Adam(params, lr=lr, fused=dev in ("cpu", "cuda"), **kw)


def newton_schulz_dtype(device) -> torch.dtype:
    """The dtype of Muon's Newton-Schulz products on ``device``: bfloat16 on a CUDA GPU that has it, float32 on
    every CPU. The matrices are small (the encoder's (64, 512), the decoder's (128, 128)): on a CPU the
    iteration's cost is per-op overhead and conversions, not arithmetic, and where bfloat16 is emulated
    (AVX2-only CPUs) it is many times slower than float32."""
    if str(device).startswith("cuda"):
        return amp_dtype(str(device)) or torch.float32
    return torch.float32


def newton_schulz(G: torch.Tensor, steps: int, coefficients=(3.4445, -4.7750, 2.0315), eps: float = 1e-7,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Approximate orthogonalisation U·S'·Vᵀ (S' ≈ 1) of the matrix G = U·S·Vᵀ by ``steps`` quintic Newton-Schulz
    iterations in ``dtype`` (the iteration of torch.optim.Muon, Jordan et al. 2024). Returned in ``dtype``."""
    a, b, c = coefficients
    X = G.to(dtype)
    tall = G.size(0) > G.size(1)
    if tall:
        X = X.T
    X = X / X.norm().clamp(min=eps)  # spectral norm <= 1
    for _ in range(int(steps)):
        A = X @ X.T
        X = torch.addmm(X, torch.addmm(A, A, A, beta=b, alpha=c), X, beta=a)
    return X.T if tall else X


class Muon(torch.optim.Muon):
    """``torch.optim.Muon`` (same parameters, groups and state: a state saved by either loads in the other) whose
    Newton-Schulz iteration runs in ``ns_dtype``; "auto" (default): ``newton_schulz_dtype`` of the parameter's
    device (float32 on a CPU, bfloat16 on a GPU).

    Why: torch's Muon always iterates in bfloat16. Where bfloat16 products are emulated (x86 CPUs with AVX2
    alone) that is an order of magnitude slower than float32, enough to dominate a fit's encoder steps; float32
    is also the more accurate of the two."""

    def __init__(self, params, *, ns_dtype="auto", **kw):
        super().__init__(params, **kw)
        self.ns_dtype = ns_dtype
        self._dtypes = {}  # device type -> dtype, resolved once (on CUDA it asks the driver)

    def _dtype(self, p) -> torch.dtype:
        if self.ns_dtype != "auto":
            return self.ns_dtype
        dev = p.device.type
        if dev not in self._dtypes:
            self._dtypes[dev] = newton_schulz_dtype(dev)
        return self._dtypes[dev]

    @staticmethod
    def _lr_ratio(fn, shape) -> float:
        A, B = shape[:2]
        if fn is None or fn == "original":
            return math.sqrt(max(1.0, A / B))
        if fn == "match_rms_adamw":
            return 0.2 * math.sqrt(max(A, B))
        return 1.0

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mom = float(group["lr"]), group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.ndim != 2 or g.is_sparse or torch.is_complex(p):
                    raise RuntimeError("Muon updates dense real 2-D matrices only")
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(g, memory_format=torch.preserve_format)
                buf = state["momentum_buffer"]
                buf.lerp_(g, 1 - mom)
                update = g.lerp(buf, mom) if group["nesterov"] else buf
                update = newton_schulz(update, group["ns_steps"], group["ns_coefficients"], group["eps"],
                                       self._dtype(p))
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr * self._lr_ratio(group["adjust_lr_fn"], p.shape))
        return loss


class MuonAdam:
    """Muon (``Muon`` above: momentum, then the update orthogonalised by a few Newton-Schulz iterations; Jordan
    et al. 2024) on the hidden-to-hidden Linear weights of ``module`` (not the input layer, not the output layer), fused Adam on everything else (biases, input and output layers). One optimizer to the fits:
    ``param_groups`` (Adam's first, so the decoupled anchor reads Adam's learning rate), ``zero_grad``,
    ``step``, ``state_dict`` / ``load_state_dict``. Each group keeps its own ``base_lr``; the fits' schedules
    scale it (``scale_lr``).

    Why: the encoder regression is a long run of small steps (layout.fit_encoder); Muon reaches the same fit
    in a fraction of Adam's steps (benchmarks/tuning.py). Not the input layer (``muon_input=True`` puts it back,
    with any input layer whose sides are >= 16): its orthogonalisation was the dearer part of a step's cost
    and bought nothing measurable (docs/methods/dvi.md)."""

    def __init__(self, module, lr: float, muon_lr: float = 0.02, ns_steps: int = 3, muon_input: bool = False):
        linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
        inner = linears[:-1] if muon_input else linears[1:-1]
        mats = [m.weight for m in inner if min(m.weight.shape) >= 16]  # never a 2-D input layer
        others = [p for p in module.parameters() if all(p is not q for q in mats)]
        self.adam = adam(others, lr=lr)
        self.muon = Muon(mats, lr=muon_lr, weight_decay=0.0, ns_steps=int(ns_steps),
                         adjust_lr_fn="original") if mats else None
        self.param_groups = list(self.adam.param_groups) + ([] if self.muon is None else list(self.muon.param_groups))
        for g in self.param_groups:
            g["base_lr"] = g["lr"]

    def _opts(self):
        return [self.adam] + ([] if self.muon is None else [self.muon])

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self._opts():
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self._opts():
            o.step()

    def state_dict(self) -> dict:
        return {"adam": self.adam.state_dict(), "muon": None if self.muon is None else self.muon.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.adam.load_state_dict(state["adam"])
        if self.muon is not None:
            self.muon.load_state_dict(state["muon"])


def make_optimizer(module, kind: str, lr: float, muon_lr: float = 0.02, ns_steps: int = 3):
    """"adam" (fused Adam on every parameter) or "muon" (``MuonAdam``) for the parameters of ``module``."""
    if kind == "adam":
        return adam(module.parameters(), lr=lr)
    if kind == "muon":
        return MuonAdam(module, lr=lr, muon_lr=muon_lr, ns_steps=ns_steps)
    raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, not {kind!r}")


def scale_lr(opt, lr: float, frac: float) -> None:
    """Set every group's learning rate to its ``base_lr`` (else ``lr``) times ``frac`` (a schedule's factor)."""
    for g in opt.param_groups:
        g["lr"] = g.get("base_lr", lr) * frac
