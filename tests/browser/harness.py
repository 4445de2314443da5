"""Real-browser test harness: JupyterLab / Notebook 7 servers, Debian chromium via Playwright, kernel access.

Nothing here is mocked: a real ``jupyter lab`` and a real ``jupyter notebook`` (Notebook 7) server run on
127.0.0.1 with their own temporary config/runtime/settings dirs; chromium (``/usr/bin/chromium``, never a
Playwright-downloaded browser) renders the notebook with WebGL2 in software (ANGLE + SwiftShader); notebooks
are created through the Jupyter REST API and run from the app's own "Run All Cells" menu; the test reads
and writes widget state in the very kernel the page talks to, through jupyter_client and the kernel's
connection file in the server's runtime dir.

Also usable outside pytest (benchmarks/scrub.py uses it).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("TTVIS_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # WebGL2 in software: ANGLE on SwiftShader (no GPU on CI machines).
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    # keep rAF / timers running at full rate in a headless, possibly "hidden" page
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]


class HarnessError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------- browser

def require_chromium() -> str:
    """Path of the Debian chromium binary, or a HarnessError that says how to get it (never skip)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise HarnessError(
            f"browser tests need Debian chromium at {CHROMIUM} (apt-get install chromium; the test script "
            "installs it). Set TTVIS_CHROMIUM to use another binary. Playwright's own downloaded browsers "
            "are deliberately not used.")
    return CHROMIUM


def launch_browser(playwright, headless: bool = True):
    return playwright.chromium.launch(executable_path=require_chromium(), headless=headless, args=CHROMIUM_ARGS)


WEBGL2_PROBE = """() => {
  const c = document.createElement('canvas');
  const gl = c.getContext('webgl2');
  if (!gl) return null;
  const d = gl.getExtension('WEBGL_debug_renderer_info');
  return {version: gl.getParameter(gl.VERSION),
          renderer: d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)};
}"""


def webgl2_info(page):
    """{'version', 'renderer'} of a fresh WebGL2 context in ``page``, or None when WebGL2 is unavailable."""
    return page.evaluate(WEBGL2_PROBE)


# --------------------------------------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(method: str, url: str, body=None, timeout: float = 30.0):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


class ServerProcess:
    """A server run in its own process group with its output in ``log_path`` (Jupyter and marimo alike)."""

    proc: subprocess.Popen | None = None
    log_path: Path
    base: Path

    def _launch(self, cmd: list[str], env: dict, cwd: Path, probe, what: str, timeout: float):
        """Start ``cmd``; return once ``probe()`` stops raising OSError; HarnessError with the log otherwise."""
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=str(cwd), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"{what} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                probe()
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.25)
        self.stop()
        raise HarnessError(f"{what} did not answer in {timeout:.0f}s:\n{self.log_tail()}")

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def _terminate(self):
        """SIGTERM the process group, SIGKILL if it is still there after 10 s; close the log, drop the temp dir."""
        if self.proc and self.proc.poll() is None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                    self.proc.wait(10)
                    break
                except Exception:  # noqa: BLE001 - best effort teardown
                    continue
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def stop(self):
        self._terminate()


