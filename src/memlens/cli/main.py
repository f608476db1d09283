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

import gc
import os
import sys

from memlens import __version__
from memlens.cli.exitcodes import ExitCode
from memlens.cli.verbs import VERBS, Verb, find_verb
from memlens.cli.verbs import load as load  # memlens.cli.main.load, as before
from memlens.errors import MemlensError

# argparse (with gettext, locale and a dozen translated strings per option) is
# imported only for a command line that needs a parser: see memlens/cli/parser.py
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from types import ModuleType

# memlens does no linear algebra, but numpy's OpenBLAS starts a thread per core
# when numpy is imported: ~60 ms of CPU of every command here (numpy import
# 168 -> 102 ms).  Set before any verb imports numpy (nothing above does; see
# memlens/__init__.py); a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command line; returns its exit code (see :class:`ExitCode`)."""
    from memlens.render.textout import setup_streams

    setup_streams()
    words = sys.argv[1:] if argv is None else list(argv)
    if words[:1] == ["--version"]:  # argparse would format it with textwrap: ~10% of the start
        print(f"memlens {__version__}")
        return ExitCode.OK
    args: argparse.Namespace | PlainArgs | None = _plain_args(words)
    if args is None:
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


class PlainArgs:
    """What ``parse_args`` returns, for a command line parsed without argparse.

    The same attributes as the :class:`argparse.Namespace` the parser would
    give (``tests/cli/test_plain_args.py`` compares them), the same equality.
    """

    run: Callable[..., int]

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return vars(self) == vars(other) if hasattr(other, "__dict__") else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as argparse's Namespace

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"


def _plain_args(words: Sequence[str]) -> PlainArgs | None:
    """The parsed command line of ``memlens VERB ...`` when the verb can read it alone.

    A verb's module may define ``plain_args(words)``: the values argparse would
    give for the words after the verb, or None for anything it does not handle
    (an option, ``--help``, a mistake), which then goes through argparse.  This
    spares ``memlens maps PID`` and ``memlens procs`` importing argparse, gettext
    and locale and building a parser: ~4 ms of a ~30 ms command.
    """
    if not words or words[0] not in _PLAIN_VERBS:
        return None
    verb = find_verb(words[0])
    if verb is None:
        return None
    module = load(verb)
    values = module.plain_args(words[1:])
    if values is None:
        return None
    return PlainArgs(debug=False, verb=verb.name, **values, run=module.run)


#: the verbs whose module has ``plain_args``
_PLAIN_VERBS = frozenset(("maps", "procs"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; only verb ``only`` gets its options (and its imports)."""
    from memlens.cli import parser

    return parser.build_parser(only)


def add_verb_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], verb: Verb, module: ModuleType
) -> argparse.ArgumentParser:
    """The full parser of one verb: its options, ``--debug``, and its examples as the epilog."""
    from memlens.cli import parser

    return parser.add_verb_parser(sub, verb, module)


def run_verb(argv: Sequence[str]) -> int:
    """Run a verb's command line inside another verb: errors go to the outer :func:`main`."""
    args = build_parser(_named_verb(argv)).parse_args(argv)
    return int(args.run(args))


def _os_message(e: OSError) -> str:
    reason = e.strerror or str(e)
    if e.filename2 is not None:
        return f"{e.filename} -> {e.filename2}: {reason}"
    return f"{e.filename}: {reason}"


def _fail(args: argparse.Namespace | PlainArgs, message: str, code: int) -> int:
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
    # not contextlib.suppress: importing contextlib is ~0.5 ms of every start
    try:  # noqa: SIM105
        sys.stderr.flush()
    except (OSError, ValueError):
        pass

    atexit._run_exitfuncs()
    threading = sys.modules.get("threading")
    if threading is not None and any(
        t.is_alive() and not t.daemon and t is not threading.main_thread()
        for t in threading.enumerate()
    ):
        sys.exit(code)
    os._exit(code)
