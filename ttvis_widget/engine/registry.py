"""The one list of projection methods. ``fit``'s ``method=``, the CLI's choices, the engine's exported classes
and the metrics' per-method facts (inverse or not, fast or not) are all derived from ``METHODS``: adding a
method is its module plus one line here (docs/CONTRACTS.md, "Adding a method").

Importing this module imports no method (the CLI lists the names without loading torch); a method's module is
imported when it is used.
"""
from __future__ import annotations

import importlib

#: name -> "module:Class" (module relative to this package)
METHODS = {
    "dvi": ".dvi:DVI",
    "timevis": ".timevis:TimeVis",
    "umap": ".baselines:UMAPBaseline",
    "aligned-umap": ".baselines:AlignedUMAPBaseline",
    "pca": ".baselines:PCABaseline",
    "dynavis": ".dynavis:DynaVis",
}
#: other spellings users type
ALIASES = {"aligned_umap": "aligned-umap", "alignedumap": "aligned-umap", "time-vis": "timevis"}


def names() -> list[str]:
    """The method names, in registry order."""
    return list(METHODS)


def canonical(method: str) -> str:
    """The registry name of ``method`` (any case, or an alias); ValueError naming the choices if unknown."""
    m = str(method).lower()
    m = ALIASES.get(m, m)
    if m not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    return m


def class_name(method: str) -> str:
    return METHODS[canonical(method)].split(":")[1]


def method_class(method: str):
    """(registry name, class) of ``method``; imports its module."""
    m = canonical(method)
    mod, cls = METHODS[m].split(":")
    return m, getattr(importlib.import_module(mod, __package__), cls)


def create(method: str, **params):
    """An instance of ``method`` with ``params``; an unknown parameter name is a ValueError naming the
    method's parameters (invalid values are rejected by the class itself)."""
    m, cls = method_class(method)
    known = cls._param_names()
    unknown = sorted(k for k in params if k not in known)
    if unknown:
        raise ValueError(f"method {m!r} has no parameter {', '.join(map(repr, unknown))}; "
                         f"its parameters: {', '.join(known)}")
    return cls(**params)


def facts(method: str) -> dict | None:
    """What the metrics and messages need to know of a method, from its class: ``has_inverse``,
    ``fast_inverse`` (its inverse is scored on every sample), ``per_epoch`` (fitted epoch by epoch),
    ``fit_sample`` (it can be fitted on a sample and project the rest: ``fit(fit_sample=K)``). None for a
    name that is not registered."""
    try:
        m, cls = method_class(method)
    except ValueError:
        return None
    return {"name": m, "has_inverse": bool(cls.has_inverse), "fast_inverse": bool(cls.fast_inverse),
            "per_epoch": bool(cls.per_epoch), "fit_sample": bool(getattr(cls, "fits_a_sample", False))}


def with_inverse() -> list[str]:
    """The methods that have an inverse projection (for messages that name them)."""
    return [m for m in METHODS if facts(m)["has_inverse"]]


def by_class_name(name: str):
    """The registered class called ``name`` (``ttvis_widget.engine.DVI`` ...), else None."""
    for m, spec in METHODS.items():
        if spec.split(":")[1] == name:
            return method_class(m)[1]
    return None


def inverse_hint() -> str:
    """"method='dvi', 'timevis' or 'pca'": the methods with an inverse, for error messages."""
    names_ = [repr(m) for m in with_inverse()]
    return "method=" + (", ".join(names_[:-1]) + " or " + names_[-1] if len(names_) > 1 else "".join(names_))