class JupyterServer(ServerProcess):
    """A real ``jupyter lab`` (kind="lab") or ``jupyter notebook`` (kind="notebook", Notebook 7) server."""

    def __init__(self, kind: str = "lab", root_dir: str | Path | None = None, startup_timeout: float = 120.0):
        assert kind in ("lab", "notebook"), kind
        self.kind = kind
        self.base = Path(tempfile.mkdtemp(prefix=f"ttvis-{kind}-"))
        self.root_dir = Path(root_dir) if root_dir else self.base / "root"
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runtime_dir = self.base / "runtime"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.base / "server.log"
        self._start(startup_timeout)

    # the app class that takes expose_app_in_browser differs between the two servers
    @property
    def _app_class(self) -> str:
        return "LabApp" if self.kind == "lab" else "JupyterNotebookApp"

    def _env(self) -> dict:
        env = dict(os.environ)
        for name in ("config", "runtime", "ipython", "lab-settings", "lab-workspaces"):
            (self.base / name).mkdir(exist_ok=True)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_RUNTIME_DIR=str(self.runtime_dir),
            IPYTHONDIR=str(self.base / "ipython"),
            JUPYTERLAB_SETTINGS_DIR=str(self.base / "lab-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.base / "lab-workspaces"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
            # the kernel shares 2 cores with the browser and the server: don't let torch/BLAS oversubscribe
            OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
            MKL_NUM_THREADS=env.get("MKL_NUM_THREADS", "1"),
            OPENBLAS_NUM_THREADS=env.get("OPENBLAS_NUM_THREADS", "1"),
        )
        env.pop("JUPYTER_TOKEN", None)
        # no "would you like news?" toast, no update check: they can steal focus / cover the output area
        notif = self.base / "lab-settings" / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        return env

    def _start(self, timeout: float):
        cmd = [sys.executable, "-m", "jupyter", self.kind,
               "--allow-root", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0", "--ServerApp.token=", "--ServerApp.password=",
               "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={self.root_dir}",
               f"--{self._app_class}.expose_app_in_browser=True",
               "--MappingKernelManager.cull_idle_timeout=0"]
        self._launch(cmd, self._env(), self.root_dir, lambda: _http("GET", f"{self.url}/api/status", timeout=2),
                     f"jupyter {self.kind} (/api/status)", timeout)

    def api(self, method: str, path: str, body=None):
        return _http(method, f"{self.url}{path}", body)

    def put_notebook(self, name: str, cells: list[str]) -> str:
        self.api("PUT", f"/api/contents/{name}", {"type": "notebook", "format": "json",
                                                   "content": make_notebook(cells)})
        return name

    def page_url(self, name: str, ui: str | None = None) -> str:
        ui = ui or self.kind
        # ?reset: start Lab from an empty workspace, so a tab restored from an earlier test cannot become the
        # current widget (and receive "Run All") instead of the notebook we open
        return f"{self.url}/lab/tree/{name}?reset" if ui == "lab" else f"{self.url}/notebooks/{name}"

    def kernel_id(self, notebook: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.api("GET", "/api/sessions") or []:
                if s.get("path") == notebook and s.get("kernel"):
                    return s["kernel"]["id"]
            time.sleep(0.25)
        raise HarnessError(f"no kernel session for {notebook} after {timeout:.0f}s")

    def kernel(self, notebook: str) -> "KernelConn":
        kid = self.kernel_id(notebook)
        cf = self.runtime_dir / f"kernel-{kid}.json"
        deadline = time.monotonic() + 30
        while not cf.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not cf.exists():
            found = sorted(p.name for p in self.runtime_dir.glob("*"))
            raise HarnessError(f"connection file {cf.name} not in {self.runtime_dir}: {found}")
        return KernelConn(cf)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:  # shuts kernels down too
                _http("POST", f"{self.url}/api/shutdown", timeout=5)
                self.proc.wait(10)
            except Exception:  # noqa: BLE001 - the process group is terminated next
                pass
        self._terminate()


def make_notebook(cells: list[str]) -> dict:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": uuid.uuid4().hex[:8], "metadata": {},
                   "outputs": [], "source": src} for src in cells],
        "metadata": {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


# --------------------------------------------------------------------------------------------- kernel

class KernelConn:
    """A second client on the notebook's own kernel: what it runs sees the same ``w`` the page renders."""

    def __init__(self, connection_file: Path):
        from jupyter_client import BlockingKernelClient

        self.kc = BlockingKernelClient(connection_file=str(connection_file))
        self.kc.load_connection_file()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 120.0) -> str:
        """Execute ``code``; return its stdout; raise HarnessError with the traceback on error."""
        out, err = [], None
        reply = self.kc.execute_interactive(
            code, timeout=timeout, store_history=False, allow_stdin=False,
            output_hook=lambda m: _collect(m, out))
        if reply["content"]["status"] != "ok":
            c = reply["content"]
            err = "\n".join(c.get("traceback") or [f"{c.get('ename')}: {c.get('evalue')}"])
            raise HarnessError(f"kernel error running:\n{code}\n{err}")
        return "".join(out)

    def eval(self, expr: str, setup: str = "", timeout: float = 120.0):
        """JSON value of the Python expression ``expr`` (after ``setup``) evaluated in the kernel."""
        marker = "@@TTVIS@@"
        code = (f"{setup}\nimport json as _j\n"
                f"print({marker!r} + _j.dumps({expr}, default=lambda o: o.tolist() if hasattr(o, 'tolist') "
                f"else str(o)))")
        text = self.run(code, timeout=timeout)
        line = [ln for ln in text.splitlines() if ln.startswith(marker)][-1]
        return json.loads(line[len(marker):])

    def close(self):
        try:
            self.kc.stop_channels()
        except Exception:
            pass


