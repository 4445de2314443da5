"""``w.chart()``: a plotly ``FigureWidget`` of the run's per-epoch curves, linked both ways with the widget.

Curves: train/test accuracy and loss from ``dynamics.training_metrics()`` (left axis; what the writer recorded,
else computed by the store from the logits), and the visualization's
faithfulness (NN@15, PPR, trustworthiness from ``run.metrics()``) on the right axis *only when that table is
already cached* in the run folder: drawing a chart never starts a metrics computation.

Linking: clicking the chart sets ``w.epoch`` to the clicked epoch (plotly reports the click to the kernel; its
x is untrusted browser input, so it must be a recorded epoch or the click is refused). ``w.time`` moves a
vertical marker (the fractional epoch while scrubbing), throttled in the kernel to at most ``MARKER_HZ``
updates a second: the chart is a separate widget, so the canvas keeps drawing at full rate whatever the chart
does. plotly >= 6 builds its FigureWidget on anywidget, so it needs no Jupyter extension (JupyterLab,
Notebook 7).
"""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path


from .fields import Epoch, MessageRefused

MARKER_HZ = 10.0
FAITHFULNESS = (("nn15_exact_train", "NN@15 (train)"), ("ppr_train", "PPR (train)"),
                ("trust15", "trustworthiness@15"))
TRAINING = (("train_accuracy", "train accuracy", "#1f77b4", "solid"),
            ("test_accuracy", "test accuracy", "#1f77b4", "dash"),
            ("train_loss", "train loss", "#d62728", "solid"),
            ("test_loss", "test loss", "#d62728", "dash"))

__all__ = ["make_chart", "training_table", "cached_faithfulness", "Throttle", "MARKER_HZ"]


class Throttle:
    """Call ``fn(value)`` at most ``hz`` times a second with the latest value: at once when the last call is
    older than 1/hz, otherwise once at the end of the interval (trailing), so the final value always lands.
    ``clock`` and ``timer`` are injectable for tests."""

    def __init__(self, fn, hz: float = MARKER_HZ, clock=time.monotonic, timer=threading.Timer):
        self.fn, self.period, self.clock, self.timer = fn, 1.0 / hz, clock, timer
        self._last = -math.inf
        self._pending = None
        self._value = None
        self._lock = threading.Lock()

    def __call__(self, value) -> None:
        with self._lock:
            self._value = value
            wait = self._last + self.period - self.clock()
            if wait <= 0 and self._pending is None:
                self._last = self.clock()
                fire = True
            else:
                fire = False
                if self._pending is None:
                    self._pending = self.timer(max(wait, 0.0), self._flush)
                    self._pending.daemon = True
                    self._pending.start()
        if fire:
            self.fn(value)

    def _flush(self) -> None:
        with self._lock:
            self._pending = None
            self._last = self.clock()
            value = self._value
        self.fn(value)

    def cancel(self) -> None:
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None


def training_table(dynamics, epochs) -> list[dict]:
    """One row per epoch in ``epochs`` from ``dynamics.training_metrics()`` (recorded by the writer, or computed
    by the store from the recorded logits and labels; store/training_metrics.py)."""
    rows = {int(r["epoch"]): r for r in dynamics.training_metrics()}
    return [rows.get(int(e), {"epoch": int(e)}) for e in epochs]


def cached_faithfulness(run) -> list[dict] | None:
    """The per-epoch rows of ``run.metrics()`` when they are already cached in the run folder, else None (the
    table is never computed here)."""
    from ..metrics.evaluate import METRICS_FILE

    path = getattr(run, "path", None)
    f = Path(path) / METRICS_FILE if path is not None else None
    if f is None or not f.is_file():
        return None
    try:
        rows = json.loads(f.read_text()).get("rows") or []
    except (OSError, ValueError, AttributeError):
        return None
    return [r for r in rows if isinstance(r, dict) and r.get("row") == "epoch" and r.get("epoch") is not None]


def _series(rows, key):
    ys = [r.get(key) for r in rows]
    ys = [None if (v is None or not isinstance(v, (int, float)) or not math.isfinite(v)) else float(v) for v in ys]
    return ys if any(v is not None for v in ys) else None


