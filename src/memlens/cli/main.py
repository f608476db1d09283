"""``memlens`` entry point: a registry of verbs, one module each.

Each module in :mod:`memlens.cli.commands` defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; the registry finds them, so
adding a verb touches no other file.  User errors (:class:`MemlensError`) print
one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from memlens import __version__
from memlens.cli import commands
from memlens.cli.exitcodes import ExitCode
from memlens.errors import MemlensError

# memlens does no linear algebra, but numpy's OpenBLAS starts a thread per core
# when numpy is imported: ~60 ms of CPU of every command here (numpy import
# 168 -> 102 ms).  Set before any verb imports numpy (nothing above does; see
# memlens/__init__.py); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def discover(only: str | None = None) -> list[ModuleType]:
    """Command modules, sorted by verb name.

    With ``only``, just the module of that file name when it defines that verb:
    importing every verb (and what each imports) costs more start-up than most
    verbs' work, so a command line that names its verb loads that one alone.
    """
    if only is not None and only.isidentifier() and not only.startswith("_"):
        try:
            module = importlib.import_module(f"{commands.__name__}.{only}")
        except ModuleNotFoundError as e:
            if e.name != f"{commands.__name__}.{only}":
                raise  # the verb's module exists but one of its imports does not
        else:
            if getattr(module, "NAME", None) == only:
                return [module]
    import pkgutil

    names = [info.name for info in pkgutil.iter_modules(commands.__path__)
             if not info.name.startswith("_")]  # fmt: skip
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
    parser = argparse.ArgumentParser(
        prog="memlens",
        formatter_class=_HelpFormatter,
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
            formatter_class=_RawHelpFormatter,
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
    gc.enable()  # paused by entry() for the start-up (a no-op otherwise)
    try:
        return int(args.run(args))
    except MemlensError as e:
        if args.debug:
            import traceback

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
    """Run the command line, then leave without tearing the interpreter down.

    Freeing every module and object numpy and memlens created took 12-20 ms
    of a ~150 ms command here, for memory the kernel takes back anyway.
    Output is flushed and atexit handlers run first; a thread still running
    (none of memlens's verbs leaves one) gets the ordinary, waiting exit.
    """
    import atexit
    import contextlib

    # Start-up (imports, a dataclass per value type, the parser) makes tens of
    # thousands of objects and no cyclic garbage: collecting through it cost
    # ~5 ms of a ~130 ms 'memlens pages'.  main() resumes the collector before
    # the verb runs.
    gc.disable()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        # the reader went away, or the stream was closed (main() closes stderr on EPIPE)
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()

    atexit._run_exitfuncs()
    threading = sys.modules.get("threading")
    if threading is not None and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate()
    ):
        sys.exit(code)
    os._exit(code)
