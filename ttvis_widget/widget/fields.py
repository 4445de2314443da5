"""Field checks for what the browser sends: the vocabulary in which every inbound message and every
browser-writable trait declares its schema (:mod:`.messages` applies them; ``widget.py`` declares them).

Each field's ``check(value, ctx)`` returns the clean value or raises :class:`MessageRefused` naming the field.
``ctx`` is the widget: fields read ``ctx.dynamics.n_samples``, ``ctx.epochs`` and ``ctx.class_count``.

Checks are strict: JSON gives ints as ``int``, so a float, a bool, a numeric string, NaN or an int beyond
the field's range is refused, never coerced. There is deliberately no free-text string field: the only
strings a message may carry are :class:`Token` (an opaque id: letters, digits, ``_`` and ``-``, so it can
never spell a path) and :class:`Choice` (which returns the kernel's own constant, not the browser's
string). Nothing the browser sends can therefore reach a filesystem call.
"""
from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["MessageRefused", "Field", "Index", "Indices", "ClassIds", "Epoch", "Int", "Number", "Flag", "Choice",
           "Token", "Record", "Buffers", "describe", "is_token"]


class MessageRefused(ValueError):
    """A message from a view was refused. ``field`` names what was wrong ("type", "index", "selection", ...;
    None only when a valid message's handler failed), ``problem`` says what; ``kind`` is the message type
    ("update" for synced traits) and ``rid`` the request id it carried, if any."""

    def __init__(self, field: str | None, problem: str, kind: str | None = None, rid: str | None = None):
        self.field, self.problem, self.kind, self.rid = field, problem, kind, rid
        super().__init__(field, problem)

    def __str__(self) -> str:  # kind and rid are filled in by the router after the field check raised
        return self.reason

    @property
    def reason(self) -> str:
        where = f"{self.kind!r} " if self.kind else ""
        what = f"field {self.field!r}" if self.field else "message"
        return f"{where}{what}: {self.problem}"


