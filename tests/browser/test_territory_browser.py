"""The territory as the browser draws it (issue 28, item 5), in JupyterLab: the far field (cells the kernel's
support leaves out) is empty on the canvas while the supported territory is painted with the class colours;
extent "full" paints the far field faint; territory_opacity=0 removes every territory pixel; the panel's
slider and menu set the traits and follow them; save_png's own territory settings reach the exported PNG.

The points are hidden (a label filter that admits none), so every canvas pixel is territory or background.
Pixels are read at grid-cell centres mapped to the screen with the view's own camera (``__ttvis``), in cells
whose 5 x 5 neighbourhood shares the cell's support and class and is clearly coloured (the texture is filtered
linearly)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from . import harness
from .harness import CANVAS

pytestmark = pytest.mark.browser

EPOCHS = 4
OPACITY_SLIDER = ".ttvis-root input.ttvis-territory-opacity"
EXTENT_MENU = ".ttvis-root select.ttvis-territory-extent"
FULL_FLOOR = 0.3  # js/src/territories.js

CELLS = """
import numpy as _np
from scipy.ndimage import minimum_filter as _mn, maximum_filter as _mx
from ttvis_widget.engine.territory import grid_points as _gp
_t = w.run.territory(w.epoch)
_R = _t.resolution
_a = _t.rgba[..., 3]
_same = (_mx(_t.classes, 5) == _mn(_t.classes, 5))
_tinted = _mn((255 - _t.rgba[..., :3].astype(int)).max(-1), 5) >= 60  # clearly coloured, not a boundary
_far = (_mx(_a, 5) == 0) & _same & _tinted
_near = (_mn(_a, 5) == 255) & _same & _tinted
_xy = _gp(_t.bounds, _R)
_rng = _np.random.default_rng(0)
def _pick(m, n=300):
    i = _np.flatnonzero(m.ravel())
    i = _rng.choice(i, min(n, len(i)), replace=False) if len(i) else i
    return {"xy": _xy[i].tolist(), "rgb": _t.rgba.reshape(-1, 4)[i, :3].tolist()}
_cells = {"far": _pick(_far), "near": _pick(_near)}
"""


class View:
    def __init__(self, page, kernel):
        self.page, self.k = page, kernel

    def canvas_png(self) -> bytes:
        return self.page.locator(CANVAS).first.screenshot(type="png", animations="disabled")

    def rect(self):
        return self.page.evaluate("(sel) => { const r = document.querySelector(sel).getBoundingClientRect();"
                                  " return [r.x, r.y, r.width, r.height]; }", CANVAS)

    def redraw(self, code: str):
        """Run ``code`` in the kernel and let the view draw a few frames."""
        self.k.run(code)
        harness.settle(self.page, 4)

    def png_when(self, ok, timeout: float = 30.0) -> bytes:
        """The canvas once ``ok(png)`` holds (the trait change reached the view and was drawn), or the last
        screenshot after ``timeout`` s (the caller's assertions then say what is wrong)."""
        try:
            return harness.wait_until(lambda: (lambda png: ok(png) and png)(self.canvas_png()), timeout=timeout,
                                      interval=0.3, what="the view to draw the new territory settings")
        except harness.HarnessError:
            return self.canvas_png()


def _pixels(png: bytes, xy_local: np.ndarray, scale: float = 1.0) -> np.ndarray:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)
    ij = np.floor(xy_local * scale).astype(int)
    return img[ij[:, 1], ij[:, 0]]


@pytest.fixture(scope="module")
def view(lab_server, new_page, digits_dir):
    page = new_page("territory-lab")
    harness.open_widget_notebook(page, lab_server, "territory-lab.ipynb", harness.widget_cells(digits_dir, EPOCHS),
                                 ui="lab")
    k = lab_server.kernel("territory-lab.ipynb")
    v = View(page, k)
    epochs = k.eval("w.epochs")
    harness.wait_all_epochs(page, len(epochs))
    page.wait_for_function("(sel) => { const h = document.querySelector(sel).__ttvis;"
                           f" return h && h.territoriesLoaded >= {len(epochs)}; }}", arg=CANVAS, timeout=120_000)
    page.locator(CANVAS).first.scroll_into_view_if_needed()
    v.redraw(f"w.epoch = {epochs[-1]}\nw.filters = {{'labels': []}}")  # hide every point: territory only
    yield v
    k.close()
    page.close()
    for s in lab_server.api("GET", "/api/sessions") or []:
        lab_server.api("DELETE", f"/api/sessions/{s['id']}")


