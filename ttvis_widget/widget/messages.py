"""The inbound router: everything a view sends to the kernel passes here, is checked against a declared schema,
and is either handed to its handler or refused cleanly. The browser is untrusted input.

Adding a message is a few lines next to its handler in the widget class::

    @message("similar", index=Index(), k=Int(1, 100, optional=True, default=10))
    def _on_similar(self, index, k, rid=None): ...

Browser-writable synced traits declare theirs in their tag: ``t.Int().tag(sync=True, browser=Epoch())``;
a trait without ``browser=`` is read-only from the browser.

A refusal is a :class:`MessageRefused` (field, problem) inside the kernel. It never reaches the comm: it is
logged once per (message type, field) as one line (no traceback), recorded in :attr:`MessageRouter.refusals`
(bounded), and answered to every view as ``{"type": "refused", "rid", "field", "reason"}``. A handler's own
exception is reported the same way (``field`` None). The full list of messages is in docs/CONTRACTS.md.
"""
from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

import traitlets as t

from .fields import Buffers, Field, MessageRefused, Token, describe, is_token

log = logging.getLogger("ttvis_widget.widget")

MAX_CONTENT_BYTES = 64 * 1024  # a custom message's JSON, unless its declaration says otherwise
MAX_DEPTH = 8  # nesting of lists/dicts in any message
MAX_BUFFER_BYTES = 512 * 1024 * 1024  # all buffers of one comm message, before the per-message limit
REFUSALS_KEPT = 100
METHODS = ("update", "request_state", "custom")

__all__ = ["MessageRefused", "MessageRouter", "MessageSpec", "message", "json_size", "CheckedComm"]


@dataclass(frozen=True)
class MessageSpec:
    """A declared inbound message: ``kind`` (its "type"), ``fields`` {name: Field}, ``buffers`` (a
    :class:`Buffers` or None: takes none), ``max_bytes`` (its JSON), ``handler`` (method name on the widget)."""

    kind: str
    fields: dict
    buffers: Buffers | None
    max_bytes: int
    handler: str


def message(kind: str, /, *, buffers: Buffers | None = None, max_bytes: int = MAX_CONTENT_BYTES, **fields: Field):
    """Declare the method it decorates as the handler of custom messages ``{"type": kind, **fields}``.

    The handler is called with the checked fields as keyword arguments (absent optional ones as their
    default), plus ``buffers`` (a list of memoryviews) when the message declares buffers. Every message may
    carry an optional ``rid`` (a :class:`Token`) that its answers and refusals echo.
    """
    for name, f in fields.items():
        if not isinstance(f, Field):
            raise TypeError(f"message {kind!r}: field {name!r} must be a Field, not {type(f).__name__}")
    fields.setdefault("rid", Token(optional=True))

    def deco(fn):
        fn._ttvis_message = MessageSpec(kind, dict(fields), buffers, int(max_bytes), fn.__name__)
        return fn

    return deco


