"""``memlens`` entry point: a table of verbs, each imported only when it runs.

The verbs are rows of :data:`memlens.cli.verbs.VERBS` (name, module, one-line
help); adding a verb is one row there and one module (its docstring says what
the module defines).  ``memlens --help`` and ``memlens --version`` import no
verb; ``memlens VERB ...`` imports that verb's module alone.

Errors are handled here, once: a :class:`MemlensError` or an ``OSError`` naming
a file prints one line (``--debug`` shows the traceback); a reader that closes
the pipe (``| head``) ends the command quietly; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from memlens import __version__
from memlens.cli.exitcodes import ExitCode
from memlens.cli.verbs import BY_NAME, VERBS, Verb
from memlens.errors import MemlensError

# memlens does no linear algebra, but numpy's OpenBLAS starts a thread per core
# when numpy is imported: ~60 ms of CPU of every command here (numpy import
# 168 -> 102 ms).  Set before any verb imports numpy (nothing above does; see
# memlens/__init__.py); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_COMMANDS = "memlens.cli.commands"


def load(verb: Verb) -> ModuleType:
    """The module of ``verb`` (imported now, with whatever it imports)."""
    import importlib

    return importlib.import_module(verb.module)


def find_verb(name: str | None) -> Verb | None:
    """The row of ``name``; a command module not (yet) in the table is found by its file name."""
    if name is None:
        return None
    if name in BY_NAME:
        return BY_NAME[name]
    if not name.isidentifier() or name.startswith("_"):
        return None
    import importlib

    try:
        module = importlib.import_module(f"{_COMMANDS}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{_COMMANDS}.{name}":
            raise  # the verb's module exists but one of its imports does not
        return None
    if getattr(module, "NAME", None) != name:
        return None
    return Verb(name, module.__name__, str(getattr(module, "HELP", "")))


def discover() -> list[ModuleType]:
    """Every verb's module, in the table's order (imports them all: for completion and tests)."""
    return [load(v) for v in VERBS]


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns its exit code (see :class:`ExitCode`)."""
    from memlens.render.textout import setup_streams

    setup_streams()
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["--version"]:  # argparse would format it with textwrap: ~10% of the start
        print(f"memlens {__version__}")
        return ExitCode.OK
    parser = build_parser(_named_verb(words))
    args = parser.parse_args(words)
    if not getattr(args, "run", None):
        parser.print_help()
        return ExitCode.USAGE
    gc.enable()  # paused by entry() for the start-up (a no-op otherwise)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        return _pipe_closed()
    except MemlensError as e:
        return _fail(args, str(e), e.exit_code)
    except OSError as e:
        if e.filename is None:
            raise  # not about a file the user named: a bug to see in full
        return _fail(args, _os_message(e), ExitCode.ERROR)
    except KeyboardInterrupt:
        print("memlens: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


def run_verb(argv: Sequence[str]) -> int:
    """Run a verb's command line inside another verb: errors go to the outer :func:`main`."""
    args = build_parser(_named_verb(argv)).parse_args(argv)
    return int(args.run(args))


def _os_message(e: OSError) -> str:
    reason = e.strerror or str(e)
    if e.filename2 is not None:
        return f"{e.filename} -> {e.filename2}: {reason}"
    return f"{e.filename}: {reason}"


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        import traceback

        traceback.print_exc()
    print(f"memlens: error: {message}", file=sys.stderr)
    return code


def _pipe_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly, exit 0.

    What is still buffered for stdout can never be written; stdout is pointed
    at /dev/null so that flushing it at exit does not raise again.
    """
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (tests): nothing will flush into a pipe
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
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away after main() returned
        _pipe_closed()
    except ValueError:
        pass  # stdout was closed
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()

    atexit._run_exitfuncs()
    threading = sys.modules.get("threading")
    if threading is not None and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate()
    ):
        sys.exit(code)
    os._exit(code)
