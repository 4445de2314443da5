"""The territory's opacity and extent (issue 28, item 5) without a browser: the traits' validation from Python
and from a view (through the comm entry point the browser uses), the constructor, and ``save_png``'s one-off
territory settings in the export request. In-memory ArrayDynamics + PCA: fast, no numba."""
from __future__ import annotations

import numpy as np
import pytest
import traitlets

import ttvis_widget
from ttvis_widget import ArrayDynamics
from ttvis_widget.widget import TimeTravelWidget

N = 60


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rng = np.random.default_rng(0)
    reps = {e: rng.normal(size=(N, 5)).astype(np.float32) for e in (1, 2)}
    preds = {e: rng.normal(size=(N, 3)).astype(np.float32) for e in (1, 2)}
    dyn = ArrayDynamics(reps, predictions=preds, labels=rng.integers(0, 3, N), classes=["a", "b", "c"], name="style")
    return ttvis_widget.fit(dyn, method="pca", cache_dir=tmp_path_factory.mktemp("style-runs"), progress=False)


class Wire:
    def __init__(self, w):
        self.w, self.msgs = w, []
        w.comm.send = lambda data=None, metadata=None, buffers=None: self.msgs.append(data)

    def update(self, state):
        self.w.comm.handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []},
                                            "comm_id": self.w.comm.comm_id}, "buffers": []})

    def custom(self, content):
        self.w.comm.handle_msg({"content": {"data": {"method": "custom", "content": content},
                                            "comm_id": self.w.comm.comm_id}, "buffers": []})

    def sent(self, kind):
        return [d["content"] for d in self.msgs if d.get("method") == "custom" and d["content"].get("type") == kind]


def test_traits_default_validate_from_python_and_come_from_the_constructor(run):
    w = TimeTravelWidget(run)
    assert (w.territory_opacity, w.territory_extent) == (0.6, "support")
    w.territory_opacity, w.territory_extent = 0, "full"
    assert (w.territory_opacity, w.territory_extent) == (0.0, "full")
    for bad in (1.5, -0.01, float("nan"), float("inf"), "0.5"):
        with pytest.raises(traitlets.TraitError):
            w.territory_opacity = bad
    with pytest.raises(traitlets.TraitError, match="support"):
        w.territory_extent = "everywhere"
    assert (w.territory_opacity, w.territory_extent) == (0.0, "full")
    w2 = TimeTravelWidget(run, territory_opacity=0.25, territory_extent="full")
    assert (w2.territory_opacity, w2.territory_extent) == (0.25, "full")
    assert {"territory_opacity", "territory_extent"} <= set(w2.get_state())  # synced to the views


def test_a_views_update_is_checked_and_a_refused_one_changes_nothing(run):
    w = TimeTravelWidget(run)
    wire = Wire(w)
    wire.update({"territory_opacity": 0.3, "territory_extent": "full"})
    assert (w.territory_opacity, w.territory_extent) == (0.3, "full") and w.refusals == []
    for state, field in (({"territory_opacity": 2}, "territory_opacity"),
                         ({"territory_opacity": "1"}, "territory_opacity"),
                         ({"territory_opacity": True}, "territory_opacity"),
                         ({"territory_extent": "/etc/passwd"}, "territory_extent"),
                         ({"territory_extent": 1}, "territory_extent")):
        wire.update(state)
        assert w.refusals[-1]["field"] == field, (state, w.refusals[-1])
    assert (w.territory_opacity, w.territory_extent) == (0.3, "full")


def test_save_png_sends_its_own_territory_settings_or_the_traits(run, tmp_path):
    w = TimeTravelWidget(run, territory_opacity=0.4)
    wire = Wire(w)
    wire.custom({"type": "request", "rid": "view1"})
    w.save_png(tmp_path / "a.png", territory_opacity=0, territory_extent="full")
    w.save_png(tmp_path / "b.png")
    a, b = wire.sent("export")
    assert (a["territory_opacity"], a["territory_extent"]) == (0.0, "full")
    assert (b["territory_opacity"], b["territory_extent"]) == (0.4, "support")  # the traits
    assert (w.territory_opacity, w.territory_extent) == (0.4, "support")  # a one-off: the traits are untouched
    for kw in ({"territory_opacity": 1.2}, {"territory_opacity": float("nan")}, {"territory_extent": "all"}):
        with pytest.raises(ValueError, match="territory_"):
            w.save_png(tmp_path / "c.png", **kw)
    assert len(wire.sent("export")) == 2  # refused before anything was asked of the view
