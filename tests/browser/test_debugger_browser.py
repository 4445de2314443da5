"""The debugger in a real browser (issue 26 item 5): JupyterLab, Debian chromium, the package's digits run.
One notebook (and kernel) serves every test here; the kernel side is read through a second client on the
same kernel, so each assertion compares what the page shows or sets with what ``w`` says in Python.

- clicking an event kind makes ``w.selection`` exactly ``w.events.indices(kind)``; focus dims the rest;
- neighbour lines and trails change the rendered pixels when a sample is selected, and stop when cleared;
- the sample panel shows the prediction history (``w.prediction_history(i)``) and the top-3 predictions;
- "similar" sets the selection to ``w.similar(...)``'s indices and lists them with images; "why?" likewise
  with ``w.influence(...)``; the vis.-error mark shows ``w.vis_errors()``, off by default.
Screenshots go to artifacts/ (debugger-*.png)."""
from __future__ import annotations

import pytest

from . import harness
from .harness import CANVAS
from .test_widget_browser import View, _open_view

pytestmark = pytest.mark.browser

ROOT = ".ttvis-root"
DEBUG = "(sel) => document.querySelector(sel).__ttvis.debug"


@pytest.fixture(scope="module")
def dbg_view(lab_server, new_page, digits_dir):
    v = _open_view(lab_server, new_page, digits_dir, "debugger-lab", "lab")
    v.page.mouse.move(2, 2)
    yield v
    v.k.close()
    v.page.close()
    for s in lab_server.api("GET", "/api/sessions") or []:
        lab_server.api("DELETE", f"/api/sessions/{s['id']}")


def debug(v: View) -> dict:
    return v.page.evaluate(DEBUG, CANVAS)


def wait_debug(v: View, js_condition: str, what: str, timeout: float = 30.0):
    """Wait until ``js_condition`` (an expression over ``d``, the hook's debug snapshot) holds, then settle."""
    try:
        v.page.wait_for_function(f"(sel) => {{ const d = document.querySelector(sel).__ttvis.debug; return !!({js_condition}); }}",
                                 arg=CANVAS, timeout=timeout * 1000, polling=100)
    except Exception as e:
        raise AssertionError(f"waiting for {what} ({js_condition}): {type(e).__name__}; debug = {debug(v)}") from None
    harness.settle(v.page)


def select_from_kernel(v: View, indices: list[int]):
    v.k.run(f"w.selection = {list(indices)!r}")
    v.page.wait_for_function("([sel, want]) => JSON.stringify(document.querySelector(sel).__ttvis.selection) === want",
                             arg=[CANVAS, str(sorted(indices)).replace(" ", "")], timeout=30_000)
    harness.settle(v.page)


def test_clicking_an_event_kind_selects_exactly_its_samples(dbg_view):
    v, page = dbg_view, dbg_view.page
    select_from_kernel(v, [])
    epoch = v.epochs[1]  # the digits MLP flips many predictions between its first two recorded epochs
    v.set_epoch(epoch)
    wait_debug(v, f"d.events && d.events.epoch === {epoch} && d.events.status === 'ready'", "events of the epoch")
    counts = v.k.eval("w.events.counts()")
    panel = page.locator(f"{ROOT} .ttvis-events").first
    shown = {k: panel.locator(f".ttvis-event[data-kind={k}] .ttvis-event-count").text_content() for k in counts}
    assert shown == {k: f"{n:,}" for k, n in counts.items()}, (shown, counts)
    kinds = [k for k in ("prediction_flip", "became_correct", "significant_movement") if counts.get(k)]
    assert kinds, f"test setup: no events at epoch {epoch}: {counts}"
    for kind in kinds[:2]:
        panel.locator(f".ttvis-event[data-kind={kind}]").click()
        want = v.k.eval(f"w.events.indices({kind!r}).tolist()")
        got = v.kernel_value("w.selection", want)
        assert got == want, f"clicking {kind!r}: w.selection has {len(got or [])} samples, w.events {len(want)}"
        page.wait_for_function("([sel, n]) => document.querySelector(sel).__ttvis.selection.length === n",
                               arg=[CANVAS, len(want)], timeout=30_000)
        assert "ttvis-active" in panel.locator(f".ttvis-event[data-kind={kind}]").get_attribute("class")
    harness.settle(page)
    dimmed = v.canvas_png()
    page.locator(f"{ROOT} input.ttvis-focus").first.check()
    harness.settle(page)
    focused = v.canvas_png()
    harness.save_artifact("debugger-events-focus.png", page.locator(ROOT).first.screenshot(type="png"))
    assert harness.pixel_difference(dimmed, focused) > 200, "focus mode did not dim the unselected points further"
    page.locator(f"{ROOT} input.ttvis-focus").first.uncheck()
    panel.locator(f".ttvis-event[data-kind={kinds[1] if len(kinds) > 1 else kinds[0]}]").click()  # again: clears
    assert v.kernel_value("w.selection", []) == []


