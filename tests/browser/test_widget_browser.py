"""TimeTravelWidget in a real browser: renders in JupyterLab and Notebook 7 (WebGL2 in software), and the
slider, kernel-side trait changes, hover tooltips and click / lasso selection work end to end.

One JupyterLab notebook (and its kernel) is shared by the interaction tests; Notebook 7 only checks
rendering. Screenshots go to artifacts/ (gitignored)."""
from __future__ import annotations


import numpy as np
import pytest

from . import harness
from .harness import CANVAS, SLIDER, TOOLTIP

pytestmark = pytest.mark.browser

EPOCHS = 4
MIN_INK = 300  # non-background canvas pixels a rendered scatterplot of 1,797 points has at the very least


class View:
    """A rendered widget: the page, a client on its kernel, and helpers that read both sides."""

    def __init__(self, page, kernel, timings):
        self.page, self.k, self.timings = page, kernel, timings
        self.epochs = kernel.eval("w.epochs")

    def canvas_png(self) -> bytes:
        return self.page.locator(CANVAS).first.screenshot(type="png", animations="disabled")

    def set_epoch(self, epoch: int):
        self.k.run(f"w.epoch = {int(epoch)}")
        harness.wait_time(self.page, float(self.epochs.index(epoch)))

    def kernel_value(self, expr: str, want, timeout: float = 30.0):
        """Poll the kernel until ``expr`` == want; return the last value either way."""
        last = [None]

        def ok():
            last[0] = self.k.eval(expr)
            return last[0] == want

        try:
            harness.wait_until(ok, timeout=timeout, interval=0.3, what=f"{expr} == {want!r}")
        except harness.HarnessError:
            pass
        return last[0]

    def screen_positions(self, epoch: int):
        xy = np.asarray(self.k.eval(f"w.positions({int(epoch)})"), dtype=np.float64)
        return np.asarray(harness.data_to_client(self.page, xy), dtype=np.float64)

    def canvas_rect(self):
        return self.page.evaluate(
            "(sel) => { const r = document.querySelector(sel).getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}; }", CANVAS)


def _open_view(server, new_page, digits_dir, name, ui):
    from ttvis_widget.widget.widget import BUNDLE

    if not BUNDLE.exists():
        pytest.fail(f"the widget's front-end bundle {BUNDLE} is missing: run `cd js && npm install && npm run build`",
                    pytrace=False)
    page = new_page(name)
    timings = harness.open_widget_notebook(page, server, f"{name}.ipynb", harness.widget_cells(digits_dir, EPOCHS),
                                           ui=ui)
    k = server.kernel(f"{name}.ipynb")
    view = View(page, k, timings)
    harness.wait_all_epochs(page, len(view.epochs))
    page.locator(CANVAS).first.scroll_into_view_if_needed()
    harness.settle(page)
    return view


@pytest.fixture(scope="module")
def lab_view(lab_server, new_page, digits_dir):
    v = _open_view(lab_server, new_page, digits_dir, "widget-lab", "lab")
    yield v
    v.k.close()
    v.page.close()
    for s in lab_server.api("GET", "/api/sessions") or []:
        lab_server.api("DELETE", f"/api/sessions/{s['id']}")


def _check_rendered(view, artifact: str):
    state = harness.hook_state(view.page)
    assert state and state["ready"], f"canvas.__ttvis not ready: {state}"
    assert state["epochsLoaded"] >= len(view.epochs), state
    assert state.get("webgl2") is not False and not state.get("error"), f"widget reports no WebGL2 / an error: {state}"
    png = view.canvas_png()
    harness.save_artifact(artifact, png)
    harness.save_artifact(artifact.replace(".png", "-page.png"), view.page.screenshot(type="png"))
    ink = harness.non_background_pixels(png)
    assert ink >= MIN_INK, f"canvas looks empty: {ink} non-background pixels (artifacts/{artifact})"
    return state, ink


def test_renders_in_jupyterlab(lab_view):
    state, ink = _check_rendered(lab_view, "widget-jupyterlab.png")
    assert isinstance(state["lastFrameMs"], (int, float)) and state["lastFrameMs"] >= 0, state


def test_renders_in_notebook7(notebook_server, new_page, digits_dir):
    view = _open_view(notebook_server, new_page, digits_dir, "widget-nb7", "notebook")
    try:
        _check_rendered(view, "widget-notebook7.png")
    finally:
        view.k.close()
        view.page.close()
        for s in notebook_server.api("GET", "/api/sessions") or []:  # free the kernel's memory and CPU
            notebook_server.api("DELETE", f"/api/sessions/{s['id']}")


