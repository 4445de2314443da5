"""A view that cannot hold every epoch (a window of epochs in GPU slots, widget/live.py) in a real JupyterLab page:
the per-view budget is lowered so the digits run of four epochs gets a window of three.

- the debugger's trails read each epoch from its own slot: around epoch index 3 the view holds epochs 1-3 in
  slots that are not their indices, and the selected sample's trail runs through its positions at those epochs;
  its prediction history shows every epoch (epoch 0, not held, from the kernel);
- while the requested epoch is not held (its send is held back in the kernel) the view keeps drawing the nearest
  held epoch, says which epoch is loading, and draws the exact epoch once it arrives.
Screenshots go to artifacts/ (window-*.png)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from . import harness
from .harness import CANVAS
from .test_widget_browser import MIN_INK, View

pytestmark = pytest.mark.browser

ROOT = ".ttvis-root"
EPOCHS = 4
WINDOW = 3


def _cells(digits_dir) -> list[str]:
    return [
        "import threading, numpy as np\n"
        "import ttvis_widget\n"
        "import ttvis_widget.widget.live as lv\n"
        "from ttvis_widget.demo import make_digits_dynamics\n"
        f"path = make_digits_dynamics({str(digits_dir)!r}, epochs={EPOCHS})\n"
        f"lv.BROWSER_BUDGET = {WINDOW} * ttvis_widget.load(path).n_samples * lv.BYTES_HELD",
        "from ttvis_widget import TimeTravelWidget\n"
        "w = TimeTravelWidget(path, method='pca', progress=False)\n"
        "w",
    ]


def _held(page) -> list[int]:
    return page.evaluate("(sel) => document.querySelector(sel).__ttvis.held", CANVAS)


def _hook(page, expr: str):
    return page.evaluate(f"(sel) => {{ const h = document.querySelector(sel).__ttvis; return {expr}; }}", CANVAS)


def _wait_window(v: View, held: list[int], t: float):
    """The kernel sent what the window around time t holds, and the view draws exactly time t."""
    assert v.k.eval("w._streams.settle(60)")
    v.page.wait_for_function(
        "([sel, want, t]) => { const h = document.querySelector(sel).__ttvis;"
        " return JSON.stringify(h.held) === want && Math.abs(h.time - t) < 1e-6 && h.loading === null; }",
        arg=[CANVAS, str(held).replace(" ", ""), t], timeout=60_000, polling=100)
    harness.settle(v.page)


@pytest.fixture(scope="module")
def win_view(lab_server, new_page, digits_dir):
    page = new_page("window-lab")
    timings = harness.open_widget_notebook(page, lab_server, "window-lab.ipynb", _cells(digits_dir), ui="lab")
    v = View(page, lab_server.kernel("window-lab.ipynb"), timings)
    assert _hook(page, "h.window") == WINDOW, "the lowered budget did not give a window"
    page.locator(CANVAS).first.scroll_into_view_if_needed()
    page.mouse.move(2, 2)
    yield v
    v.k.close()
    v.page.close()
    for s in lab_server.api("GET", "/api/sessions") or []:
        lab_server.api("DELETE", f"/api/sessions/{s['id']}")


def _diff_pixels(a: bytes, b: bytes, tol: int = 24) -> np.ndarray:
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB")).astype(np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).astype(np.int16)
    rows, cols = np.nonzero(np.abs(x - y).max(axis=2) > tol)
    return np.stack([cols, rows], axis=1).astype(np.float64)  # (x, y) in canvas px


def _distance_to_path(p: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Distance of each point of p [M, 2] to the polyline path [K, 2]."""
    best = np.full(len(p), np.inf)
    for a, b in zip(path[:-1], path[1:]):
        ab = b - a
        t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
        best = np.minimum(best, np.linalg.norm(p - (a + t[:, None] * ab), axis=1))
    return best


