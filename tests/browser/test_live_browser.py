"""A widget whose fit runs in the background, and one that follows a recording still being written, in a real
JupyterLab page: the view draws epoch 1 while the later epochs are still being fitted, and the slider and the
loaded epochs extend as they arrive, in the same view (never re-displayed)."""
from __future__ import annotations

import pytest

from . import harness
from .harness import CANVAS

pytestmark = pytest.mark.browser

CELLS = [
    "import threading, numpy as np\n"
    "import ttvis_widget\n"
    "from ttvis_widget.demo import make_digits_dynamics\n"
    "from ttvis_widget.engine.baselines import PCABaseline\n"
    "from ttvis_widget.store import SummaryWriter\n"
    "src = ttvis_widget.load(make_digits_dynamics({digits!r}, epochs=4))\n"
    "gate = threading.Event()\n"
    "_real = PCABaseline.fit_epoch\n"
    "def _held(self, ctx, e):  # every epoch after the first waits for the test\n"
    "    if e != src.epochs[0]:\n"
    "        assert gate.wait(300)\n"
    "    _real(self, ctx, e)\n"
    "PCABaseline.fit_epoch = _held\n"
    "wr = SummaryWriter({rec!r}, name='live-digits', classes=src.class_names)\n"
    "wr.set_samples(labels=src.labels, split=src.split)\n"
    "for e in src.epochs[:2]:\n"
    "    wr.add_epoch(e, src.representation(e), src.prediction(e))",
    "from ttvis_widget import TimeTravelWidget\n"
    "w = TimeTravelWidget({rec!r}, method='pca', live=True, cache_dir={cache!r})\n"
    "w",
]

STATE = """(sel) => { const h = document.querySelector(sel).__ttvis;
  return {ready: h.ready, frames: h.frames, epochsLoaded: h.epochsLoaded, nEpochs: h.nEpochs, sliderMax: h.sliderMax,
          marker: document.querySelector(sel).__marker || null, progress: h.progress, n: h.n}; }"""


def _state(page):
    return page.evaluate(STATE, CANVAS)


def test_the_view_draws_epoch_1_while_later_epochs_fit_and_extends_as_they_arrive(lab_server, new_page, tmp_path):
    digits = tmp_path / "digits"
    rec, cache = tmp_path / "rec", tmp_path / "cache"
    cells = [c.format(digits=str(digits), rec=str(rec), cache=str(cache)) for c in CELLS]
    page = new_page("live-lab")
    harness.open_widget_notebook(page, lab_server, "live.ipynb", cells, ui="lab")
    k = lab_server.kernel("live.ipynb")
    try:
        # epoch 1 is drawn while epoch 2 is held in its fit
        page.wait_for_function("(sel) => { const h = document.querySelector(sel).__ttvis;"
                               " return h && h.ready && h.frames > 0 && h.epochsLoaded === 1; }",
                               arg=CANVAS, timeout=120_000, polling=100)
        s = _state(page)
        assert s["epochsLoaded"] == 1 and s["nEpochs"] == 2 and s["sliderMax"] == 1 and s["n"] == 1797
        assert k.eval("w.ready_epochs") == [1] and k.eval("w.progress['state']") == "fitting"
        png = page.locator(CANVAS).first.screenshot(type="png", animations="disabled")
        assert harness.non_background_pixels(png) > 300  # the points of epoch 1 are on screen
        harness.save_artifact("live-epoch1-while-fitting.png", png)
        page.evaluate("(sel) => { document.querySelector(sel).__marker = 'first-view'; }", CANVAS)

        k.run("gate.set()")
        page.wait_for_function("(sel) => document.querySelector(sel).__ttvis.epochsLoaded === 2",
                               arg=CANVAS, timeout=120_000, polling=100)
        # the training goes on: two more epochs are recorded; the slider extends in the same view
        k.run("for e in src.epochs[2:]:\n    wr.add_epoch(e, src.representation(e), src.prediction(e))")
        page.wait_for_function("(sel) => { const h = document.querySelector(sel).__ttvis;"
                               " return h.epochsLoaded === 4 && h.sliderMax === 3; }",
                               arg=CANVAS, timeout=120_000, polling=100)
        s = _state(page)
        assert s["marker"] == "first-view" and page.locator(CANVAS).count() == 1  # not re-displayed
        assert s["nEpochs"] == 4 and s["progress"]["state"] in ("following", "fitting")
        assert k.eval("w.ready_epochs") == [1, 2, 3, 4]
        # the newest epoch can be shown: drag the time to it from the kernel
        k.run("w.epoch = 4")
        harness.wait_time(page, 3.0)
        assert not page.evaluate("(sel) => document.querySelector(sel).__ttvis.error", CANVAS)
        harness.save_artifact("live-epoch4.png", page.locator(CANVAS).first.screenshot(type="png"))
    finally:
        try:
            k.run("w.stop()")
        finally:
            k.close()