def _collect(msg, out: list):
    t = msg["header"]["msg_type"]
    if t == "stream" and msg["content"]["name"] == "stdout":
        out.append(msg["content"]["text"])


# --------------------------------------------------------------------------------------------- UI

def open_notebook(page, server: JupyterServer, name: str, ui: str | None = None, timeout: float = 120.0):
    """Open ``name`` in the server's UI and wait until its kernel is connected and idle."""
    page.goto(server.page_url(name, ui), wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout * 1000)
    page.wait_for_function(
        """(name) => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                   return !!(k && k.connectionStatus === 'connected' && k.status === 'idle'
                             && w.context && w.context.path === name
                             && w.content && w.content.widgets && w.content.widgets.length > 0); }""",
        arg=name, timeout=timeout * 1000)


def run_all_cells(page, timeout: float = 30.0) -> str:
    """Run all cells through the app's own menu bar (Run > Run All Cells); falls back to the command
    registry (the same command the menu item triggers) when the menu can't be operated. Returns how."""
    try:
        page.get_by_role("menuitem", name="Run", exact=True).first.click(timeout=timeout * 1000)
        page.get_by_role("menuitem", name="Run All Cells", exact=True).first.click(timeout=timeout * 1000)
        return "menu"
    except Exception:
        page.keyboard.press("Escape")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        return "command"


def wait_kernel_idle(page, timeout: float = 300.0):
    """Wait until the page's notebook has executed every cell (no '[*]' prompts) and the kernel is idle."""
    page.wait_for_function(
        """() => { const w = window.jupyterapp.shell.currentWidget;
                   const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
                   if (!k || k.status !== 'idle') return false;
                   return !w.content.widgets.some(c => c.model.type === 'code'
                          && (c.promptNode && c.promptNode.textContent.includes('*'))); }""",
        timeout=timeout * 1000, polling=250)


def notebook_errors(page) -> list[str]:
    """Text of error outputs shown in the notebook (tracebacks), for failure messages."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'))
                 .map(e => e.textContent.slice(-3000))""")


def screenshot_png(locator_or_page) -> bytes:
    return locator_or_page.screenshot(type="png")


def save_artifact(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    p = ARTIFACTS / name
    p.write_bytes(data)
    return p


def non_background_pixels(png: bytes, tol: int = 24) -> int:
    """Pixels that differ from the image's most common colour (the background) by more than ``tol``."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16).reshape(-1, 3)
    colors, counts = np.unique(a, axis=0, return_counts=True)
    bg = colors[counts.argmax()]
    return int((np.abs(a - bg).max(axis=1) > tol).sum())


def pixel_difference(png_a: bytes, png_b: bytes, tol: int = 24) -> int:
    """Number of pixels whose colour differs by more than ``tol`` between two same-sized screenshots."""
    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png_a)).convert("RGB")).astype(np.int16)
    b = np.asarray(Image.open(io.BytesIO(png_b)).convert("RGB")).astype(np.int16)
    if a.shape != b.shape:
        return a.size  # different geometry: certainly a different frame
    return int((np.abs(a - b).max(axis=2) > tol).sum())


def wait_until(fn, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    """Poll ``fn()`` until truthy; return its value, or raise HarnessError naming ``what`` and the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what} (last value: {last!r})")


# --------------------------------------------------------------------------------------------- probe widget
# A trivial anywidget of our own, to prove the harness (server, browser, WebGL2 in the output area, kernel
# round trips) independently of the real widget.

