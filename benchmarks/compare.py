"""Compare benchmark in a real browser: time to the first frame of ONE view vs of BOTH views of a comparison.

    python benchmarks/compare.py                    # N = 60,000 points x 200 epochs
    python benchmarks/compare.py --n 6000 --epochs 50

Target (issue 28): at 60k x 200 epochs, both views' first frame <= 2x one view's.

What it does: the synthetic random-walk runs of benchmarks/scrub.py (no fitting), two of them (seeds 0 and 1:
two "trainings" with the same N, so samples are matched by index and the second is aligned to the first by
per-epoch Procrustes). A real JupyterLab and Debian chromium (software WebGL2) run two notebooks, one after the
other, each with Run All Cells: cell 1 makes the run(s), cell 2 builds and displays either
``TimeTravelWidget(run)`` or ``ttvis_widget.compare(run, run2)``. Reported per notebook:

* kernel: seconds to build the widget(s) in cell 2 (for the comparison this includes aligning all epochs),
* page: ms from each view's creation to its first frame (``canvas.__ttvis.timings.firstFrameMs``), and
* "to first frame" = build + the slowest view's first frame (what the user waits for after cell 2 starts),
  and the wall time from Run All to every view's first frame, less the kernel's data-making time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

MAKE = ("import importlib.util, time\n"
        "spec = importlib.util.spec_from_file_location('scrub_bench', {scrub!r})\n"
        "scrub_bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(scrub_bench)\n"
        "t0 = time.perf_counter()\n"
        "run = scrub_bench.make_fake_run({n}, {e}, seed=0)\n"
        "{second}"
        "make_s = time.perf_counter() - t0")
SHOW = {"one": ("from ttvis_widget import TimeTravelWidget\n"
                "t0 = time.perf_counter(); view = TimeTravelWidget(run); build_s = time.perf_counter() - t0\n"
                "view"),
        "compare": ("import ttvis_widget\n"
                    "t0 = time.perf_counter(); view = ttvis_widget.compare(run, run2); "
                    "build_s = time.perf_counter() - t0\n"
                    "view")}


def measure(server, browser, kind: str, n: int, n_epochs: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.browser import harness

    views = 1 if kind == "one" else 2
    name = f"compare-bench-{kind}-{n}.ipynb"
    second = "run2 = scrub_bench.make_fake_run({n}, {e}, seed=1)\n".format(n=n, e=n_epochs) if views == 2 else ""
    cells = [MAKE.format(scrub=str(HERE / "scrub.py"), n=n, e=n_epochs, second=second), SHOW[kind]]
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
    page = ctx.new_page()
    try:
        server.put_notebook(name, cells)
        harness.open_notebook(page, server, name)
        t0 = time.monotonic()
        harness.run_all_cells(page)
        page.wait_for_function(
            "(k) => { const cs = [...document.querySelectorAll('.ttvis-root canvas.ttvis-canvas')];"
            " return cs.length >= k && cs.every(c => c.__ttvis && c.__ttvis.ready); }",
            arg=views, timeout=900_000, polling=100)
        wall = time.monotonic() - t0
        per_view = page.evaluate("() => [...document.querySelectorAll('.ttvis-root canvas.ttvis-canvas')]"
                                 ".map(c => c.__ttvis.timings.firstFrameMs)")
        k = server.kernel(name)
        try:
            ks = k.eval("{'make_s': make_s, 'build_s': build_s}")
        finally:
            k.close()
    finally:
        ctx.close()
        for s in server.api("GET", "/api/sessions") or []:
            if s.get("path") == name:
                server.api("DELETE", f"/api/sessions/{s['id']}")
    return {"kind": kind, "views": views, "n": n, "epochs": n_epochs, "build_s": ks["build_s"],
            "make_s": ks["make_s"], "first_frame_ms": per_view,
            "to_first_frame_s": ks["build_s"] + max(per_view) / 1000, "wall_s": wall - ks["make_s"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60_000)
    ap.add_argument("--epochs", type=int, default=200)
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from playwright.sync_api import sync_playwright

    from tests.browser import harness

    server = harness.JupyterServer("lab")
    try:
        with sync_playwright() as p:
            browser = harness.launch_browser(p)
            one = measure(server, browser, "one", a.n, a.epochs)
            both = measure(server, browser, "compare", a.n, a.epochs)
            browser.close()
    finally:
        server.stop()
    print(f"N = {a.n:,} x {a.epochs} epochs, chromium {harness.CHROMIUM} (software WebGL2), JupyterLab")
    for r in (one, both):
        ff = ", ".join(f"{x:.0f}" for x in r["first_frame_ms"])
        print(f"{r['kind']:>8}: build {r['build_s']:.2f} s in the kernel; first frame {ff} ms after each view's "
              f"creation; to first frame {r['to_first_frame_s']:.2f} s; Run All -> all first frames "
              f"{r['wall_s']:.1f} s (data making excluded)")
    ratio = both["to_first_frame_s"] / one["to_first_frame_s"]
    wall_ratio = both["wall_s"] / one["wall_s"]
    print(f"both views / one view: {ratio:.2f}x (build + first frame), {wall_ratio:.2f}x (Run All wall); "
          f"target <= 2x: {'met' if ratio <= 2 else 'MISSED'}")
    return one, both


if __name__ == "__main__":
    main()
