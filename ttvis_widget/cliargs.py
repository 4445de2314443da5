"""What every ``ttvis`` subcommand shares: one epoch-list syntax, help that shows each option's default, and
examples at the end of each subcommand's ``--help``.

Epoch lists: numbers and inclusive ranges, separated by commas or spaces: ``1,2,5``, ``1-5``, ``1:5``,
``1-5,8 10`` (both forms the subcommands used to take, ``--epochs 1,2,3`` / ``1-10`` and ``--epochs 1 2 3``).
"""
from __future__ import annotations

import argparse
import re
import textwrap

EPOCHS_HELP = "numbers and inclusive ranges, e.g. 1,2,5 or 1-5 or 1:5 or '1-5 8'"

_RANGE = re.compile(r"^(\d+)[-:](\d+)$")


def parse_epochs(text) -> list[int] | None:
    """``"1,2,5"``, ``"1-5"``, ``"1:5"``, ``["1", "2", "5"]``, ``"1-3, 7"`` -> sorted, distinct epoch numbers;
    None or an empty string -> None (all recorded epochs). A malformed part raises ValueError naming it."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = " ".join(str(t) for t in text)
    parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
    if not parts:
        return None
    out = set()
    for part in parts:
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ValueError(f"epoch range {part!r} runs backwards (write {hi}-{lo})")
            out.update(range(lo, hi + 1))
        elif part.isdigit():
            out.add(int(part))
        else:
            raise ValueError(f"{part!r} is not an epoch number or range (e.g. 1,2,5 or 1-5 or 1:5)")
    return sorted(out)


class _EpochsAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, parse_epochs(values))
        except ValueError as e:
            hint = " (a path after --epochs? put it before)" if any("/" in str(v) for v in values) else ""
            raise argparse.ArgumentError(self, f"{e}{hint}") from None


def add_epochs_option(parser, what: str = "epochs to use", default: str = "all recorded"):
    """``--epochs`` in the one syntax (``parse_epochs``); the parsed value is a sorted list or None."""
    parser.add_argument("--epochs", nargs="+", action=_EpochsAction, default=None, metavar="EPOCHS",
                        help=f"{what}: {EPOCHS_HELP} (default: {default})")


def add_load_options(parser):
    """The options of ``ttvis_widget.load`` that a command line can set."""
    parser.add_argument("--trust-model-code", action="store_true",
                        help="allow running the folder's model.py (original tool's layouts; only for folders you trust)")
    parser.add_argument("--allow-gaps", action="store_true", help="accept unevenly spaced epoch numbers")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the default is None or False (flags, and options
    whose help says what their absence means); keeps the examples epilog as written (descriptions are wrapped
    by ``add_command``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        if "%(default)" in text or d is None or d is False or d == argparse.SUPPRESS or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def add_command(subparsers, name: str, help: str, examples=(), description: str | None = None):
    """A subcommand parser with defaults shown in its help and ``examples`` (command lines) as its epilog."""
    epilog = ("examples:\n" + "\n".join(f"  {e}" for e in examples)) if examples else None
    return subparsers.add_parser(name, help=help, description=textwrap.fill(description or help, 100),
                                 epilog=epilog, formatter_class=HelpFormatter)