def marker_x(epochs, t: float) -> float:
    """The epoch value (fractional between recorded epochs) at timeline position ``t``."""
    k0 = int(math.floor(t))
    k1 = min(k0 + 1, len(epochs) - 1)
    return float(epochs[k0] + (epochs[k1] - epochs[k0]) * (t - k0))


def make_chart(widget, height: int = 320):
    """The FigureWidget for ``widget`` (see the module docstring); kept linked until it is closed."""
    import plotly.graph_objects as go

    eps = list(widget.epochs)
    rows = training_table(widget.dynamics, eps)
    fig = go.FigureWidget()
    for key, name, color, dash in TRAINING:
        ys = _series(rows, key)
        if ys is not None:
            fig.add_scatter(x=eps, y=ys, name=name, mode="lines+markers", line={"color": color, "dash": dash},
                            meta=key)
    faith = cached_faithfulness(widget.run)
    right = False
    if faith:
        by_epoch = {int(r["epoch"]): r for r in faith}
        frows = [by_epoch.get(e, {}) for e in eps]
        for (key, name), color in zip(FAITHFULNESS, ("#2ca02c", "#9467bd", "#8c564b")):
            ys = _series(frows, key)
            if ys is not None:
                right = True
                fig.add_scatter(x=eps, y=ys, name=name, mode="lines+markers", yaxis="y2", meta=key,
                                line={"color": color, "dash": "dot"})
    lo, hi = float(eps[0]), float(eps[-1])
    pad = max(0.5, 0.02 * (hi - lo))
    x0 = marker_x(eps, widget.time)
    fig.update_layout(
        height=height, margin={"l": 50, "r": 60 if right else 20, "t": 30, "b": 40}, hovermode="x",
        title={"text": f"{widget.info.get('name', '')}: training" + (" and faithfulness" if right else ""),
               "font": {"size": 13}},
        xaxis={"title": {"text": "epoch"}, "range": [lo - pad, hi + pad]},
        yaxis={"title": {"text": "accuracy / loss"}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
        shapes=[{"type": "line", "xref": "x", "yref": "paper", "x0": x0, "x1": x0, "y0": 0, "y1": 1,
                 "line": {"color": "#444", "width": 2}, "name": "ttvis-epoch-marker"}])
    if right:
        fig.update_layout(yaxis2={"title": {"text": "faithfulness (visualization)"}, "overlaying": "y",
                                  "side": "right", "range": [0, 1.02]})
    elif not fig.data:  # nothing to plot: say so instead of an empty frame
        fig.add_annotation(text="no per-epoch figures in this recording", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    _link(widget, fig, eps)
    return fig


def _link(widget, fig, eps) -> None:
    epoch_field = Epoch()

    def clicked(trace, points, state):
        xs = list(getattr(points, "xs", []) or [])
        if not xs:
            return
        x = xs[0]
        try:  # the click's x comes from the browser: only a recorded epoch may set w.epoch
            if isinstance(x, float) and x.is_integer():
                x = int(x)
            e = epoch_field.check(x, widget, "x")
        except MessageRefused as exc:
            exc.kind = "chart click"
            widget._messages.refuse(exc)
            return
        widget.epoch = e

    for tr in fig.data:
        tr.on_click(clicked)

    def move(t):
        try:
            x = marker_x(eps, float(t))
            with fig.batch_update():
                fig.layout.shapes[0].x0 = x
                fig.layout.shapes[0].x1 = x
        except Exception:  # noqa: BLE001 - a closed chart: stop following
            stop()

    throttle = Throttle(move)

    def on_time(change):
        throttle(change["new"])

    def stop(*_):
        throttle.cancel()
        try:
            widget.unobserve(on_time, names="time")
        except ValueError:
            pass

    widget.observe(on_time, names="time")
    fig._ttvis_unlink = stop  # noqa: SLF001 - for close()
    charts = widget.__dict__.setdefault("_charts", [])
    charts.append(fig)
    orig_close = fig.close

    def close():
        stop()
        if fig in charts:
            charts.remove(fig)
        orig_close()

    fig.close = close

