"""``memlens`` entry point: a registry of verbs, one module each.

Each module in :mod:`memlens.cli.commands` defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; the registry finds them, so
adding a verb touches no other file.  User errors (:class:`MemlensError`) print
one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from memlens import __version__
from memlens.cli import commands
from memlens.cli.exitcodes import ExitCode
from memlens.errors import MemlensError


def discover(only: str | None = None) -> list[ModuleType]:
    """Command modules, sorted by verb name.

    With ``only``, just the module of that file name when it defines that verb:
    importing every verb (and what each imports) costs more start-up than most
    verbs' work, so a command line that names its verb loads that one alone.
    """
    names = [info.name for info in pkgutil.iter_modules(commands.__path__)
             if not info.name.startswith("_")]  # fmt: skip
    if only is not None and only in names:
        module = importlib.import_module(f"{commands.__name__}.{only}")
        if getattr(module, "NAME", None) == only:
            return [module]
    found = [importlib.import_module(f"{commands.__name__}.{name}") for name in names]
    return sorted((m for m in found if hasattr(m, "NAME")), key=lambda m: str(m.NAME))


def _named_verb(argv: Sequence[str] | None) -> str | None:
    """The verb of a command line (its first word that is not an option), if any."""
    words = sys.argv[1:] if argv is None else list(argv)
    for word in words:
        if word in ("-h", "--help", "--version"):
            return None
        if not word.startswith("-"):
            return word
    return None


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memlens",
        description="What is in a process's memory, whether it is resident, and who put it there.",
        epilog="TARGET is a PID or a snapshot file. 'memlens VERB --help' shows a verb's options.",
    )
    parser.add_argument("--version", action="version", version=f"memlens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for module in discover(only):
        p = sub.add_parser(
            module.NAME,
            help=module.HELP,
            description=getattr(module, "DESCRIPTION", module.HELP),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks of errors")  # fmt: skip
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_named_verb(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(args.run(args))
    except MemlensError as e:
        if args.debug:
            traceback.print_exc()
        print(f"memlens: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("memlens: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Output piped into head & co.: stop quietly.
        sys.stderr.close()
        return ExitCode.OK


def entry() -> None:
    sys.exit(main())
