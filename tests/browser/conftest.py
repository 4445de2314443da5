"""Fixtures for the real-browser tests: one JupyterLab server, one Notebook 7 server (each started on first
use), one headless Debian chromium. Package-scoped, so they are torn down as soon as the browser tests are
done rather than at the end of the whole session. See harness.py."""
from __future__ import annotations

import re

import pytest

from . import harness

OPEN_PAGES: dict = {}  # name -> playwright Page, screenshotted into artifacts/ when a test fails


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for name, page in list(OPEN_PAGES.items()):
            try:
                slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
                # full page unless the page ran away in height (chromium aborts on a 30-million-px bitmap)
                tall = page.evaluate("() => document.documentElement.scrollHeight") > 20_000
                harness.save_artifact(f"failure-{slug}-{name}.png", page.screenshot(full_page=not tall))
            except Exception:
                pass


@pytest.fixture(scope="package")
def playwright_instance():
    problem = None
    try:
        harness.require_chromium()
    except harness.HarnessError as e:
        problem = str(e)
    if problem:
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_instance):
    b = harness.launch_browser(playwright_instance)
    yield b
    b.close()


def _server(kind):
    try:
        return harness.JupyterServer(kind)
    except harness.HarnessError as e:
        problem = str(e)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="package")
def lab_server():
    s = _server("lab")
    yield s
    s.stop()


@pytest.fixture(scope="package")
def notebook_server():
    s = _server("notebook")
    yield s
    s.stop()


@pytest.fixture(scope="package")
def digits_dir(tmp_path_factory):
    """Where the browser tests' digits run lives: the first notebook or app to run records it
    (make_digits_dynamics) and fits it; the others reuse the recording and the run cache."""
    return tmp_path_factory.mktemp("ttvis-browser") / "digits"


@pytest.fixture(scope="package")
def new_page(browser):
    """Factory: a fresh page (own context, fixed viewport) registered for failure screenshots."""
    contexts = []

    def make(name: str):
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        OPEN_PAGES[name] = page
        return page

    yield make
    for c in contexts:
        try:
            c.close()
        except Exception:
            pass
    OPEN_PAGES.clear()
