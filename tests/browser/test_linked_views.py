"""Linked views in a real browser (issue 28), in JupyterLab and in Notebook 7: one notebook per app shows the
widget, its plotly chart (``w.chart()``) and a comparison of two PCA runs (one mirrored, aligned back);
the tests click the chart, move ``w.epoch``, scrub the comparison's one slider, select in its right view, and
export a PNG and a WebM through the browser, decoding what the kernel wrote.

Cost: one notebook (3 widgets, 4 canvases) per app; the digits recording and the PCA fits are shared with the
other browser tests through the package-scoped digits_dir."""
from __future__ import annotations

import io

import pytest

from ttvis_widget.widget.webm import read_webm

from . import harness

pytestmark = pytest.mark.browser

EPOCHS = 4
CANVAS = ".ttvis-root canvas.ttvis-canvas"  # the first view on the page: w's own
CMP = ".ttvis-compare"
PLOT = ".js-plotly-plot"


def _cells(digits_dir) -> list[str]:
    return harness.widget_cells(digits_dir, EPOCHS) + [
        "fig = w.chart()\nfig",
        "import ttvis_widget\n"
        "cmp = ttvis_widget.compare(ttvis_widget.fit(path, method='pca', progress=False),\n"
        "                           ttvis_widget.fit(path, method='pca', align_signs=False, progress=False))\n"
        "cmp",
    ]


class Page:
    def __init__(self, page, kernel, app):
        self.page, self.k, self.app = page, kernel, app
        self.epochs = kernel.eval("w.epochs")

    def hook(self, expr: str, sel: str = CANVAS, index: int = 0):
        return self.page.evaluate(
            f"([sel, i]) => {{ const h = document.querySelectorAll(sel)[i].__ttvis; return {expr}; }}", [sel, index])

    def poll_kernel(self, expr: str, ok, timeout: float = 30.0, what: str = ""):
        last = [None]

        def check():
            last[0] = self.k.eval(expr)
            return ok(last[0])

        try:
            harness.wait_until(check, timeout=timeout, interval=0.3, what=what or expr)
        except harness.HarnessError:
            pass
        return last[0]


@pytest.fixture(scope="module", params=["lab", "notebook"])
def linked(request, lab_server, notebook_server, new_page, digits_dir):
    app = request.param
    server = lab_server if app == "lab" else notebook_server
    name = f"linked-{app}"
    page = new_page(name)
    harness.open_widget_notebook(page, server, f"{name}.ipynb", _cells(digits_dir), ui=app)
    page.wait_for_function(f"() => document.querySelectorAll('{CANVAS}').length >= 3 && "
                           f"[...document.querySelectorAll('{CANVAS}')].every(c => c.__ttvis && c.__ttvis.ready)"
                           f" && document.querySelector('{PLOT}') && document.querySelector('{PLOT}')._fullLayout",
                           timeout=240_000, polling=250)
    k = server.kernel(f"{name}.ipynb")
    p = Page(page, k, app)
    harness.wait_all_epochs(page, len(p.epochs))
    yield p
    k.close()
    page.close()
    for s in server.api("GET", "/api/sessions") or []:
        server.api("DELETE", f"/api/sessions/{s['id']}")


def _marker_x(p: Page):
    return p.page.evaluate(f"() => {{ const gd = document.querySelector('{PLOT}');"
                           " const s = (gd.layout.shapes || [])[0]; return s ? s.x0 : null; }")


def test_chart_click_sets_epoch(linked):
    p = linked
    p.k.run(f"w.epoch = {p.epochs[0]}")
    target = p.epochs[2]
    plot = p.page.locator(PLOT).first
    plot.scroll_into_view_if_needed()
    xy = p.page.evaluate(
        f"(e) => {{ const gd = document.querySelector('{PLOT}'), L = gd._fullLayout, r = gd.getBoundingClientRect();"
        " return [r.left + L._size.l + L.xaxis.l2p(e), r.top + L._size.t + L._size.h / 2]; }", target)
    p.page.mouse.move(xy[0] - 40, xy[1])
    p.page.mouse.move(xy[0], xy[1], steps=4)
    p.page.mouse.click(xy[0], xy[1])
    got = p.poll_kernel("w.epoch", lambda v: v == target)
    harness.save_artifact(f"chart-click-{p.app}.png", p.page.screenshot(type="png"))
    assert got == target, f"clicking epoch {target} on the chart left w.epoch at {got} ({p.app})"


def test_epoch_moves_chart_marker(linked):
    p = linked
    for e in (p.epochs[-1], p.epochs[1]):
        p.k.run(f"w.epoch = {e}")
        harness.wait_until(lambda e=e: _marker_x(p) == pytest.approx(e), timeout=20,
                           what=f"the chart's marker at epoch {e} in the browser ({p.app}); at {_marker_x(p)}")