def json_size(obj, limit: int, field: str = "content") -> int:
    """Approximate JSON size of ``obj`` in bytes, refusing as soon as it exceeds ``limit`` or nests deeper than
    MAX_DEPTH (so a huge payload costs no more than ``limit`` bytes' worth of walking)."""
    total = 0
    stack = [(obj, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MessageRefused(field, f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(v, dict):
            total += 2 + len(v)
            for k, x in v.items():
                total += len(k) + 3 if isinstance(k, str) else 8
                stack.append((x, depth + 1))
        elif isinstance(v, list) and v and set(map(type, v)) == {int}:  # a list of ints (a selection): C speed
            widest = max(max(v), -min(v))
            total += 2 + len(v) * (2 + widest.bit_length() * 30103 // 100000)
        elif isinstance(v, (list, tuple)):
            total += 2 + len(v)
            stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, int) and not isinstance(v, bool):
            total += 1 + v.bit_length() * 30103 // 100000
        else:
            total += 5
        if total > limit:
            raise MessageRefused(field, f"is larger than {limit} bytes")
    return total


class MessageRouter:
    """Checks and dispatches one widget's inbound messages; keeps its refusals. ``owner`` is the widget: it
    declares handlers with :func:`message` and browser-writable traits with ``browser=`` tags, has ``send``."""

    def __init__(self, owner, keep: int = REFUSALS_KEPT):
        self.owner = owner
        self.specs: dict[str, MessageSpec] = {}
        for cls in reversed(type(owner).__mro__):
            for attr in vars(cls).values():
                spec = getattr(attr, "_ttvis_message", None)
                if isinstance(spec, MessageSpec):
                    self.specs[spec.kind] = spec
        self.refusals: collections.deque = collections.deque(maxlen=keep)
        self._logged: set = set()

    # ---- the comm envelope ---------------------------------------------------------------------------
    def check_envelope(self, msg) -> None:
        """The comm message around the payload: ``{"content": {"data": {"method", ...}}, "buffers": [...]}``."""
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), dict):
            raise MessageRefused("content", f"a comm message must be a dict with a 'content' dict, got {describe(msg)}")
        data = msg["content"].get("data")
        if not isinstance(data, dict):
            raise MessageRefused("data", f"must be a dict, got {describe(data)}")
        method = data.get("method")
        if method not in METHODS:
            raise MessageRefused("method", f"must be one of {list(METHODS)}, got {describe(method)}")
        bufs = msg.get("buffers", [])
        if not isinstance(bufs, list):
            raise MessageRefused("buffers", f"must be a list, got {describe(bufs)}")
        Buffers(max_count=64, max_bytes=MAX_BUFFER_BYTES).check(bufs)
        if method == "update":
            if not isinstance(data.get("state"), dict):
                raise MessageRefused("state", f"must be a dict, got {describe(data.get('state'))}", kind="update")
            if bufs or data.get("buffer_paths"):  # no browser-writable trait is binary
                raise MessageRefused("buffers", "a trait update carries no binary data here", kind="update")
        elif method == "custom" and "content" not in data:
            raise MessageRefused("content", "a custom message needs a 'content'")
        elif method == "request_state" and bufs:
            raise MessageRefused("buffers", "request_state takes no buffers", kind="request_state")

    # ---- custom messages -------------------------------------------------------------------------------
    def check(self, content, buffers) -> tuple[MessageSpec, dict]:
        """(spec, handler kwargs) for a custom message, or MessageRefused."""
        if not isinstance(content, dict):
            raise MessageRefused("content", f"must be a JSON object, got {describe(content)}")
        rid = content.get("rid")
        rid = rid if is_token(rid) else None  # echoed on a refusal only when it is a valid id
        kind = content.get("type")
        spec = self.specs.get(kind) if isinstance(kind, str) else None
        if spec is None:
            known = ", ".join(sorted(self.specs))
            raise MessageRefused("type", f"unknown message type {describe(kind)}; known: {known}", rid=rid)
        try:
            json_size(content, spec.max_bytes)
            unknown = sorted(k for k in content if k != "type" and k not in spec.fields)
            if unknown:
                raise MessageRefused(str(unknown[0])[:40], f"is not a field of this message; its fields: "
                                                          f"{sorted(spec.fields)}")
            kwargs = {}
            for name, f in spec.fields.items():
                v = content.get(name)
                if v is None:
                    if not f.optional:
                        raise MessageRefused(name, "is required")
                    kwargs[name] = f.default
                else:
                    kwargs[name] = f.check(v, self.owner, name)
            if spec.buffers is None:
                if buffers:
                    raise MessageRefused("buffers", f"this message takes no buffers, got {len(buffers)}")
            else:
                kwargs["buffers"] = spec.buffers.check(list(buffers or []))
        except MessageRefused as exc:
            exc.kind, exc.rid = spec.kind, rid
            raise
        return spec, kwargs

    def dispatch(self, _widget, content, buffers) -> None:
        """``on_msg`` callback: check, then call the handler; refusals and handler errors never propagate."""
        try:
            spec, kwargs = self.check(content, buffers)
        except MessageRefused as exc:
            self.refuse(exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in a check must not reach the comm either
            self.refuse(MessageRefused(None, f"could not be checked: {type(exc).__name__}: {exc}"), exc)
            return
        try:
            getattr(self.owner, spec.handler)(**kwargs)
        except MessageRefused as exc:  # a handler's own, deeper check
            exc.kind, exc.rid = exc.kind or spec.kind, exc.rid or kwargs.get("rid")
            self.refuse(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the view and the log, not raised into the comm
            self.refuse(MessageRefused(None, f"the kernel failed to answer it: {type(exc).__name__}: {str(exc)[:300]}",
                                       kind=spec.kind, rid=kwargs.get("rid")), exc)

    # ---- synced traits ----------------------------------------------------------------------------------
    def check_state(self, state: dict) -> None:
        """A view's trait update: only traits tagged ``browser=`` may be set, each value passes its field."""
        owner = self.owner
        n = int(getattr(getattr(owner, "dynamics", None), "n_samples", 0))  # 0: an owner without samples
        try:
            json_size(state, max(MAX_CONTENT_BYTES, 24 * n + 4096), field="state")
            for name, value in state.items():
                f = owner.trait_metadata(name, "browser") if owner.has_trait(name) else None
                if f is None:
                    raise MessageRefused(str(name)[:40], "is not a trait the browser may set")
                f.check(value, owner, name)
        except MessageRefused as exc:
            exc.kind = "update"
            raise

    def set_state(self, state: dict, apply) -> bool:
        """Check ``state`` and ``apply(state)`` it (ipywidgets' own set_state) as one unit; on refusal the
        widget keeps its previous values and the views are sent them back. True when applied."""
        try:
            self.check_state(state)
            apply(state)
            return True
        except MessageRefused as exc:
            self.refuse(exc)
        except t.TraitError as exc:  # a trait's own validator (traitlets has rolled the values back)
            names = [k for k in state if k in str(exc)] or list(state)
            self.refuse(MessageRefused(",".join(names), str(exc), kind="update"))
        except Exception as exc:  # noqa: BLE001
            self.refuse(MessageRefused(",".join(state), f"{type(exc).__name__}: {exc}", kind="update"), exc)
        keys = [k for k in state if isinstance(k, str) and self.owner.has_trait(k) and k in self.owner.keys]
        if keys:
            try:
                self._resend(keys)
            except Exception as exc:  # noqa: BLE001 - a closed comm: nothing to tell
                log.debug("could not re-send %s: %s", keys, exc)
        return False

    def _resend(self, keys: list[str]) -> None:
        """The views show the kernel's values again. ipywidgets 8 front ends wait for an ``echo_update`` of
        each attribute they sent (and drop other views' echoes of it until theirs comes), so the refused
        update is answered by an echo carrying the kernel's values; a plain update follows for front ends
        that do not echo."""
        from ipywidgets.widgets.widget import JUPYTER_WIDGETS_ECHO

        if JUPYTER_WIDGETS_ECHO:
            self.owner._send({"method": "echo_update", "state": self.owner.get_state(keys), "buffer_paths": []})
        self.owner.send_state(keys)

    # ---- refusals ---------------------------------------------------------------------------------------
    def refuse(self, exc: MessageRefused, cause: BaseException | None = None) -> None:
        """Record, log once per (type, field), and tell the views."""
        answer = {"type": "refused", "rid": exc.rid, "message": exc.kind, "field": exc.field, "reason": exc.reason}
        self.refusals.append(answer)
        key = (exc.kind, exc.field)
        if key not in self._logged:
            self._logged.add(key)
            log.warning("ttvis_widget refused a message from the browser: %s (repeats of this are logged at "
                        "DEBUG; see w.refusals)", exc.reason)
        else:
            log.debug("refused: %s", exc.reason)
        if cause is not None:
            log.debug("cause of the refusal", exc_info=cause)
        try:
            self.owner.send(answer)
        except Exception as e:  # noqa: BLE001 - a closed comm: the refusal stays recorded
            log.debug("could not send the refusal: %s", e)


class CheckedComm:
    """Mixin for a widget whose views are untrusted: everything a view sends passes ``self._messages`` (a
    :class:`MessageRouter` the widget creates in its constructor) before ipywidgets reads it. List it before
    ``anywidget.AnyWidget`` among the bases."""

    def _handle_msg(self, msg):
        """The comm's entry point for everything a view sends: the envelope is checked before ipywidgets
        reads it, so a malformed message is refused instead of raising inside the comm."""
        try:
            self._messages.check_envelope(msg)
        except Exception as exc:  # noqa: BLE001 - refused, never raised into the comm
            self._messages.refuse(exc if isinstance(exc, MessageRefused) else MessageRefused("content", repr(exc)))
            return
        super()._handle_msg(msg)

    def set_state(self, sync_data):
        """A view's trait update (ipywidgets calls this): checked against the traits' ``browser=`` fields, then
        applied as one unit; a refused update changes nothing and the views get the kernel's values back."""
        self._messages.set_state(sync_data, super().set_state)

    @property
    def refusals(self) -> list[dict]:
        """The last messages refused from the views (at most 100), oldest first: ``{"type": "refused",
        "message" (its type, or "update"), "field", "reason", "rid"}``."""
        return list(self._messages.refusals)
