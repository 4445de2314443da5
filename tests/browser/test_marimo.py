"""TimeTravelWidget in marimo, for real: ``marimo run`` (headless, 127.0.0.1) serves an app that shows
``mo.ui.anywidget(TimeTravelWidget(...))`` on the digits run; Debian chromium opens it. marimo mounts
widgets inside a shadow root, where a stylesheet in document.head never arrives: the canvas must still draw,
the controls must carry our styles, and hovering a point must show its tooltip with the image from the kernel.
Screenshots go to artifacts/ (widget-marimo*.png)."""
from __future__ import annotations

import numpy as np
import pytest

from . import harness
from .harness import CANVAS, DEEP_QUERY, TOOLTIP

pytestmark = pytest.mark.browser

EPOCHS = 4
MIN_INK = 300  # as in test_widget_browser: a drawn scatterplot of 1,797 points has at least this much ink


@pytest.fixture(scope="module")
def marimo_server(digits_dir):
    try:
        server = harness.MarimoServer(harness.marimo_app_source(digits_dir, EPOCHS))
    except harness.HarnessError as e:
        pytest.fail(str(e), pytrace=False)
    yield server
    server.stop()


def _hook(page, expr: str):
    """Evaluate ``expr`` on the first widget canvas' ``__ttvis`` (found through shadow roots)."""
    return page.evaluate(f"([q, sel]) => {{ const c = eval(q)(sel); const h = c && c.__ttvis; return h ? ({expr}) : null; }}",
                         [DEEP_QUERY, CANVAS])


def test_widget_in_marimo(marimo_server, new_page):
    page = new_page("widget-marimo")
    page.goto(marimo_server.url, wait_until="domcontentloaded")
    try:
        page.wait_for_function(
            "([q, sel]) => { const c = eval(q)(sel); return !!(c && c.__ttvis && c.__ttvis.ready"
            " && c.__ttvis.epochsLoaded >= c.__ttvis.nEpochs && c.__ttvis.nEpochs > 0); }",
            arg=[DEEP_QUERY, CANVAS], timeout=120_000, polling=200)
    except Exception as e:
        harness.save_artifact("widget-marimo-not-ready.png", page.screenshot(type="png", full_page=True))
        pytest.fail(f"the widget did not become ready in marimo ({type(e).__name__}): "
                    f"hook {_hook(page, '{error: h.error, ready: h.ready}')}\nserver log:\n"
                    f"{marimo_server.log_tail()}", pytrace=False)
    state = _hook(page, "{error: h.error, webgl2: h.webgl2, n: h.n, shadow: c.getRootNode() instanceof ShadowRoot}")
    assert state["webgl2"] and not state["error"], state
    canvas = page.locator(CANVAS).first  # Playwright's CSS engine pierces open shadow roots

    # 1. a visible, drawn canvas: the stage keeps its own height (480 px) whatever the host's stylesheet says;
    # unstyled, the canvas either collapses or grows without end (each resize enlarges its own container)
    box = canvas.bounding_box()
    if not (box and 400 <= box["height"] <= 600 and box["width"] >= 300):
        harness.save_artifact("widget-marimo-page.png", page.screenshot(type="png"))  # not full_page: it may be huge
        pytest.fail(f"the canvas is not visible at a usable size in marimo: {box} (artifacts/widget-marimo-page.png)",
                    pytrace=False)
    canvas.scroll_into_view_if_needed()
    harness.settle(page)
    box = canvas.bounding_box()
    png = canvas.screenshot(type="png", animations="disabled")
    harness.save_artifact("widget-marimo.png", png)
    harness.save_artifact("widget-marimo-page.png", page.screenshot(type="png", full_page=True))
    ink = harness.non_background_pixels(png)
    assert ink >= MIN_INK, f"canvas looks empty in marimo: {ink} non-background pixels (artifacts/widget-marimo.png)"

    # 2. styled controls: the play button has our look, not the browser's default button
    play = page.locator(".ttvis-root button.ttvis-play").first
    style = play.evaluate("(b) => { const s = getComputedStyle(b); return {bg: s.backgroundColor,"
                          " border: s.borderTopWidth + ' ' + s.borderTopStyle + ' ' + s.borderTopColor,"
                          " radius: s.borderTopLeftRadius, minWidth: s.minWidth, font: s.fontSize}; }")
    want = {"bg": "rgb(247, 247, 247)", "border": "1px solid rgb(187, 187, 187)", "radius": "3px",
            "minWidth": "34px", "font": "12px"}
    assert style == want, f"the play button is not styled by the widget's stylesheet in marimo: {style} (want {want})"

    # 3. hover shows the tooltip, with the sample's image fetched from the kernel
    n = state["n"]
    screen = np.asarray(page.evaluate(
        "([q, sel, n]) => { const h = eval(q)(sel).__ttvis;"
        " return Array.from({length: n}, (_, i) => h.clientOf(i)); }", [DEEP_QUERY, CANVAS, n]), dtype=np.float64)
    i, gap = harness.isolated_point(screen, box)
    page.mouse.move(float(screen[i, 0]) - 30, float(screen[i, 1]) - 30)
    page.mouse.move(float(screen[i, 0]), float(screen[i, 1]), steps=4)
    tip = page.locator(TOOLTIP).first
    tip.wait_for(state="visible", timeout=15_000)
    assert f"#{i}" in tip.inner_text(), f"tooltip for sample {i} ({gap:.0f}px from its neighbour): {tip.inner_text()!r}"
    tip.locator("img").first.evaluate(
        "(img) => new Promise((ok, fail) => { const t0 = Date.now(); (function wait() {"
        " if (img.complete && img.naturalWidth > 0) ok(); else if (Date.now() - t0 > 15000) fail('no image');"
        " else setTimeout(wait, 100); })(); })")
    assert _hook(page, "h.hovered") == i
    harness.save_artifact("widget-marimo-hover.png", page.screenshot(type="png"))
    print(f"marimo: canvas in a shadow root: {state['shadow']}; {ink} ink pixels; tooltip for #{i}")
