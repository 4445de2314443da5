"""``ttvis demo-data`` (record the demo dynamics) and ``ttvis demo`` (data, fit, then the quickstart notebook)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def register(sub):
    from .fashion import add_arguments

    p = sub.add_parser("demo-data", help="train a small CNN on Fashion-MNIST and record its training dynamics")
    add_arguments(p)
    p.set_defaults(func=_demo_data)

    q = sub.add_parser("demo", help="demo dynamics + fit + open notebooks/quickstart.ipynb in JupyterLab")
    q.add_argument("--data", default=None, help="demo dynamics folder (default $TTVIS_DEMO_DATA or demo_data/fashion_mnist)")
    q.add_argument("--method", default="dvi")
    q.add_argument("--notebook", default=str(REPO_ROOT / "notebooks" / "quickstart.ipynb"))
    q.add_argument("--headless", action="store_true", help="execute the notebook instead of serving it; report success")
    q.add_argument("--port", type=int, default=8888)
    q.set_defaults(func=_demo)


def _demo_data(args) -> int:
    from .fashion import run_from_args

    run_from_args(args)
    return 0


def _demo(args) -> int:
    from .fashion import default_demo_path, make_fashion_dynamics

    if args.data and Path(args.data).is_dir() and any(Path(args.data).iterdir()):
        from .. import load

        data = Path(args.data).resolve()  # existing training dynamics (any layout): use them as they are
        load(data)
    else:
        data = make_fashion_dynamics(Path(args.data) if args.data else default_demo_path()).resolve()
    os.environ["TTVIS_DEMO_DATA"] = str(data)
    os.environ["TTVIS_METHOD"] = args.method  # the quickstart notebook fits (loads) the same run
    try:
        from .. import fit
    except ImportError:
        fit = None
    if fit is not None:
        t0 = time.perf_counter()
        run = fit(str(data), method=args.method, progress=True)
        print(f"ttvis: {args.method} run ready in {time.perf_counter() - t0:.1f} s: {run.path}")
    nb = Path(args.notebook).resolve()
    if not nb.exists():
        print(f"ttvis: notebook {nb} not found", file=sys.stderr)
        return 2
    if args.headless:
        return _execute_notebook(nb)
    cmd = [sys.executable, "-m", "jupyter", "lab", str(nb), "--ip=127.0.0.1", f"--port={args.port}", "--no-browser",
           f"--ServerApp.root_dir={nb.parent.parent}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    print("ttvis: starting JupyterLab; open the URL printed below (http://127.0.0.1:%d/lab/tree/notebooks/%s?token=...)"
          % (args.port, nb.name), flush=True)
    return subprocess.call(cmd)


def _execute_notebook(nb: Path) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    book = nbformat.read(nb, as_version=4)
    client = NotebookClient(book, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(nb.parent)}})
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"ttvis: FAILED executing {nb}:\n{e}", file=sys.stderr)
        return 1
    n = sum(1 for c in book.cells if c.cell_type == "code")
    widgets = sum(1 for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if "application/vnd.jupyter.widget-view+json" in o.get("data", {}))
    print(f"ttvis: OK: executed {n} code cells of {nb.name} in {time.perf_counter() - t0:.1f} s; "
          f"{widgets} widget view(s) produced")
    return 0