def test_trails_of_a_windowed_view_run_through_the_held_epochs_positions(win_view):
    v, page = win_view, win_view.page
    last = len(v.epochs) - 1
    v.set_epoch(v.epochs[last])
    _wait_window(v, [1, 2, 3], float(last))
    slots = v.k.eval("dict(w._streams.views[next(iter(w._streams.views))].held)")
    assert any(int(e) != s for e, s in slots.items()), f"the slots happen to be the epoch indices: {slots}"
    page.locator(f"{ROOT} input.ttvis-toggle-lines").first.uncheck()  # trails alone
    screen = v.screen_positions(v.epochs[last])
    i, _ = harness.isolated_point(screen, v.canvas_rect(), margin=80)
    v.k.run(f"w.selection = [{i}]")
    page.wait_for_function("(sel) => { const d = document.querySelector(sel).__ttvis.debug;"
                           " return d.trailSamples === 1 && d.trailSegments === 2 && d.trailCalls === 1; }",
                           arg=CANVAS, timeout=30_000, polling=100)
    harness.settle(page)
    # the sample panel's prediction history covers every epoch, held or not (the kernel sends the rest)
    hist = [(h["epoch"], h["prediction"]) for h in v.k.eval(f"w.prediction_history({i})")]
    page.wait_for_function(
        "([root, want]) => { const c = [...document.querySelectorAll(root + ' .ttvis-history-cell')];"
        " return JSON.stringify(c.map((x) => [Number(x.dataset.epoch), x.dataset.cls === '' ? null :"
        " Number(x.dataset.cls)])) === want; }",
        arg=[ROOT, str([list(h) for h in hist]).replace(" ", "")], timeout=30_000, polling=100)
    with_trail = v.canvas_png()
    harness.save_artifact("window-trail.png", with_trail)
    page.locator(f"{ROOT} input.ttvis-toggle-trails").first.uncheck()
    page.wait_for_function("(sel) => document.querySelector(sel).__ttvis.debug.trailSamples === 0", arg=CANVAS,
                           timeout=30_000)
    harness.settle(page)
    plain = v.canvas_png()
    page.locator(f"{ROOT} input.ttvis-toggle-trails").first.check()
    page.locator(f"{ROOT} input.ttvis-toggle-lines").first.check()
    v.k.run("w.selection = []")
    diff = _diff_pixels(plain, with_trail)
    assert len(diff) > 40, f"the trail changed only {len(diff)} pixels"
    rect = v.canvas_rect()
    path = np.asarray([v.screen_positions(v.epochs[k])[i] for k in (1, 2, 3)]) - [rect["x"], rect["y"]]
    off = _distance_to_path(diff, path)
    # the trail is a few px wide: what it changed lies along sample i's path over the held epochs 1, 2, 3
    assert np.quantile(off, 0.98) < 6.0, (f"trail pixels lie off the sample's path (98% within "
                                          f"{np.quantile(off, 0.98):.1f} px); path {path.tolist()}")


def test_a_windowed_view_draws_the_nearest_held_epoch_while_the_requested_one_loads(win_view):
    v, page = win_view, win_view.page
    last = len(v.epochs) - 1
    v.set_epoch(v.epochs[last])
    _wait_window(v, [1, 2, 3], float(last))
    # hold back every epoch the kernel sends from now on
    v.k.run("_gate = threading.Event(); _send = w._streams._send_epoch\n"
            "def _held_send(view, k):\n"
            "    assert _gate.wait(120)\n"
            "    _send(view, k)\n"
            "w._streams._send_epoch = _held_send")
    try:
        frames = _hook(page, "h.frames")
        v.k.run("w.time = 0.0")
        page.wait_for_function(
            "([sel, e]) => { const h = document.querySelector(sel).__ttvis;"
            " return h.requestedTime === 0 && h.loading === e; }",
            arg=[CANVAS, v.epochs[0]], timeout=30_000, polling=50)
        harness.settle(page)
        state = _hook(page, "({time: h.time, frames: h.frames, held: h.held, loading: h.loading})")
        assert state["frames"] > frames and state["time"] == 1.0, state  # drawn: the nearest held epoch, 1
        badge = page.locator(f"{ROOT} .ttvis-loading").first
        assert badge.is_visible() and f"epoch {v.epochs[0]} loading" in badge.inner_text()
        png = v.canvas_png()
        harness.save_artifact("window-loading.png", page.locator(ROOT).first.screenshot(type="png"))
        assert harness.non_background_pixels(png) >= MIN_INK, "nothing drawn while the epoch loads"
    finally:
        v.k.run("_gate.set()")
    page.wait_for_function("(sel) => { const h = document.querySelector(sel).__ttvis;"
                           " return h.time === 0 && h.loading === null; }", arg=CANVAS, timeout=60_000, polling=50)
    assert not page.locator(f"{ROOT} .ttvis-loading").first.is_visible()
    assert v.k.eval("w._streams.settle(60)")
    v.k.run("w._streams._send_epoch = _send")
    assert _held(page) == [0, 1, 2]


def test_an_animation_of_a_windowed_view_waits_for_each_frames_epoch(win_view, tmp_path):
    """Exported frames of a windowed view are each drawn from their own epochs: the export slides the window
    to each frame's time and waits for it (none drawn from a stand-in), starting at epoch index 0, which the
    window around the last epoch does not hold."""
    v, page = win_view, win_view.page
    last = len(v.epochs) - 1
    v.set_epoch(v.epochs[last])
    _wait_window(v, [1, 2, 3], float(last))
    before = _hook(page, "h.standIns")
    out = tmp_path / "windowed.gif"
    v.k.run(f"job = w.save_animation({str(out)!r}, seconds=1.0, fps=8)")
    harness.wait_until(lambda: v.k.eval("job.done"), timeout=120, what="the GIF export")
    assert v.k.eval("job.error") is None, v.k.eval("job.error")
    from PIL import Image

    with Image.open(out) as gif:
        assert gif.n_frames >= 7
    assert _hook(page, "h.standIns") == before  # every frame drawn from the epochs of its own time
