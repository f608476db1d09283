"""The command line's argparse parsers (imported only when a command line needs one).

:mod:`memlens.cli.main` runs a verb's plain command line (``memlens maps PID``,
``memlens procs``) without argparse when the verb's module can say what the
parser would give (its ``plain_args``); everything else -- ``--help``, options,
errors -- comes through the parsers built here.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType

from memlens import __version__
from memlens.cli.verbs import VERBS, Verb, find_verb, load


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized without importing :mod:`shutil`.

    argparse builds a formatter for every ``add_argument`` and its default
    width comes from ``shutil.get_terminal_size``; importing shutil (and the
    bz2/lzma/zlib it pulls in) was a measurable part of every command's start.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:  # fmt: skip
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _RawHelpFormatter(argparse.RawDescriptionHelpFormatter, _HelpFormatter):
    """Verbs' descriptions are laid out by hand."""


class _TopHelpFormatter(_HelpFormatter):
    """The verb list: every name (``completion``, ``symbolize``) on its help's line."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:  # fmt: skip
        super().__init__(prog, indent_increment, max_help_position, width)
        # argparse measures the verbs at the section's indent (2) but prints them at 4
        self._action_max_length = 14


def _terminal_columns() -> int:
    """What ``shutil.get_terminal_size().columns`` gives: $COLUMNS, the terminal, or 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; only verb ``only`` gets its options (and its imports)."""
    parser = argparse.ArgumentParser(
        prog="memlens",
        formatter_class=_TopHelpFormatter,
        description="What is in a process's memory, whether it is resident, and who put it there.",
        epilog="TARGET is a PID or a snapshot file. 'memlens VERB --help' shows a verb's options.",
    )
    parser.add_argument("--version", action="version", version=f"memlens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    chosen = find_verb(only)
    if chosen is not None:
        # the command line names this verb: the other verbs' parsers would never be
        # used, and each costs argparse a dozen gettext look-ups (~0.3 ms a verb)
        add_verb_parser(sub, chosen, load(chosen))
        return parser
    for verb in VERBS:
        # listed in --help, not loaded; no -h of its own (no formatter built: no shutil)
        sub.add_parser(verb.name, help=verb.help, add_help=False)
    return parser


def add_verb_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], verb: Verb, module: ModuleType
) -> argparse.ArgumentParser:
    """The full parser of one verb: its options, ``--debug``, and its examples as the epilog."""
    examples = getattr(module, "EXAMPLES", ())
    epilog = "examples:\n" + "".join(f"  {e}\n" for e in examples) if examples else None
    p = sub.add_parser(
        verb.name,
        help=verb.help,
        description=getattr(module, "DESCRIPTION", verb.help),
        epilog=epilog,
        formatter_class=_RawHelpFormatter,
    )
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show tracebacks of errors")  # fmt: skip
    module.add_arguments(p)
    p.set_defaults(run=module.run)
    return p
