"""``memlens maps TARGET`` and ``memlens procs [PID...]`` are parsed without argparse
(memlens/cli/main.py ``_plain_args``): the values must be the parser's, and every
other command line must still go to the parser."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memlens.cli.main import PlainArgs, _plain_args, build_parser

PLAIN = [
    ["maps", "1234"],
    ["maps", "pid:77"],
    ["maps", "core.1234"],
    ["maps", "some dir/x.dmp"],
    ["maps", "0"],
    ["maps", "1234", "--json"],
    ["maps", "--json", "1234"],
    ["maps", "-x", "1234", "--bytes"],
    ["maps", "--extended", "--json", "--json", "core.1"],
    ["procs"],
    ["procs", "1"],
    ["procs", "1", "22", "333"],
]

NOT_PLAIN = [
    [],
    ["maps"],
    ["maps", "-h"],
    ["maps", "--help"],
    ["maps", "1234", "--js"],  # argparse's prefix matching: left to argparse
    ["maps", "--json"],
    ["maps", "1234", "--json=1"],
    ["maps", "-xj", "1234"],
    ["maps", "1234", "--soft-dirty"],
    ["maps", "1234", "5678"],
    ["maps", "-1"],
    ["maps", "--"],
    ["maps", ""],
    ["procs", "--json"],
    ["procs", "-n", "3"],
    ["procs", "x"],
    ["procs", "-1"],
    ["procs", "+1"],
    ["procs", "\u0661"],  # an Arabic-Indic one: int() takes it, the fast path leaves it alone
    ["--debug", "maps", "1234"],
    ["--version"],
    ["info", "1234"],
    ["pages", "1234"],
]


@pytest.mark.parametrize("words", PLAIN, ids=" ".join)
def test_plain_args_are_the_parsers(words: list[str]) -> None:
    plain = _plain_args(words)
    assert plain is not None
    parsed = build_parser(words[0]).parse_args(words)
    assert vars(plain) == vars(parsed)
    assert plain == parsed


@pytest.mark.parametrize("words", NOT_PLAIN, ids=repr)
def test_everything_else_goes_to_the_parser(words: list[str]) -> None:
    assert _plain_args(words) is None


def test_plain_args_lists_are_fresh() -> None:
    a, b = _plain_args(["maps", "1"]), _plain_args(["maps", "2"])
    assert a is not None and b is not None
    a.piece.append((0, "x"))
    assert b.piece == []
    assert _plain_args(["maps", "3"]) == build_parser("maps").parse_args(["maps", "3"])


def test_namespace_behaviour() -> None:
    args = PlainArgs(debug=False, verb="maps", target="1")
    assert "target" in args and "json" not in args
    assert args == PlainArgs(debug=False, verb="maps", target="1")
    assert args != PlainArgs(debug=False, verb="maps", target="2")
    assert repr(args) == "PlainArgs(debug=False, verb='maps', target='1')"


@pytest.mark.parametrize("verb", ["maps", "procs"])
def test_plain_command_imports_no_argparse(verb: str) -> None:
    """The point of the fast path: the command runs without argparse, gettext or locale."""
    code = (
        "import os, sys\n"
        "from memlens.cli.main import main\n"
        f"code = main([{verb!r}, str(os.getpid())])\n"
        "print(code, sorted(m for m in ('argparse', 'gettext', 'locale') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.splitlines()[-1] == "0 []", out.stderr