def describe(value, limit: int = 40) -> str:
    """A short, safe rendering of an untrusted value for a refusal (type and a clipped repr)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an int of {value.bit_length()} bits"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{memoryview(value).nbytes} bytes"
    r = repr(value)
    return f"{type(value).__name__} {r[:limit] + '…' if len(r) > limit else r}"


def _at(bound, ctx):
    """A bound is a constant or a function of the widget (e.g. the last epoch index)."""
    return bound(ctx) if callable(bound) else bound


def _doc(bound) -> str:
    return getattr(bound, "__doc__", None) or "…" if callable(bound) else str(bound)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Field:
    """Base of the field checks. ``optional``: the field may be absent (then ``default``) or null."""

    def __init__(self, optional: bool = False, default=None):
        self.optional = optional
        self.default = default

    def check(self, value, ctx, name: str):
        raise NotImplementedError

    def doc(self) -> str:
        """One phrase for docs/CONTRACTS.md and refusals."""
        return type(self).__name__.lower()


class Int(Field):
    """An int in [lo, hi] (inclusive; None: unbounded on that side, but always within int64; a bound may be a
    function of the widget)."""

    def __init__(self, lo: int | None = None, hi: int | None = None, **kw):
        super().__init__(**kw)
        self.lo, self.hi = lo, hi

    def bounds(self, ctx) -> tuple[int, int]:
        return (-(2 ** 63) if self.lo is None else _at(self.lo, ctx),
                2 ** 63 - 1 if self.hi is None else _at(self.hi, ctx))

    def check(self, value, ctx, name):
        if not _is_int(value):
            raise MessageRefused(name, f"must be an integer, got {describe(value)}")
        lo, hi = self.bounds(ctx)
        if not lo <= value <= hi:
            raise MessageRefused(name, f"{describe(value)} is out of range [{lo}, {hi}]")
        return int(value)

    def doc(self):
        return f"int in [{_doc(self.lo)}, {_doc(self.hi)}]"


class Index(Int):
    """A sample index in [0, N) (``allow_none_value``: also -1, meaning "none", as ``hovered`` uses it)."""

    def __init__(self, allow_none_value: bool = False, **kw):
        super().__init__(**kw)
        self.none_value = allow_none_value

    def bounds(self, ctx):
        return (-1 if self.none_value else 0, int(ctx.dynamics.n_samples) - 1)

    def check(self, value, ctx, name):
        if _is_int(value):
            lo, hi = self.bounds(ctx)
            if not lo <= value <= hi:
                raise MessageRefused(name, f"{describe(value)} is out of range [{lo}, {hi + 1}) "
                                           f"(N = {hi + 1} samples)")
        return super().check(value, ctx, name)

    def doc(self):
        return "sample index in [-1, N)" if self.none_value else "sample index in [0, N)"


class Epoch(Int):
    """A recorded epoch number (one of ``w.epochs``)."""

    def check(self, value, ctx, name):
        if not _is_int(value):
            raise MessageRefused(name, f"must be an integer epoch, got {describe(value)}")
        if value not in ctx.epochs:
            raise MessageRefused(name, f"{describe(value)} is not a recorded epoch "
                                       f"(recorded: {ctx.epochs[0]}..{ctx.epochs[-1]}, {len(ctx.epochs)} epochs)")
        return int(value)

    def doc(self):
        return "recorded epoch"


class Indices(Field):
    """A list of sample indices in [0, N), at most ``max_len`` long (default N); returns int64 [M]."""

    def __init__(self, max_len: int | None = None, **kw):
        super().__init__(**kw)
        self.max_len = max_len

    def upper(self, ctx) -> int:
        return int(ctx.dynamics.n_samples)

    def check(self, value, ctx, name):
        if not isinstance(value, list):
            raise MessageRefused(name, f"must be a list of integers, got {describe(value)}")
        hi = self.upper(ctx)
        cap = hi if self.max_len is None else min(self.max_len, hi)
        if len(value) > cap:
            raise MessageRefused(name, f"has {len(value)} items; at most {cap} allowed")
        kinds = set(map(type, value))
        if kinds - {int}:
            bad = next(v for v in value if type(v) is not int)
            raise MessageRefused(name, f"items must be integers, got {describe(bad)}")
        try:
            arr = np.array(value, dtype=np.int64)
        except OverflowError:
            raise MessageRefused(name, "has an item beyond the int64 range") from None
        if arr.size and (arr.min() < 0 or arr.max() >= hi):
            bad = int(arr[(arr < 0) | (arr >= hi)][0])
            raise MessageRefused(name, f"item {bad} is out of range [0, {hi})")
        return arr

    def doc(self):
        return f"list of sample indices in [0, N), at most {self.max_len or 'N'} items"


class ClassIds(Indices):
    """A list of class ids in [0, C) (C = ``ctx.class_count``), at most C long."""

    def upper(self, ctx):
        return int(ctx.class_count)

    def doc(self):
        return "list of class ids in [0, C), at most C items"


class Number(Field):
    """A finite number (int or float) in [lo, hi] (a bound may be a function of the widget); returns a float."""

    def __init__(self, lo: float | None = None, hi: float | None = None, **kw):
        super().__init__(**kw)
        self.lo, self.hi = lo, hi

    def bounds(self, ctx) -> tuple[float, float]:
        return (-math.inf if self.lo is None else _at(self.lo, ctx), math.inf if self.hi is None else _at(self.hi, ctx))

    def check(self, value, ctx, name):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MessageRefused(name, f"must be a number, got {describe(value)}")
        if isinstance(value, int) and value.bit_length() > 64:
            raise MessageRefused(name, f"{describe(value)} is out of range")
        v = float(value)
        if not math.isfinite(v):
            raise MessageRefused(name, f"must be finite, got {v}")
        lo, hi = self.bounds(ctx)
        if not lo <= v <= hi:
            raise MessageRefused(name, f"{v} is out of range [{lo}, {hi}]")
        return v

    def doc(self):
        return f"finite number in [{_doc(self.lo)}, {_doc(self.hi)}]"


class Flag(Field):
    """true or false (not 0/1, not a string)."""

    def check(self, value, ctx, name):
        if not isinstance(value, bool):
            raise MessageRefused(name, f"must be true or false, got {describe(value)}")
        return value

    def doc(self):
        return "bool"


class Choice(Field):
    """One of a fixed set of strings; returns the kernel's own constant."""

    def __init__(self, *options: str, **kw):
        super().__init__(**kw)
        self.options = tuple(options)

    def check(self, value, ctx, name):
        if isinstance(value, str):
            for opt in self.options:
                if value == opt:
                    return opt
        raise MessageRefused(name, f"must be one of {list(self.options)}, got {describe(value)}")

    def doc(self):
        return " | ".join(f'"{o}"' for o in self.options)


