"""The harness itself, proven with a trivial anywidget of our own (independent of the real widget):
real JupyterLab, software WebGL2 inside the output area, clicks reaching the kernel, kernel changes
reaching the page."""
import pytest

from . import harness

pytestmark = pytest.mark.browser


def test_probe_widget_round_trip_in_lab(lab_server, new_page):
    page = new_page("probe-lab")
    info = None
    page.goto("about:blank")
    info = harness.webgl2_info(page)
    assert info is not None, "chromium gave no WebGL2 context with the software GL flags"

    nb = lab_server.put_notebook("probe.ipynb", [harness.PROBE_WIDGET_CODE])
    harness.open_notebook(page, lab_server, nb)
    harness.run_all_cells(page)
    page.wait_for_selector(".probe-root .probe-button", timeout=120_000)
    assert page.evaluate("() => document.querySelector('canvas.probe-canvas').__probe.webgl2"), \
        f"no WebGL2 inside the notebook output area ({info})"

    k = lab_server.kernel(nb)
    try:
        page.click(".probe-button")
        page.click(".probe-button")
        harness.wait_until(lambda: k.eval("probe.count") == 2, timeout=30, what="probe.count == 2 in the kernel")
        k.run("probe.count = 40")
        page.wait_for_function("() => document.querySelector('.probe-button').textContent === 'count 40'",
                               timeout=30_000)
    finally:
        k.close()
        page.close()
        for s in lab_server.api("GET", "/api/sessions") or []:  # the widget tests reuse this server
            if s.get("path") == nb:
                lab_server.api("DELETE", f"/api/sessions/{s['id']}")