PROBE_WIDGET_CODE = r'''
import anywidget, traitlets

class ProbeWidget(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const root = document.createElement('div'); root.className = 'probe-root';
      const btn = document.createElement('button'); btn.className = 'probe-button';
      const c = document.createElement('canvas'); c.className = 'probe-canvas'; c.width = 64; c.height = 64;
      const gl = c.getContext('webgl2');
      if (gl) { gl.clearColor(0.9, 0.1, 0.1, 1); gl.clear(gl.COLOR_BUFFER_BIT); }
      c.__probe = { webgl2: !!gl };
      const show = () => { btn.textContent = 'count ' + model.get('count'); };
      btn.addEventListener('click', () => { model.set('count', model.get('count') + 1); model.save_changes(); });
      model.on('change:count', show); show();
      root.append(btn, c); el.append(root);
    }
    export default { render };
    """
    count = traitlets.Int(0).tag(sync=True)

probe = ProbeWidget()
probe
'''


# --------------------------------------------------------------------------------------------- the widget

CANVAS = ".ttvis-root canvas.ttvis-canvas"
SLIDER = ".ttvis-root input.ttvis-slider"
TOOLTIP = ".ttvis-root .ttvis-tooltip"


def widget_cells(digits_dir: str | Path, epochs: int = 4, method: str = "pca") -> list[str]:
    """Notebook cells: record digits training dynamics, fit a fast method, display ``w``."""
    return [
        "import os, json, numpy as np\n"
        "import ttvis_widget\n"
        "from ttvis_widget.demo import make_digits_dynamics\n"
        f"path = make_digits_dynamics({str(digits_dir)!r}, epochs={epochs})",
        "from ttvis_widget import TimeTravelWidget\n"
        f"w = TimeTravelWidget(path, method={method!r}, progress=False)\n"
        "w",
    ]


HOOK_STATE = """(sel) => { const c = document.querySelector(sel); const h = c && c.__ttvis;
  if (!h) return null;
  return {ready: !!h.ready, time: h.time, epochsLoaded: h.epochsLoaded, lastFrameMs: h.lastFrameMs,
          webgl2: h.webgl2, error: h.error || null}; }"""


def hook_state(page) -> dict | None:
    """``canvas.__ttvis`` scalars of the first widget view, or None when there is no hook yet."""
    return page.evaluate(HOOK_STATE, CANVAS)


def open_widget_notebook(page, server: JupyterServer, name: str, cells: list[str], ui: str | None = None,
                         timeout: float = 240.0) -> dict:
    """Create ``name`` with ``cells``, open it, Run All Cells, wait for ``canvas.__ttvis.ready``.

    Returns {'opened_s', 'ready_s', 'run_all': 'menu'|'command'} timings for the report."""
    t0 = time.monotonic()
    server.put_notebook(name, cells)
    open_notebook(page, server, name, ui)
    t1 = time.monotonic()
    how = run_all_cells(page)
    try:
        page.wait_for_selector(CANVAS, state="attached", timeout=timeout * 1000)
        page.wait_for_function(
            "(sel) => { const c = document.querySelector(sel); return !!(c && c.__ttvis && c.__ttvis.ready); }",
            arg=CANVAS, timeout=timeout * 1000, polling=200)
    except Exception as e:
        errs = notebook_errors(page)
        root = page.evaluate("() => { const r = document.querySelector('.ttvis-root');"
                             " return r ? r.outerHTML.slice(0, 1500) : null; }")
        try:
            save_artifact(f"not-ready-{Path(name).stem}-page.png", page.screenshot(type="png", full_page=True))
        except Exception:  # noqa: BLE001 - diagnostics only
            pass
        raise HarnessError(f"widget did not become ready ({type(e).__name__}); notebook errors: {errs}; "
                           f".ttvis-root: {root}") from None
    return {"opened_s": t1 - t0, "ready_s": time.monotonic() - t0, "run_all": how}


def wait_all_epochs(page, n_epochs: int, timeout: float = 120.0):
    page.wait_for_function(
        "([sel, n]) => { const h = document.querySelector(sel).__ttvis; return h && h.epochsLoaded >= n; }",
        arg=[CANVAS, n_epochs], timeout=timeout * 1000, polling=200)


