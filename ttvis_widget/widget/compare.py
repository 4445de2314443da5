"""``ttvis_widget.compare(a, b)``: two runs side by side with one time slider, hover and selection linked.

The comparison is a small anywidget (:class:`CompareWidget`) that holds the two :class:`TimeTravelWidget`
instances and nothing else: its front end (js/src/compare.js) renders one ordinary view of each, hides the
second one's time bar and links the two views in the browser (time every frame, hover), so the memory is that
of the two widgets. Selection is linked in the kernel (``a.selection`` <-> ``b.selection``), so it holds from
Python as well as from either view.

Samples are matched by index: two methods on one dynamics share every sample; two trainings of one dataset are
matched when their sample counts agree. When they do not, only time is linked, the call warns and the legend
says so. The second view is aligned to the first by orthogonal Procrustes per epoch (align.py), unless
``align=False``; the legend says which.
"""
from __future__ import annotations

import warnings

import anywidget
import traitlets as t
from ipywidgets import widget_serialization

from .align import AlignedRun
from .messages import CheckedComm, MessageRouter
from .widget import BUNDLE, _MISSING_BUNDLE_ESM, TimeTravelWidget, resolve_run

LINKS = ("time", "hover", "selection")

__all__ = ["compare", "CompareWidget", "LINKS"]


class CompareWidget(CheckedComm, anywidget.AnyWidget):
    """Two TimeTravelWidgets side by side (made by :func:`compare`). ``a``, ``b``: the widgets (``b`` shows the
    aligned positions when aligned); ``link``: what is linked; ``note``: the legend line (alignment, matching);
    ``epoch``: get/set both views' epoch. Nothing a view sends may change its traits (all are read-only)."""

    _esm = BUNDLE if BUNDLE.exists() else _MISSING_BUNDLE_ESM
    views = t.List(t.Instance(TimeTravelWidget)).tag(sync=True, **widget_serialization)
    link = t.List(t.Unicode()).tag(sync=True)
    note = t.Unicode("").tag(sync=True)
    warning = t.Unicode("").tag(sync=True)
    kind = t.Unicode("compare").tag(sync=True)  # the bundle's render dispatches on it

    def __init__(self, a: TimeTravelWidget, b: TimeTravelWidget, link, note: str, warning: str = ""):
        super().__init__(views=[a, b], link=list(link), note=note, warning=warning)
        self._messages = MessageRouter(self)
        self.on_msg(self._messages.dispatch)
        self._linking = False
        if "selection" in self.link:
            a.observe(self._selection_a, names="selection")
            b.observe(self._selection_b, names="selection")

    # ---- linking in the kernel ------------------------------------------------------------------------
    @property
    def a(self) -> TimeTravelWidget:
        return self.views[0]

    @property
    def b(self) -> TimeTravelWidget:
        return self.views[1]

    def _copy_selection(self, change, dst):
        if self._linking or list(dst.selection) == list(change["new"]):
            return
        self._linking = True
        try:
            dst.selection = list(change["new"])
        finally:
            self._linking = False

    def _selection_a(self, change):
        self._copy_selection(change, self.b)

    def _selection_b(self, change):
        self._copy_selection(change, self.a)

    @property
    def epoch(self) -> int:
        return self.a.epoch

    @epoch.setter
    def epoch(self, e: int) -> None:
        """Both views to epoch ``e`` (the second to its nearest recorded epoch)."""
        e = int(e)
        self.a.epoch = e
        self.b.epoch = min(self.b.epochs, key=lambda x: (abs(x - e), x))

    def close(self):
        for w, fn in ((self.a, self._selection_a), (self.b, self._selection_b)):
            try:
                w.unobserve(fn, names="selection")
            except ValueError:
                pass
        super().close()

    def __repr__(self) -> str:
        return f"<CompareWidget link={list(self.link)} a={self.a!r} b={self.b!r}>"


def _as_widget(x, method, fit_params) -> TimeTravelWidget:
    if isinstance(x, TimeTravelWidget):
        return x
    return TimeTravelWidget(run=resolve_run(x, method=method, **fit_params))


def compare(a, b, link=LINKS, align: bool = True, method: str = "dvi", **fit_params) -> CompareWidget:
    """Show two runs side by side with one time slider, hover and selection linked (``link``: any of "time",
    "hover", "selection").

    ``a`` and ``b``: VisRuns, content paths (fitted with ``method`` and ``fit_params``, or loaded from the run
    cache), TrainingDynamics, or TimeTravelWidgets. Samples are matched by index: they must be the same
    dynamics, or have the same number of samples; otherwise only time is linked (a warning says so, and the
    legend). With ``align`` (default) the second view's positions are aligned to the first's per epoch by
    orthogonal Procrustes over the shared samples; a widget given as ``b`` is aligned in place (its
    ``positions()`` become the aligned ones). Returns a :class:`CompareWidget`; display it.
    """
    link = tuple(link)
    unknown = sorted(set(link) - set(LINKS))
    if unknown:
        raise ValueError(f"link= may name {list(LINKS)}; got {unknown}")
    if a is b:
        raise ValueError("compare needs two different runs or widgets; got the same object twice")
    wa = _as_widget(a, method, fit_params)
    if isinstance(b, TimeTravelWidget):
        wb, run_b = b, b.run
    else:
        wb, run_b = None, resolve_run(b, method=method, **fit_params)
    if wb is wa:
        raise ValueError("compare needs two different widgets; got the same widget twice")
    if isinstance(run_b, AlignedRun):  # compared before: start from the raw run
        run_b = run_b.base
    da, db = wa.run.dynamics, run_b.dynamics
    na, nb = int(da.n_samples), int(db.n_samples)
    notes, warning = [], ""
    if da is db:
        notes.append(f"one training, two visualizations: all {na:,} samples shared")
    elif na == nb:
        notes.append(f"two trainings matched by sample index ({na:,} samples)")
    else:
        warning = (f"the two runs hold different numbers of samples ({na:,} vs {nb:,}): samples cannot be matched, "
                   "so only time is linked and the second view is not aligned")
        warnings.warn(f"ttvis_widget.compare: {warning}", stacklevel=2)
        link = tuple(x for x in link if x == "time")
        align = False
    if align:
        run_b = AlignedRun(run_b, wa.run)
        notes.append(run_b.note())
    else:
        notes.append("not aligned: each view in its own coordinates")
    if wb is None:
        wb = TimeTravelWidget(run=run_b)
    elif wb.run is not run_b:
        wb.run = run_b
        wb._payload = None  # the aligned positions replace the raw ones; views rendered later get them
        wb._territory_ok = False  # territories live in the raw frame
    if align:
        wb._territory_ok = False
        notes.append("no territory in the aligned view")
    for w in (wa, wb):  # each view's first epoch first, whichever view asked first
        w.stream_in_background = True
    names = [f"{w.info.get('name', '')} · {w.info.get('method', '')}" for w in (wa, wb)]
    note = f"left: {names[0]}; right: {names[1]}. " + "; ".join(notes) + "."
    return CompareWidget(wa, wb, link, note, warning)
