"""``ttvis`` command line. Each part of the package registers its own subcommands:

* ``ttvis_widget.demo.cli``     demo-data, demo
* ``ttvis_widget.engine.cli``   fit
* ``ttvis_widget.metrics.cli``  eval
* ``ttvis info PATH``           (here) summary of a training-dynamics folder

A module ``M`` listed in ``_PARTS`` provides ``register(subparsers)``; each subparser sets ``func``. What the
subcommands share (the epoch-list syntax, help with defaults and examples) is in ``cliargs.py``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .cliargs import HelpFormatter, add_command, add_load_options

_PARTS = ["ttvis_widget.demo.cli", "ttvis_widget.engine.cli", "ttvis_widget.metrics.cli"]


def _info(args) -> int:
    from . import load

    dyn = load(args.path, trust_model_code=args.trust_model_code, allow_gaps=args.allow_gaps)
    print(repr(dyn))
    print(f"dim={dyn.dim} media={dyn.media} head={'yes' if dyn.has_head else 'no'} classes={dyn.class_names}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ttvis", description="Time-travelling visualization of training dynamics",
                                formatter_class=HelpFormatter,
                                epilog="'ttvis COMMAND --help' shows a command's options and examples")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    q = add_command(sub, "info", "summarise a training-dynamics folder (any layout ttvis_widget reads)",
                    examples=["ttvis info demo_data/fashion_mnist"])
    q.add_argument("path", help="training-dynamics folder")
    add_load_options(q)
    q.set_defaults(func=_info)
    for name in _PARTS:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        mod.register(sub)
    return p


def main(argv=None) -> int:
    from .errors import TrainingDynamicsError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TrainingDynamicsError as e:
        print(f"ttvis: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
