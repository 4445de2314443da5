"""``ttvis demo-data`` (record the demo dynamics) and ``ttvis demo`` (data, fit, then the quickstart notebook).

``ttvis demo`` checks everything it needs before any long step (``preflight``): the notebook, the Python packages
that open or run it (the ``[demo]`` extra), Fashion-MNIST's files, folders it can write, a free port. The
quickstart notebook ships in this package (``quickstart.ipynb`` beside this file), so the demo runs the same
from a checkout and from an installed wheel.
"""
from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..cliargs import add_command

#: the quickstart notebook, package data
NOTEBOOK = Path(__file__).resolve().with_name("quickstart.ipynb")
#: what opening the notebook (JupyterLab) and running it headless (nbclient) import; all in the [demo] extra
SERVE_MODULES = ("jupyterlab", "ipykernel")
HEADLESS_MODULES = ("nbformat", "nbclient", "ipykernel")
DEMO_EXTRA_HINT = "pip install 'ttvis_widget[demo]'"


def register(sub):
    from ..engine import registry
    from .fashion import add_arguments

    p = add_command(sub, "demo-data", "train a small CNN on Fashion-MNIST and record its training dynamics",
                    examples=["ttvis demo-data", "ttvis demo-data --out /tmp/fm --n-train 2000 --epochs 5",
                              "ttvis demo-data --n-train 50000 --rep-dim 512 --device cuda"])
    add_arguments(p)
    p.set_defaults(func=_demo_data)

    q = add_command(sub, "demo", "demo dynamics + fit + the quickstart notebook in JupyterLab (or --headless)",
                    examples=["ttvis demo", "ttvis demo --headless", "ttvis demo --method pca --port 8899",
                              "ttvis demo --data runs/my_model --workdir /tmp/ttvis_demo"],
                    description="Record the Fashion-MNIST demo dynamics (a few minutes the first time, reused "
                                "after), fit a visualization, then serve the quickstart notebook in JupyterLab on "
                                "127.0.0.1, or execute it with --headless and print OK. Everything it needs is "
                                "checked first.")
    q.add_argument("--data", default=None, help="training dynamics to show: an existing folder (any layout) is "
                   "used as it is, otherwise the Fashion-MNIST demo is recorded there "
                   "(default: $TTVIS_DEMO_DATA or demo_data/fashion_mnist)")
    q.add_argument("--method", default="dvi", choices=registry.names(), help="visualization method to fit")
    q.add_argument("--notebook", default=None,
                   help="notebook to open or run (default: the quickstart notebook shipped in the package)")
    q.add_argument("--workdir", default="demo_data",
                   help="folder the notebook is copied into, JupyterLab serves and the kernel runs in")
    q.add_argument("--headless", action="store_true", help="execute the notebook instead of serving it; report success")
    q.add_argument("--port", type=int, default=8888, help="JupyterLab's port on 127.0.0.1")
    q.set_defaults(func=_demo)


def _demo_data(args) -> int:
    from .fashion import run_from_args

    run_from_args(args)
    return 0


def _given_dynamics(args) -> Path | None:
    """The folder of existing training dynamics that --data names, or None when the demo records its own."""
    if args.data and Path(args.data).is_dir() and any(Path(args.data).iterdir()):
        return Path(args.data).resolve()
    return None