@pytest.fixture(scope="module")
def cells(view):
    """Far and near cells (data coordinates, their image colour) and where they are on the canvas."""
    c = view.k.eval("_cells", setup=CELLS)
    x0, y0, w, h = view.rect()
    out = {}
    for key in ("far", "near"):
        xy = np.asarray(c[key]["xy"], np.float64).reshape(-1, 2)
        local = np.asarray(harness.data_to_client(view.page, xy), np.float64).reshape(-1, 2) - [x0, y0]
        on = (local[:, 0] >= 2) & (local[:, 0] < w - 2) & (local[:, 1] >= 2) & (local[:, 1] < h - 2)
        out[key] = (local[on], np.asarray(c[key]["rgb"], np.float64).reshape(-1, 3)[on])
    assert len(out["far"][0]) >= 20 and len(out["near"][0]) >= 20, {k: len(v[0]) for k, v in out.items()}
    return out


def _ink(png: bytes) -> int:
    """Canvas pixels that are not white, inside the element's 1-px frame."""
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)[3:-3, 3:-3]
    return int(((255 - img).max(axis=2) > 2).sum())


def _drawn(rgb, alpha):
    """What the shader paints over white: 255 - alpha * (255 - colour)."""
    return 255.0 - alpha * (255.0 - rgb)


def test_far_field_is_empty_and_the_supported_territory_painted(view, cells):
    (far, _), (near, near_rgb) = cells["far"], cells["near"]
    view.redraw("w.territory_opacity, w.territory_extent, w.show_territory = 0.6, 'support', True")
    png = view.png_when(lambda png: (_pixels(png, far) == 255).all() and (_pixels(png, near) < 250).any())
    harness.save_artifact("territory-support.png", png)
    fp = _pixels(png, far)
    assert (fp == 255).all(axis=1).mean() == 1.0, f"far-field pixels are not blank: {fp[(fp != 255).any(1)][:5]}"
    npx = _pixels(png, near)
    err = np.abs(npx - _drawn(near_rgb, 0.6)).max(axis=1)
    assert (err <= 10).mean() >= 0.9, f"supported territory not painted as the kernel coloured it: {np.median(err)}"
    assert ((255 - npx).max(axis=1) > 8).mean() >= 0.9  # and visibly tinted


def test_full_extent_paints_the_far_field_faint_and_opacity_zero_removes_the_territory(view, cells):
    far, far_rgb = cells["far"]
    view.redraw("w.territory_opacity, w.territory_extent = 1.0, 'full'")
    png = view.png_when(lambda png: (_pixels(png, far) < 250).any())
    harness.save_artifact("territory-full.png", png)
    err = np.abs(_pixels(png, far) - _drawn(far_rgb, FULL_FLOOR)).max(axis=1)
    assert (err <= 10).mean() >= 0.9, f"far field not drawn faint with its own colours: {np.median(err)}"
    view.redraw("w.territory_opacity = 0.0")
    blank = view.png_when(lambda png: _ink(png) == 0)
    assert _ink(blank) == 0, "territory pixels left at territory_opacity = 0"
    view.redraw("w.show_territory = False")
    assert harness.pixel_difference(blank, view.canvas_png(), tol=2) == 0  # the same as no territory at all
    view.redraw("w.show_territory, w.territory_opacity, w.territory_extent = True, 0.6, 'support'")


def test_panel_controls_set_the_traits_and_follow_them(view):
    page, k = view.page, view.k
    page.locator(OPACITY_SLIDER).first.fill("0.25")
    harness.wait_until(lambda: k.eval("w.territory_opacity") == 0.25, what="the slider's opacity in the kernel")
    page.locator(EXTENT_MENU).first.select_option("full")
    harness.wait_until(lambda: k.eval("w.territory_extent") == "full", what="the menu's extent in the kernel")
    view.redraw("w.territory_opacity, w.territory_extent = 0.8, 'support'")
    harness.wait_until(lambda: page.locator(OPACITY_SLIDER).first.input_value() == "0.8"
                       and page.locator(EXTENT_MENU).first.input_value() == "support", what="the panel to follow")
    assert k.eval("w.refusals") == []
    view.redraw("w.territory_opacity = 0.6")


def test_save_png_draws_the_territory_with_its_own_settings(view, cells, tmp_path):
    near, near_rgb = cells["near"]
    keep = near[:, 1] > 80  # below the exported title and legend boxes
    near, near_rgb = near[keep], near_rgb[keep]
    out = {}
    for name, kw in (("none", "territory_opacity=0"), ("full", "territory_opacity=1, territory_extent='full'")):
        out[name] = tmp_path / f"{name}.png"
        view.k.run(f"job = w.save_png({str(out[name])!r}, scale=2, {kw})\nawait job", timeout=120)
        assert out[name].exists(), view.k.eval("repr(job)")
        harness.save_artifact(f"territory-save-{name}.png", out[name].read_bytes())
    none = _pixels(out["none"].read_bytes(), near, 2.0)
    assert (none == 255).all(axis=1).mean() == 1.0, "save_png(territory_opacity=0) still has territory pixels"
    full = _pixels(out["full"].read_bytes(), near, 2.0)
    assert (np.abs(full - _drawn(near_rgb, 1.0)).max(axis=1) <= 10).mean() >= 0.9
    assert view.k.eval("(w.territory_opacity, w.territory_extent)") == [0.6, "support"]  # the view kept its own