def test_compare_one_slider_moves_both_and_selection_is_shared(linked):
    p, page = linked, linked.page
    views = page.locator(f"{CMP} canvas.ttvis-canvas")
    assert views.count() == 2
    sliders = page.locator(f"{CMP} input.ttvis-slider")
    visible = [i for i in range(sliders.count()) if sliders.nth(i).is_visible()]
    assert len(visible) == 1, f"the comparison should show ONE time slider, shows {len(visible)}"
    p.k.run(f"cmp.epoch = {p.epochs[0]}; cmp.a.selection = []")
    slider = sliders.nth(visible[0])
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 6, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, y, steps=4)
    mid = [p.hook("h.time", f"{CMP} canvas.ttvis-canvas", i) for i in (0, 1)]
    page.mouse.move(box["x"] + box["width"] - 2, y, steps=4)
    page.mouse.up()
    last = len(p.epochs) - 1
    harness.wait_until(lambda: all(abs(p.hook("h.time", f"{CMP} canvas.ttvis-canvas", i) - last) < 1e-6
                                   for i in (0, 1)), timeout=20, what="both compare views at the last epoch")
    assert abs(mid[0] - mid[1]) < 1e-6, f"mid-scrub the views showed different times {mid}"
    got = p.poll_kernel("[cmp.a.epoch, cmp.b.epoch]", lambda v: v == [p.epochs[-1]] * 2)
    assert got == [p.epochs[-1]] * 2, f"after scrubbing, the kernel has epochs {got}"
    # click an isolated point in the RIGHT (aligned) view: both widgets' selection holds it
    import numpy as np

    xy = np.asarray(p.k.eval(f"cmp.b.positions({p.epochs[-1]})"), np.float64)
    sel = f"{CMP} canvas.ttvis-canvas"
    screen = np.asarray(page.evaluate(
        "([sel, pts]) => { const h = document.querySelectorAll(sel)[1].__ttvis;"
        " return pts.map(q => Array.from(h.dataToClient(q[0], q[1]))); }", [sel, xy.tolist()]))
    rect = page.evaluate("(sel) => { const r = document.querySelectorAll(sel)[1].getBoundingClientRect();"
                         " return {x: r.x, y: r.y, width: r.width, height: r.height}; }", sel)
    i, gap = harness.isolated_point(screen, rect)
    page.mouse.move(float(screen[i, 0]), float(screen[i, 1]), steps=3)
    page.mouse.click(float(screen[i, 0]), float(screen[i, 1]))
    got = p.poll_kernel("[cmp.a.selection, cmp.b.selection]", lambda v: v == [[i], [i]])
    assert got == [[i], [i]], f"clicking sample {i} in the right view gave selections {got} ({p.app})"
    harness.wait_until(lambda: p.hook("h.selection", sel, 0) == [i], timeout=20,
                       what="the selection drawn in the left view too")
    harness.save_artifact(f"compare-{p.app}.png", page.locator(CMP).first.screenshot(type="png"))
    p.k.run("cmp.a.selection = []")


def test_save_png_writes_the_view_at_scale(linked, tmp_path):
    from PIL import Image

    p = linked
    p.k.run(f"w.epoch = {p.epochs[-1]}")
    out = tmp_path / f"view-{p.app}.png"
    css = p.hook("[h.camera.w, h.camera.h]")
    # await: the cell waits while the view renders and the kernel writes the file (ipykernel 7)
    p.k.run(f"job = w.save_png({str(out)!r}, scale=2)\nawait job", timeout=120)
    assert out.exists(), p.k.eval("repr(job)")
    img = Image.open(io.BytesIO(out.read_bytes()))
    img.load()
    assert img.size == (round(css[0] * 2), round(css[1] * 2)), (img.size, css)
    ink = harness.non_background_pixels(out.read_bytes())
    harness.save_artifact(f"save-png-{p.app}.png", out.read_bytes())
    assert ink > 2000, f"the exported PNG looks blank: {ink} non-background pixels"
    assert p.k.eval("w.refusals") == []


def test_save_animation_writes_a_webm_of_the_right_length(linked, tmp_path):
    p = linked
    out = tmp_path / f"anim-{p.app}.webm"
    seconds, fps = 2.0, 15
    p.k.run(f"job = w.save_animation({str(out)!r}, seconds={seconds}, fps={fps})")
    harness.wait_until(lambda: p.k.eval("job.done"), timeout=90, what="the WebM export")
    assert p.k.eval("job.error") is None, p.k.eval("job.error")
    info = read_webm(out.read_bytes())
    dur = info.duration_s(fps)
    harness.save_artifact(f"save-webm-{p.app}.webm", out.read_bytes())
    assert info.frames >= 0.9 * seconds * fps, f"{info.frames} frames in the WebM; expected ~{seconds * fps:.0f}"
    assert abs(dur - seconds) <= 0.1 * seconds, f"WebM lasts {dur:.2f} s; expected {seconds} s ± 10%"
