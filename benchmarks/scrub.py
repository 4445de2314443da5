"""Scrubbing benchmark in a real browser: JavaScript cost per frame while the timeline moves every frame.

    python benchmarks/scrub.py                 # N = 60,000 and 6,000 points x 200 epochs, 6 s each
    python benchmarks/scrub.py --n 60000 --epochs 200 --seconds 4 --no-small

What it does, honestly:

* synthetic dynamics, no fitting: N points x E epochs of random-walk trajectories around 10 class centres,
  predictions that drift, wrapped in an ``ArrayDynamics`` subclass and a minimal run object that quacks
  like a ``VisRun`` (``epochs``, ``embedding(e)``, ``embeddings()``, ``bounds``, ``dynamics``, no territory);
* a real JupyterLab server and Debian chromium (headless, WebGL2 through ANGLE + SwiftShader, i.e. the GPU
  is emulated on the CPU) render ``TimeTravelWidget(run)`` from a notebook run with Run All Cells; the data
  reaches the page over the kernel websocket exactly as for a user (bytes counted on the page's WebSockets);
* for ``--seconds`` a ``requestAnimationFrame`` loop moves the time to a new fractional position every
  frame through the same path a user's drag takes (the ``input.ttvis-slider`` element and its ``input``
  event; ``canvas.__ttvis.setTime(t)`` when the widget offers it), so each frame interpolates between
  two epochs;
* reported per frame: the widget's own JS time (``canvas.__ttvis.lastFrameMs``), the time our handler
  spends inside the widget's input path, and Chrome's ``ScriptDuration`` (all JavaScript on the page,
  from the DevTools protocol) divided by frames; frames per second from rAF timestamps.

With software GL the rasterization cost (in the GPU process, on the CPU) grows with N, so fps may fall
with N even where the JS per-frame cost stays flat; the JS columns are the ones that should not grow.
Current figures: benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# ------------------------------------------------------------------------------- synthetic run (kernel side)

def make_fake_run(n: int = 60_000, n_epochs: int = 200, n_classes: int = 10, seed: int = 0):
    """A VisRun look-alike over random-walk trajectories (float32 [E, N, 2]); no fitting involved."""
    import numpy as np

    from ttvis_widget import ArrayDynamics

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    ang = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = np.stack([np.cos(ang), np.sin(ang)], 1).astype(np.float32) * 4
    start = rng.normal(0, 2.0, (n, 2)).astype(np.float32)
    emb = np.empty((n_epochs, n, 2), np.float32)
    emb[0] = start
    for k in range(1, n_epochs):  # random walk drifting towards the class centre
        emb[k] = emb[k - 1] + 0.04 * (centres[labels] - emb[k - 1]) + rng.normal(0, 0.06, (n, 2)).astype(np.float32)
    pred = np.where(rng.random((n_epochs, n)) < np.linspace(0.2, 0.95, n_epochs)[:, None], labels[None, :],
                    rng.integers(0, n_classes, (n_epochs, n))).astype(np.int64)
    conf = rng.random((n_epochs, n)).astype(np.float32)
    epochs = list(range(1, n_epochs + 1))

    class WalkDynamics(ArrayDynamics):
        # predictions as classes + confidences (logits for 60k x 10 x 200 would be 480 MB for nothing)
        def prediction(self, epoch):
            return np.zeros((1, 1), np.float32)  # "has predictions"

        def predicted_class(self, epoch):
            return pred[epochs.index(int(epoch))]

        def confidence(self, epoch):
            return conf[epochs.index(int(epoch))]

    dyn = WalkDynamics({e: emb[k] for k, e in enumerate(epochs)}, labels=labels,
                       classes=[f"class {c}" for c in range(n_classes)], name=f"random-walk-{n}x{n_epochs}")
    lo, hi = emb.reshape(-1, 2).min(0), emb.reshape(-1, 2).max(0)
    pad = 0.05 * (hi - lo)
    bounds = (float(lo[0] - pad[0]), float(lo[1] - pad[1]), float(hi[0] + pad[0]), float(hi[1] + pad[1]))

    class WalkRun:
        method = "random-walk"
        params: dict = {}
        has_inverse = False

        def __init__(self):
            self.dynamics, self.epochs, self.bounds = dyn, epochs, bounds

        def embedding(self, epoch):
            return emb[epochs.index(int(epoch))]

        def embeddings(self):
            return emb

    return WalkRun()


# ------------------------------------------------------------------------------- browser side

WS_COUNTER = """
(() => {
  const Orig = window.WebSocket;
  window.__wsBytes = 0; window.__wsMessages = 0;
  function Counted(url, protocols) {
    const ws = protocols === undefined ? new Orig(url) : new Orig(url, protocols);
    ws.addEventListener('message', (e) => {
      const d = e.data;
      window.__wsMessages += 1;
      window.__wsBytes += (d && (d.byteLength ?? d.size)) ?? (typeof d === 'string' ? d.length : 0);
    });
    return ws;
  }
  Counted.prototype = Orig.prototype;
  for (const k of ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']) Counted[k] = Orig[k];
  window.WebSocket = Counted;
})();
"""

SCRUB_LOOP = """
async ([sel, slider, seconds, step]) => {
  const c = document.querySelector(sel);
  const h = c.__ttvis;
  const s = document.querySelector(slider);
  const lo = s ? +s.min : 0, hi = s ? +s.max : 1;
  const nT = h.nEpochs ?? h.epochsLoaded;            // time runs over [0, nEpochs - 1]
  const span = nT - 1;
  const viaHook = typeof h.setTime === 'function';
  const frameMs = [], handlerMs = [], stamps = [], times = [];
  let t = 0.0;
  const frames0 = h.frames;
  return await new Promise((resolve) => {
    const t0 = performance.now();
    const tick = (ts) => {
      stamps.push(ts);
      if (stamps.length > 1) frameMs.push(h.lastFrameMs);  // the widget's cost for the previous frame
      t = (t + step) % span;
      const a = performance.now();
      if (viaHook) h.setTime(t);
      else { s.value = String(lo + (hi - lo) * (t / span)); s.dispatchEvent(new Event('input', {bubbles: true})); }
      handlerMs.push(performance.now() - a);
      times.push(h.time);
      if (performance.now() - t0 < seconds * 1000) requestAnimationFrame(tick);
      else resolve({frameMs, handlerMs, stamps, via: viaHook ? 'canvas.__ttvis.setTime' : 'input.ttvis-slider',
                    widgetFrames: h.frames - frames0, distinctTimes: new Set(times.map(x => Math.round(x * 1000))).size, span,
                    sliderStep: s ? s.step : null});
    };
    requestAnimationFrame(tick);
  });
}
"""


def _pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def measure(server, browser, n: int, n_epochs: int, seconds: float, step: float, seed: int = 0) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.browser import harness

    name = f"scrub-{n}.ipynb"
    cells = [
        "import importlib.util, sys, time\n"
        f"spec = importlib.util.spec_from_file_location('scrub_bench', {str(HERE / 'scrub.py')!r})\n"
        "scrub_bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(scrub_bench)\n"
        f"t0 = time.perf_counter(); run = scrub_bench.make_fake_run({n}, {n_epochs}, seed={seed})\n"
        "make_s = time.perf_counter() - t0",
        "from ttvis_widget import TimeTravelWidget\n"
        "w = TimeTravelWidget(run)\n"
        "w",
    ]
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
    ctx.add_init_script(WS_COUNTER)
    page = ctx.new_page()
    try:
        server.put_notebook(name, cells)
        harness.open_notebook(page, server, name)
        bytes0 = page.evaluate("() => window.__wsBytes")
        t0 = time.monotonic()
        harness.run_all_cells(page)
        page.wait_for_selector(harness.CANVAS, state="attached", timeout=600_000)
        page.wait_for_function("(sel) => { const c = document.querySelector(sel); return c && c.__ttvis && c.__ttvis.ready; }",
                               arg=harness.CANVAS, timeout=600_000, polling=200)
        first_frame_s = time.monotonic() - t0
        harness.wait_all_epochs(page, n_epochs, timeout=600)
        load_s = time.monotonic() - t0
        harness.settle(page, 10)
        wire = page.evaluate("() => window.__wsBytes") - bytes0
        k = server.kernel(name)
        try:
            kinfo = k.eval("{'make_s': make_s, 'nominal': __import__('ttvis_widget.widget.transport', fromlist=['x'])"
                           ".bytes_per_point_epoch(w.payload.has_pred), 'payload_bytes': int(sum(a.nbytes for k_ in"
                           " range(len(w.payload.epochs)) for a in w.payload.epoch(k_) if a is not None))}")
            stats = page.evaluate("(sel) => { const h = document.querySelector(sel).__ttvis;"
                                  " return h.transportStats || h.stats || null; }", harness.CANVAS)
            view_t = page.evaluate("(sel) => document.querySelector(sel).__ttvis.timings || {}", harness.CANVAS)
        finally:
            k.close()
        page.locator(harness.CANVAS).first.scroll_into_view_if_needed()
        harness.settle(page, 5)
        cdp = ctx.new_cdp_session(page)
        cdp.send("Performance.enable")

        def script_s():
            m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
            return m.get("ScriptDuration", 0.0), m.get("TaskDuration", 0.0)

        s0, task0 = script_s()
        r = page.evaluate(SCRUB_LOOP, [harness.CANVAS, harness.SLIDER, seconds, step])
        s1, task1 = script_s()
        shot = page.locator(harness.CANVAS).first.screenshot(type="png")
        harness.save_artifact(f"scrub-{n}.png", shot)
    finally:
        ctx.close()
        for s in server.api("GET", "/api/sessions") or []:
            if s.get("path") == name:
                server.api("DELETE", f"/api/sessions/{s['id']}")
    frames = len(r["stamps"])
    dur = (r["stamps"][-1] - r["stamps"][0]) / 1000 if frames > 1 else float("nan")
    intervals = [b - a for a, b in zip(r["stamps"], r["stamps"][1:])]
    fm = [x for x in r["frameMs"] if isinstance(x, (int, float))]
    return {
        "n": n, "epochs": n_epochs, "frames": frames, "fps": (frames - 1) / dur if dur else float("nan"),
        "frame_interval_p95": _pct(intervals, 0.95),
        "widget_ms_mean": statistics.fmean(fm) if fm else float("nan"), "widget_ms_p95": _pct(fm, 0.95),
        "handler_ms_mean": statistics.fmean(r["handlerMs"]), "handler_ms_p95": _pct(r["handlerMs"], 0.95),
        "script_ms_per_frame": 1000 * (s1 - s0) / max(frames, 1),
        "task_ms_per_frame": 1000 * (task1 - task0) / max(frames, 1),
        "widget_frames": r["widgetFrames"], "via": r["via"], "distinct_times": r["distinctTimes"], "slider_step": r["sliderStep"],
        "first_frame_s": first_frame_s, "load_s": load_s, "make_s": kinfo["make_s"],
        "wire_bytes": wire, "wire_b_per_pt_epoch": wire / (n * n_epochs),
        "nominal_b_per_pt_epoch": kinfo["nominal"], "payload_b_per_pt_epoch": kinfo["payload_bytes"] / (n * n_epochs),
        "js_stats": stats,
        "view_first_frame_ms": view_t.get("firstFrameMs"), "view_all_epochs_ms": view_t.get("allEpochsMs"),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--small", type=int, default=6_000, help="second, smaller N (0 = skip)")
    ap.add_argument("--no-small", action="store_true")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--step", type=float, default=0.37, help="epochs the time advances per frame")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    a = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.browser import harness

    sizes = [a.n] + ([] if a.no_small or not a.small else [a.small])
    server = harness.JupyterServer("lab")
    results = []
    try:
        with sync_playwright() as p:
            browser = harness.launch_browser(p)
            gl = None
            pg = browser.new_page()
            gl = harness.webgl2_info(pg)
            pg.close()
            for n in sizes:
                print(f"... N = {n:,} x {a.epochs} epochs", flush=True)
                results.append(measure(server, browser, n, a.epochs, a.seconds, a.step))
            browser.close()
    finally:
        server.stop()

    print()
    print(f"chromium {harness.CHROMIUM}; WebGL2: {gl}")
    print(f"time path: {results[0]['via']}; {a.seconds:.0f} s of rAF frames per size, t += {a.step} epochs/frame")
    cols = [("N", "{:,}", "n"), ("frames", "{}", "frames"), ("fps", "{:.1f}", "fps"),
            ("widget JS ms/frame mean", "{:.2f}", "widget_ms_mean"), ("p95", "{:.2f}", "widget_ms_p95"),
            ("input path ms mean", "{:.2f}", "handler_ms_mean"), ("p95", "{:.2f}", "handler_ms_p95"),
            ("all page JS ms/frame", "{:.2f}", "script_ms_per_frame"),
            ("main thread ms/frame", "{:.2f}", "task_ms_per_frame"),
            ("B/pt/epoch (wire)", "{:.2f}", "wire_b_per_pt_epoch"), ("B/pt/epoch (payload)", "{:.2f}", "payload_b_per_pt_epoch"),
            ("load s", "{:.1f}", "load_s")]
    cells = [[f.format(r[k]) for _, f, k in cols] for r in results]
    widths = [max(len(h), *(len(row[j]) for row in cells)) for j, (h, _, _) in enumerate(cols)]
    print(" | ".join(h.rjust(w) for (h, _, _), w in zip(cols, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths)))
    print()
    for r in results:
        print(f"N={r['n']:,}: first frame {r['first_frame_s']:.1f} s, all epochs {r['load_s']:.1f} s after Run All; "
              f"{r['wire_bytes'] / 1e6:.1f} MB over the websocket; widget frames drawn {r['widget_frames']} for "
              f"{r['frames']} ticks, {r['distinct_times']} distinct times; "
              f"frame interval p95 {r['frame_interval_p95']:.1f} ms; widget stats {r['js_stats']}")
        print(f"N={r['n']:,}: from the widget view's creation (displayed): first frame "
              f"{r['view_first_frame_ms']:.0f} ms, all {r['epochs']} epochs resident {r['view_all_epochs_ms']:.0f} ms")
    print("Software GL (SwiftShader) rasterizes on the CPU in the GPU process: that cost grows with N and shows "
          "in fps, not in the JS columns.")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
