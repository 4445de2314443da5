"""The ``ttvis`` command line: one epoch-list syntax, help text and defaults on every option, examples that parse,
``--version``. Parsing only: nothing here fits or trains."""
import argparse
import importlib.metadata
import inspect
import shlex
import subprocess
import sys

import pytest

import ttvis_widget
from ttvis_widget.cli import build_parser
from ttvis_widget.cliargs import HelpFormatter, parse_epochs


def _subcommands(parser):
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


@pytest.mark.parametrize("text, expected", [
    ("1,2,5", [1, 2, 5]), ("1-5", [1, 2, 3, 4, 5]), ("1:5", [1, 2, 3, 4, 5]), (["1", "2", "5"], [1, 2, 5]),
    ("5,1-3, 3", [1, 2, 3, 5]), (["1-2,7", "9:10"], [1, 2, 7, 9, 10]), ("0-1", [0, 1]), ("", None), (None, None),
])
def test_parse_epochs_accepts_both_former_forms(text, expected):
    assert parse_epochs(text) == expected


@pytest.mark.parametrize("text, message", [
    ("3-1", "runs backwards"), ("1-", "not an epoch"), ("a", "not an epoch"), ("1.5", "not an epoch"),
    ("-2", "not an epoch"), ("1--3", "not an epoch"),
])
def test_parse_epochs_names_the_bad_part(text, message):
    with pytest.raises(ValueError, match=message):
        parse_epochs(text)


def test_fit_and_eval_share_the_epoch_syntax(capsys):
    p = build_parser()
    for argv in (["fit", "d", "--epochs", "1-3", "5"], ["eval", "d", "--run", "pca", "--epochs", "1:3,5"],
                 ["fit", "d", "--epochs", "1", "2", "3", "5"], ["eval", "d", "--epochs", "1,2", "3", "5", "--run", "x"]):
        assert p.parse_args(argv).epochs == [1, 2, 3, 5], argv
    assert p.parse_args(["fit", "d"]).epochs is None
    with pytest.raises(SystemExit):
        p.parse_args(["fit", "--epochs", "1", "demo_data/x"])  # a path swallowed by --epochs: told how to fix it
    assert "put it before" in capsys.readouterr().err


def test_every_option_has_help_and_shows_its_default():
    for name, sub in _subcommands(build_parser()).items():
        assert sub.formatter_class is HelpFormatter, name
        text = sub.format_help()
        for a in sub._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help, f"ttvis {name}: {a.dest} has no help text"
            if a.option_strings and a.default is not None and a.default is not False:
                assert f"(default: {a.default})" in " ".join(text.split()), f"ttvis {name}: {a.dest}'s default"
            if a.option_strings and a.default is None and a.nargs != 0 and not a.required:
                assert "default" in a.help, f"ttvis {name}: {a.dest} should say what its absence means"


def test_every_subcommand_has_examples_that_parse():
    p = build_parser()
    for name, sub in _subcommands(p).items():
        assert sub.epilog and sub.epilog.startswith("examples:"), name
        lines = [ln.strip() for ln in sub.epilog.splitlines()[1:] if ln.strip()]
        assert lines, name
        for line in lines:
            argv = shlex.split(line)
            assert argv[:2] == ["ttvis", name], line
            p.parse_args(argv[1:])  # argparse exits (fails the test) on an example that does not parse


def test_eval_help_states_the_evaluators_trust_default():
    from ttvis_widget.metrics.evaluate import evaluate_run

    d = inspect.signature(evaluate_run).parameters["trust_max_n"].default
    (eval_parser,) = [s for n, s in _subcommands(build_parser()).items() if n == "eval"]
    (a,) = [a for a in eval_parser._actions if a.dest == "trust_max_n"]
    assert f"(default: {d})" in a.help


def test_version():
    r = subprocess.run([sys.executable, "-m", "ttvis_widget", "--version"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ttvis {ttvis_widget.__version__}"
    assert importlib.metadata.version("ttvis_widget") == ttvis_widget.__version__  # one source: __init__.py