def test_slider_drag_changes_epoch_and_frame(lab_view):
    v, page = lab_view, lab_view.page
    first, last = v.epochs[0], v.epochs[-1]
    v.set_epoch(first)
    before = v.canvas_png()
    slider = page.locator(SLIDER).first
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 6, y)  # the thumb sits at the left end at the first epoch
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, y, steps=5)
    page.mouse.move(box["x"] + box["width"] - 2, y, steps=5)
    page.mouse.up()
    got = v.kernel_value("w.epoch", last)
    assert got == last, f"dragging the slider to its right end left w.epoch at {got} (want {last})"
    harness.wait_time(page, float(len(v.epochs) - 1))
    after = v.canvas_png()
    diff = harness.pixel_difference(before, after)
    harness.save_artifact("slider-before.png", before)
    harness.save_artifact("slider-after.png", after)
    assert diff > 100, f"the frame did not change between epoch {first} and {last} ({diff} pixels differ)"


def test_kernel_epoch_moves_slider(lab_view):
    v, page = lab_view, lab_view.page
    slider = page.locator(SLIDER).first

    def fraction():
        return page.evaluate("(el) => { const lo = +el.min || 0, hi = el.max === '' ? 100 : +el.max;"
                             " return (+el.value - lo) / (hi - lo); }", slider.element_handle())

    n = len(v.epochs)
    for k in (0, n - 1, 1):
        v.set_epoch(v.epochs[k])
        want = k / (n - 1)
        harness.wait_until(lambda: abs(fraction() - want) < 0.02, timeout=15,
                           what=f"slider at {want:.2f} of its range after w.epoch = {v.epochs[k]}")


def test_hover_shows_tooltip_with_image(lab_view):
    v, page = lab_view, lab_view.page
    epoch = v.epochs[-1]
    v.set_epoch(epoch)
    page.mouse.move(2, 2)
    screen = v.screen_positions(epoch)
    i, gap = harness.isolated_point(screen, v.canvas_rect())
    page.mouse.move(float(screen[i, 0]) - 30, float(screen[i, 1]) - 30)
    page.mouse.move(float(screen[i, 0]), float(screen[i, 1]), steps=4)
    tip = page.locator(TOOLTIP).first
    tip.wait_for(state="visible", timeout=15_000)
    page.wait_for_function(
        "(sel) => { const img = document.querySelector(sel + ' img');"
        " return !!(img && img.complete && img.naturalWidth > 0); }", arg=TOOLTIP, timeout=15_000)
    hovered = v.kernel_value("w.hovered", i, timeout=15)
    harness.save_artifact("hover-tooltip.png", page.screenshot(type="png"))
    assert hovered == i, f"hovering sample {i} (nearest neighbour {gap:.0f}px away) set w.hovered = {hovered}"
    page.mouse.move(2, 2)


def test_click_selects_point(lab_view):
    v, page = lab_view, lab_view.page
    epoch = v.epochs[-1]
    v.set_epoch(epoch)
    v.k.run("w.selection = []")
    screen = v.screen_positions(epoch)
    i, gap = harness.isolated_point(screen, v.canvas_rect())
    page.mouse.move(float(screen[i, 0]), float(screen[i, 1]), steps=3)
    page.mouse.click(float(screen[i, 0]), float(screen[i, 1]))
    got = v.kernel_value("w.selection", [i])
    assert got == [i], f"clicking sample {i} (nearest neighbour {gap:.0f}px away) gave w.selection = {got}"
    page.mouse.move(2, 2)


