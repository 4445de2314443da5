"""The kernel's interrupt button stops background fits.

ipykernel ignores SIGINT while no cell runs: it installs Python's default handler only around each message it
handles and restores the handler it saved before (``Kernel.pre_handler_hook`` / ``post_handler_hook``). A fit
running in a background thread of an idle kernel would never hear the interrupt. When a widget starts a
background fit inside a kernel, ``watch`` chains a handler into the one ipykernel restores between messages:
an interrupt while no cell runs stops every running background fit at its next epoch boundary (resumable),
then does what the kernel did before (nothing, by default). During a cell the interrupt goes to that cell as it
always did (``w.wait()`` in that cell stops its own fit). Outside a kernel (a script) nothing is installed:
Ctrl-C raises KeyboardInterrupt in the main thread as usual.
"""
from __future__ import annotations

import weakref

_fits: weakref.WeakSet = weakref.WeakSet()


def watch(fit) -> bool:
    """Stop ``fit`` (anything with ``stop()``) on an interrupt of the idle kernel; False when not in a kernel
    whose idle handler can be chained (then only ``w.stop()``, the Stop button and ``w.wait()`` stop it)."""
    _fits.add(fit)
    kernel = _kernel()
    if kernel is None or not hasattr(kernel, "saved_sigint_handler"):
        return False
    if not hasattr(kernel.saved_sigint_handler, "ttvis_previous"):  # chained once per kernel
        kernel.saved_sigint_handler = _stopping(kernel.saved_sigint_handler)
    return True


def _stopping(previous):
    def on_interrupt(signum, frame):
        for fit in list(_fits):
            if getattr(fit, "running", True):
                fit.stop()
        if callable(previous):
            previous(signum, frame)

    on_interrupt.ttvis_previous = previous
    return on_interrupt


def _kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "kernel", None) if shell is not None else None