_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_token(value) -> bool:
    """True for a string a :class:`Token` of the default length accepts."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


class Token(Field):
    """An opaque id (a view's request id): 1..``max_len`` letters, digits, ``_`` or ``-``. Used only to
    label answers, never as a name, key into the filesystem or anything else."""

    def __init__(self, max_len: int = 64, **kw):
        super().__init__(**kw)
        self.max_len = max_len

    def check(self, value, ctx, name):
        if not isinstance(value, str):
            raise MessageRefused(name, f"must be a string id, got {describe(value)}")
        if not 0 < len(value) <= self.max_len:
            raise MessageRefused(name, f"must be 1..{self.max_len} characters, got {len(value)}")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
            raise MessageRefused(name, "may hold only letters, digits, '_' and '-'")
        return value

    def doc(self):
        return f"id: [A-Za-z0-9_-]{{1,{self.max_len}}}"


class Record(Field):
    """A JSON object with declared keys, each optional unless its field says otherwise; unknown keys are
    refused. Refusals name the key as ``name.key``. Returns a dict of the checked values given."""

    def __init__(self, optional: bool = False, **fields: Field):
        super().__init__(optional=optional)
        self.fields = fields

    def check(self, value, ctx, name):
        if not isinstance(value, dict):
            raise MessageRefused(name, f"must be an object, got {describe(value)}")
        unknown = sorted(str(k)[:40] for k in value if k not in self.fields)
        if unknown:
            raise MessageRefused(f"{name}.{unknown[0]}", f"is not a key of {name}; keys: {sorted(self.fields)}")
        out = {}
        for key, f in self.fields.items():
            if key not in value:
                continue
            v = value[key]
            if v is None:
                if not f.optional:
                    raise MessageRefused(f"{name}.{key}", "may not be null")
                out[key] = None
            else:
                out[key] = f.check(v, ctx, f"{name}.{key}")
        return out

    def doc(self):
        return "{" + ", ".join(f"{k}: {f.doc()}{' | null' if f.optional else ''}" for k, f in self.fields.items()) + "}"


class Buffers:
    """The binary buffers a message may carry: at most ``max_count``, at most ``max_bytes`` together.
    A message that declares none takes none."""

    def __init__(self, max_count: int = 1, max_bytes: int = 1 << 20):
        self.max_count, self.max_bytes = max_count, max_bytes

    def check(self, buffers: list) -> list[memoryview]:
        if len(buffers) > self.max_count:
            raise MessageRefused("buffers", f"{len(buffers)} buffers; at most {self.max_count} allowed")
        views = []
        for b in buffers:
            try:
                views.append(memoryview(b).cast("B"))
            except TypeError:
                raise MessageRefused("buffers", f"not binary data: {describe(b)}") from None
        total = sum(v.nbytes for v in views)
        if total > self.max_bytes:
            raise MessageRefused("buffers", f"{total} bytes; at most {self.max_bytes} allowed")
        return views

    def doc(self) -> str:
        return f"≤ {self.max_count} buffers, ≤ {self.max_bytes} bytes"