def test_lasso_selects_points(lab_view):
    """Shift-drag draws a lasso (the widget's documented gesture); the points inside arrive in w.selection."""
    v, page = lab_view, lab_view.page
    epoch = v.epochs[-1]
    v.set_epoch(epoch)
    v.k.run("w.selection = []")
    screen = v.screen_positions(epoch)
    rect = v.canvas_rect()
    inside_canvas = ((screen[:, 0] > rect["x"] + 60) & (screen[:, 0] < rect["x"] + rect["width"] - 60)
                     & (screen[:, 1] > rect["y"] + 50) & (screen[:, 1] < rect["y"] + rect["height"] - 50))
    cx, cy = np.median(screen[inside_canvas], axis=0)
    x0, x1, y0, y1 = cx - 50, cx + 50, cy - 40, cy + 40
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0 + 1)]
    page.mouse.move(x0, y0)
    page.keyboard.down("Shift")
    page.mouse.down()
    for (ax, ay), (bx, by) in zip(corners, corners[1:]):
        page.mouse.move(bx, by, steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    m = 3.0  # px: points this close to the lasso edge may go either way
    sx, sy = screen[:, 0], screen[:, 1]
    surely_in = set(np.flatnonzero((sx > x0 + m) & (sx < x1 - m) & (sy > y0 + m) & (sy < y1 - m)).tolist())
    surely_out = set(np.flatnonzero((sx < x0 - m) | (sx > x1 + m) | (sy < y0 - m) | (sy > y1 + m)).tolist())
    assert len(surely_in) >= 3, f"test setup: only {len(surely_in)} points inside the lasso"
    got = set(harness.wait_until(lambda: v.k.eval("w.selection"), timeout=30,
                                 what="a non-empty w.selection after the lasso"))
    harness.save_artifact("lasso-selection.png", page.screenshot(type="png"))
    missing, extra = surely_in - got, got & surely_out
    assert not missing and not extra, (f"lasso around {len(surely_in)} points: {len(missing)} missing "
                                       f"(e.g. {sorted(missing)[:5]}), {len(extra)} outside ones selected "
                                       f"(e.g. {sorted(extra)[:5]})")
    v.k.run("w.selection = []")


def test_play_button_runs_to_the_last_epoch(lab_view):
    v, page = lab_view, lab_view.page
    v.set_epoch(v.epochs[0])
    v.k.run("w.speed = 4.0")
    page.locator(".ttvis-root button.ttvis-play").first.click()
    assert v.kernel_value("w.playing", True, timeout=10) is True or v.k.eval("w.epoch") == v.epochs[-1], \
        "clicking play did not set w.playing"
    got = v.kernel_value("[w.epoch, w.playing]", [v.epochs[-1], False], timeout=30)
    assert got == [v.epochs[-1], False], f"playback did not stop at the last epoch: [w.epoch, w.playing] = {got}"
    harness.wait_time(page, float(len(v.epochs) - 1))


HOOK_CALL = "([sel, fn, arg]) => document.querySelector(sel).__ttvis[fn](arg)"


def test_refused_messages_are_shown_and_change_nothing(lab_view):
    """The browser is untrusted input: bad messages sent the real way (the page's own comm) are refused by
    the kernel, named in the view's status line and in ``w.refusals``, change nothing, raise no traceback
    into the notebook, and the view keeps working."""
    v, page = lab_view, lab_view.page
    v.k.run("w.selection = [3]")
    page.wait_for_function("(sel) => JSON.stringify(document.querySelector(sel).__ttvis.selection) === '[3]'",
                           arg=CANVAS, timeout=30_000)
    n0 = v.k.eval("len(w.refusals)")

    def refused_in_view(field):
        page.wait_for_function(
            "([sel, f]) => { const r = document.querySelector(sel).__ttvis.refusals;"
            " return r.length && r[r.length - 1].field === f; }", arg=[CANVAS, field], timeout=30_000)
        status = page.locator(".ttvis-root .ttvis-status").first
        text = status.text_content()
        assert "refused by the kernel" in text and repr(field) in text, text
        assert "ttvis-status-warn" in (status.get_attribute("class") or "")

    page.evaluate(HOOK_CALL, [CANVAS, "sendToKernel", {"type": "sample", "index": -1}])
    refused_in_view("index")
    harness.save_artifact("refused-status.png", page.locator(".ttvis-root").first.screenshot(type="png"))
    page.evaluate(HOOK_CALL, [CANVAS, "sendToKernel", {"type": "request", "rid": "../../etc/passwd"}])
    page.evaluate(HOOK_CALL, [CANVAS, "setTraits", {"selection": [-5, 3]}])
    refused_in_view("selection")
    got = v.kernel_value("[r['field'] for r in w.refusals[%d:]]" % n0, ["index", "rid", "selection"])
    assert got == ["index", "rid", "selection"], got
    assert v.k.eval("w.selection") == [3]
    # the view shows the kernel's selection again, and still follows the kernel and answers its requests
    page.wait_for_function("(sel) => JSON.stringify(document.querySelector(sel).__ttvis.selection) === '[3]'",
                           arg=CANVAS, timeout=30_000)
    v.k.run("w.selection = [4, 9]")
    page.wait_for_function("(sel) => JSON.stringify(document.querySelector(sel).__ttvis.selection) === '[4,9]'",
                           arg=CANVAS, timeout=30_000)
    page.evaluate(HOOK_CALL, [CANVAS, "setTraits", {"selection": [5]}])
    assert v.kernel_value("w.selection", [5]) == [5]
    v.set_epoch(v.epochs[1])
    assert not harness.notebook_errors(page), harness.notebook_errors(page)
    assert v.k.eval("len(w.refusals)") == n0 + 3
    v.k.run("w.selection = []")