def wait_time(page, t: float, timeout: float = 30.0, tol: float = 1e-3):
    """Wait until the view's ``__ttvis.time`` is ``t`` and two more animation frames have been drawn."""
    page.wait_for_function(
        "([sel, t, tol]) => { const h = document.querySelector(sel).__ttvis;"
        " return h && Math.abs(h.time - t) <= tol; }",
        arg=[CANVAS, t, tol], timeout=timeout * 1000, polling=100)
    settle(page)


def settle(page, frames: int = 3):
    page.evaluate("(n) => new Promise(r => { const f = () => (n-- <= 0 ? r() : requestAnimationFrame(f)); f(); })",
                  frames)


def data_to_client(page, xy) -> list:
    """Client (viewport CSS px) coordinates of data points ``xy`` [[x, y], ...] via ``canvas.__ttvis``."""
    return page.evaluate(
        "([sel, pts]) => { const h = document.querySelector(sel).__ttvis;"
        " return pts.map(p => Array.from(h.dataToClient(p[0], p[1]))); }",
        [CANVAS, [[float(a), float(b)] for a, b in xy]])


def isolated_point(screen, rect, margin: float = 24.0, exclude=()) -> tuple[int, float]:
    """Index of the on-canvas point farthest (in screen px) from its nearest neighbour, and that distance."""
    import numpy as np

    s = np.asarray(screen, dtype=np.float64)
    inside = ((s[:, 0] > rect["x"] + margin) & (s[:, 0] < rect["x"] + rect["width"] - margin)
              & (s[:, 1] > rect["y"] + margin) & (s[:, 1] < rect["y"] + rect["height"] - margin))
    for i in exclude:
        inside[i] = False
    d2 = ((s[:, None, :] - s[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    nn = np.sqrt(d2.min(1))
    nn[~inside] = -1
    i = int(nn.argmax())
    if nn[i] < 0:
        raise HarnessError("no point of the embedding lies inside the visible canvas")
    return i, float(nn[i])


# --------------------------------------------------------------------------------------------- marimo

MARIMO_APP = '''import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    from ttvis_widget import TimeTravelWidget
    from ttvis_widget.demo import make_digits_dynamics

    path = make_digits_dynamics({digits_dir!r}, epochs={epochs})
    view = mo.ui.anywidget(TimeTravelWidget(path, method={method!r}, progress=False))
    view
    return


if __name__ == "__main__":
    app.run()
'''


def marimo_app_source(digits_dir: str | Path, epochs: int = 4, method: str = "pca") -> str:
    """A marimo app (.py) that records the digits run (as ``widget_cells`` does) and shows the widget."""
    return MARIMO_APP.format(digits_dir=str(digits_dir), epochs=int(epochs), method=method)


class MarimoServer(ServerProcess):
    """``marimo run <app> --headless`` on 127.0.0.1 (read-only app mode, no token), serving one app file."""

    def __init__(self, app_source: str, startup_timeout: float = 60.0):
        self.base = Path(tempfile.mkdtemp(prefix="ttvis-marimo-"))
        self.app = self.base / "ttvis_marimo_app.py"
        self.app.write_text(app_source)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.base / "server.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", MARIMO_SKIP_UPDATE_CHECK="1",
                   OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
                   MKL_NUM_THREADS=os.environ.get("MKL_NUM_THREADS", "1"),
                   OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"),
                   HOME=str(self.base))  # marimo's user config and caches stay in the temp dir
        cmd = [sys.executable, "-m", "marimo", "run", str(self.app), "--headless", "--host", "127.0.0.1",
               "--port", str(self.port), "--no-token", "--no-sandbox"]
        self._launch(cmd, env, self.base, lambda: urllib.request.urlopen(f"{self.url}/health", timeout=2).read(),
                     "marimo run (/health)", startup_timeout)


# querySelector that also looks inside open shadow roots (marimo mounts widgets in one)
DEEP_QUERY = """(sel) => { const find = (root) => { const hit = root.querySelector(sel); if (hit) return hit;
  for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
  return null; }; return find(document); }"""