def test_neighbour_lines_and_trails_show_for_a_selected_sample_and_stop_when_cleared(dbg_view):
    v, page = dbg_view, dbg_view.page
    epoch = v.epochs[-1]
    v.set_epoch(epoch)
    select_from_kernel(v, [])
    wait_debug(v, "d.linesDrawn === 0 && d.trailSamples === 0", "no overlays")
    before = v.canvas_png()
    screen = v.screen_positions(epoch)
    i, _ = harness.isolated_point(screen, v.canvas_rect(), margin=80)
    select_from_kernel(v, [i])
    wait_debug(v, f"d.pinned === {i} && d.neighbors && d.neighbors.index === {i} && d.neighbors.epoch === {epoch}"
                  " && d.linesDrawn > 0 && d.trailSamples === 1 && d.trailCalls === 1", "lines and a trail")
    d = debug(v)
    nb = v.k.eval(f"(lambda n: {{'kept': n.kept.tolist(), 'gained': n.gained.tolist(), 'lost': n.lost.tolist()}})"
                  f"(w.neighbors({i}, epoch={epoch}))")
    assert {k: d["neighbors"][k] for k in nb} == nb, "the lines are not w.neighbors(i)'s"
    assert d["linesDrawn"] == len(nb["kept"]) + len(nb["gained"]) + len(nb["lost"])
    during = v.canvas_png()
    harness.save_artifact("debugger-lines-trails.png", page.locator(ROOT).first.screenshot(type="png"))
    for box in ("ttvis-toggle-lines", "ttvis-toggle-trails"):
        page.locator(f"{ROOT} input.{box}").first.uncheck()
    wait_debug(v, "d.linesDrawn === 0 && d.trailSamples === 0", "overlays switched off")
    plain = v.canvas_png()  # the same selection, without lines and trails
    for box in ("ttvis-toggle-lines", "ttvis-toggle-trails"):
        page.locator(f"{ROOT} input.{box}").first.check()
    wait_debug(v, "d.linesDrawn > 0 && d.trailSamples === 1", "overlays back on")
    drawn = harness.pixel_difference(plain, during)
    assert drawn > 150, f"neighbour lines and the trail changed only {drawn} pixels"
    # the trail follows the interpolated time while scrubbing: still one draw call at a fractional time
    v.k.run(f"w.time = {len(v.epochs) - 1.75}")
    harness.wait_time(page, len(v.epochs) - 1.75)
    assert debug(v)["trailCalls"] == 1
    v.set_epoch(epoch)
    select_from_kernel(v, [])
    wait_debug(v, "d.pinned === -1 && d.linesDrawn === 0 && d.trailSamples === 0", "overlays gone")
    after = v.canvas_png()
    harness.save_artifact("debugger-cleared-before.png", before)
    harness.save_artifact("debugger-cleared-after.png", after)
    left = harness.pixel_difference(before, after)
    assert left < 20, f"{left} pixels still differ from the frame before the selection; debug = {debug(v)}"