def _write_problem(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made later if missing), or None. Creates nothing."""
    p = Path(folder).absolute()
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        return f"{folder}: cannot be created, {p} is a file"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"{folder}: no permission to write in {p}"
    return None


def _port_problem(port: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            return f"port {port} on 127.0.0.1 is in use ({e.strerror}); pass --port with a free one"
    return None


def preflight(args) -> tuple[list[str], list[str]]:
    """(problems, notes) about everything ``ttvis demo`` needs, found before any long step. Any problem stops
    the demo; notes are said and the demo goes on. Reads and probes only: writes nothing."""
    from .idx import INSTALL_HINT, fashion_available

    problems, notes = [], []
    nb = Path(args.notebook) if args.notebook else NOTEBOOK
    if not nb.is_file():
        problems.append(f"notebook {nb} not found" + ("" if args.notebook else
                        " (the package is incomplete: reinstall ttvis_widget)"))
    need = HEADLESS_MODULES if args.headless else SERVE_MODULES
    missing = [m for m in need if importlib.util.find_spec(m) is None]
    if missing:
        problems.append(f"missing Python packages {', '.join(missing)} (needed to "
                        f"{'run the notebook headless' if args.headless else 'open the notebook'}): {DEMO_EXTRA_HINT}")
    elif nb.is_file() and args.notebook:
        import nbformat

        try:
            nbformat.validate(nbformat.read(nb, as_version=4))
        except Exception as e:  # nbformat raises JSON, validation and version errors alike
            problems.append(f"notebook {nb} cannot be read: {e}")
    given = _given_dynamics(args)
    if given is not None:
        from .. import load
        from ..errors import TrainingDynamicsError

        try:
            load(given)
        except TrainingDynamicsError as e:
            problems.append(str(e))
        else:
            problems += [m for m in [_write_problem(given / "ttvis_cache")] if m]  # fit's run cache
    else:
        from .fashion import default_demo_path

        data = Path(args.data) if args.data else default_demo_path()
        problems += [m for m in [_write_problem(data)] if m]
        if not fashion_available():
            notes.append(f"{INSTALL_HINT}. The demo uses scikit-learn's digits instead (seconds, not minutes).")
    problems += [m for m in [_write_problem(Path(args.workdir))] if m]
    if not args.headless:
        problems += [m for m in [_port_problem(args.port)] if m]
    return problems, notes


def _demo(args) -> int:
    from .fashion import default_demo_path, make_fashion_dynamics

    problems, notes = preflight(args)
    for n in notes:
        print(f"ttvis demo: note: {n}", file=sys.stderr)
    if problems:
        print("ttvis demo: cannot start:\n" + "\n".join(f"  - {p}" for p in problems), file=sys.stderr)
        return 2
    data = _given_dynamics(args)
    if data is None:
        data = make_fashion_dynamics(Path(args.data) if args.data else default_demo_path()).resolve()
    os.environ["TTVIS_DEMO_DATA"] = str(data)  # the notebook (its kernel inherits this) shows the same data ...
    os.environ["TTVIS_METHOD"] = args.method  # ... and fits (loads from the cache) the same run
    from .. import fit

    t0 = time.perf_counter()
    run = fit(str(data), method=args.method, progress=True)
    print(f"ttvis: {args.method} run ready in {time.perf_counter() - t0:.1f} s: {run.path}")
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    nb = Path(args.notebook).resolve() if args.notebook else NOTEBOOK
    if args.headless:
        return _execute_notebook(nb, workdir)
    return _serve(_copy_notebook(nb, workdir), workdir, args.port)


def _copy_notebook(nb: Path, workdir: Path) -> Path:
    """The notebook's copy in ``workdir`` (written when missing; a copy the user changed is kept as it is)."""
    from ..store.atomic import atomic_write_bytes

    target = workdir / nb.name
    if target.resolve() == nb:
        return nb
    if not target.exists():
        atomic_write_bytes(target, nb.read_bytes())
    elif target.read_bytes() != nb.read_bytes():
        print(f"ttvis demo: note: keeping your changed {target} (delete it to get the shipped notebook)")
    return target


def _serve(nb: Path, workdir: Path, port: int) -> int:
    cmd = [sys.executable, "-m", "jupyter", "lab", str(nb), "--ip=127.0.0.1", f"--port={port}", "--no-browser",
           "--ServerApp.port_retries=0", f"--ServerApp.root_dir={workdir}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    print(f"ttvis: starting JupyterLab in {workdir}; open the URL printed below "
          f"(http://127.0.0.1:{port}/lab/tree/{nb.name}?token=...)", flush=True)
    return subprocess.call(cmd)


def _execute_notebook(nb: Path, workdir: Path) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    book = nbformat.read(nb, as_version=4)
    client = NotebookClient(book, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
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