def test_sample_panel_shows_the_prediction_history(dbg_view):
    v, page = dbg_view, dbg_view.page
    epoch = v.epochs[-1]
    v.set_epoch(epoch)
    select_from_kernel(v, [])
    screen = v.screen_positions(epoch)
    i, _ = harness.isolated_point(screen, v.canvas_rect(), margin=80)
    page.mouse.move(float(screen[i, 0]), float(screen[i, 1]), steps=3)
    page.wait_for_function(f"(sel) => {{ const t = document.querySelector(sel + ' .ttvis-sample-title');"
                           f" return t && t.textContent.startsWith('#{i} '); }}", arg=ROOT, timeout=30_000)
    hovered = page.locator(f"{ROOT} .ttvis-sample-title").first.text_content()
    assert hovered.endswith(f" · epoch {epoch}"), hovered  # hovered, not kept: nothing after the epoch
    page.mouse.click(float(screen[i, 0]), float(screen[i, 1]))
    assert v.kernel_value("w.selection", [i]) == [i]
    page.mouse.move(2, 2)
    panel = page.locator(f"{ROOT} .ttvis-sample").first
    page.wait_for_function(f"(sel) => {{ const t = document.querySelector(sel + ' .ttvis-sample-title');"
                           f" return t && t.textContent.startsWith('#{i} '); }}", arg=ROOT, timeout=30_000)
    hist = v.k.eval(f"w.prediction_history({i})")
    cells = panel.locator(".ttvis-history-cell")
    assert cells.count() == len(v.epochs)
    got = [(int(cells.nth(j).get_attribute("data-epoch")), int(cells.nth(j).get_attribute("data-cls")))
           for j in range(cells.count())]
    assert got == [(h["epoch"], h["prediction"]) for h in hist]
    assert "ttvis-current" in cells.nth(len(v.epochs) - 1).get_attribute("class")
    page.wait_for_selector(f"{ROOT} .ttvis-top-row", timeout=30_000)
    top = v.k.eval(f"w.top_predictions({i})")
    names = v.k.eval("w.info['classes']")
    rows = panel.locator(".ttvis-top-row")
    assert [rows.nth(j).locator(".ttvis-top-name").text_content() for j in range(rows.count())] == \
        [names[c] for c, _ in top]
    page.wait_for_function("(sel) => { const img = document.querySelector(sel + ' .ttvis-sample-media img');"
                           " return !!(img && img.complete && img.naturalWidth > 0); }", arg=ROOT, timeout=15_000)
    harness.save_artifact("debugger-sample-panel.png", page.locator(ROOT).first.screenshot(type="png"))


def test_similar_and_why_select_and_list_the_kernel_results(dbg_view):
    v, page = dbg_view, dbg_view.page
    epoch = v.epochs[-1]
    v.set_epoch(epoch)
    sel = v.k.eval("w.selection")
    assert len(sel) == 1, "runs after the sample-panel test, which pins a sample by clicking it"
    i = sel[0]
    page.locator(f"{ROOT} button.ttvis-similar").first.click()
    want = v.k.eval(f"w.similar({i}, k=10, epoch={epoch})[0].tolist()")
    got = v.kernel_value("w.selection", sorted(want))
    assert got == sorted(want), f"'similar' selected {got}, w.similar gives {want}"
    items = page.locator(f"{ROOT} .ttvis-results .ttvis-result")
    items.nth(len(want) - 1).wait_for(timeout=30_000)
    assert [int(items.nth(j).get_attribute("data-index")) for j in range(items.count())] == want
    page.wait_for_function("(sel) => { const im = [...document.querySelectorAll(sel + ' .ttvis-results img')];"
                           " return im.length >= 10 && im.every(x => x.complete && x.naturalWidth > 0); }",
                           arg=ROOT, timeout=30_000)
    assert debug(v)["pinned"] == i  # the query stays inspected while its results are selected
    harness.save_artifact("debugger-similar.png", page.locator(ROOT).first.screenshot(type="png"))
    page.locator(f"{ROOT} button.ttvis-why").first.click()
    inf = v.k.eval(f"(lambda r: sorted(set(r.proponents[0].tolist()) | set(r.opponents[0].tolist())))"
                   f"(w.influence({i}, k=8, target='prediction'))")
    assert v.kernel_value("w.selection", inf) == inf
    page.wait_for_selector(f"{ROOT} .ttvis-results-helped .ttvis-result", timeout=30_000)
    harness.save_artifact("debugger-why.png", page.locator(ROOT).first.screenshot(type="png"))
    select_from_kernel(v, [])


def test_vis_error_marks_are_off_by_default_and_show_the_kernel_indices(dbg_view):
    v, page = dbg_view, dbg_view.page
    epoch = v.epochs[1]
    v.set_epoch(epoch)
    select_from_kernel(v, [])
    d = debug(v)
    assert d["visErr"] is False and d["marks"] == 0
    before = v.canvas_png()
    page.locator(f"{ROOT} input.ttvis-toggle-viserr").first.check()
    want = v.k.eval(f"len(w.vis_errors({epoch}))")
    wait_debug(v, f"d.visErrors && d.visErrors.epoch === {epoch} && d.marks === {want}", "vis-error marks")
    info = page.locator(f"{ROOT} .ttvis-viserr-info").first.text_content()
    assert info.startswith(f"{want:,} at epoch {epoch}"), info
    marked = v.canvas_png()
    harness.save_artifact("debugger-vis-errors.png", page.locator(ROOT).first.screenshot(type="png"))
    if want:
        assert harness.pixel_difference(before, marked) > 50
    page.locator(f"{ROOT} input.ttvis-toggle-viserr").first.uncheck()
    wait_debug(v, "d.marks === 0", "marks off")
    assert not harness.notebook_errors(page)
    assert v.k.eval("w.refusals") == []
