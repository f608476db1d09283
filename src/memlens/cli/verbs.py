"""The table of memlens verbs: name, module, one-line help.

``memlens --help`` lists this table without importing any verb; a command line
that names a verb imports that verb's module alone (with the numpy, Rich and
readers it needs).  Start-up is then the interpreter, :mod:`argparse` and this
file -- see ``benchmarks/bench_startup.py``.

Adding a verb is one row here plus its module, ``memlens/cli/commands/NAME.py``,
which defines:

``HELP``
    the one-line help, the same text as the row's (a test compares them);
``DESCRIPTION`` (optional)
    the paragraph at the top of ``memlens NAME --help``;
``EXAMPLES``
    two real command lines, printed at the end of ``memlens NAME --help``
    (a test parses each of them);
``add_arguments(parser)`` and ``run(args) -> int``
    the options, and the work; ``run`` returns an :class:`~memlens.cli.exitcodes.ExitCode`;
``plain_args(words)`` (optional, with the verb's name in ``main._PLAIN_VERBS``)
    the values the parser would give for the words after the verb when they need no
    parser (``maps PID``, ``procs``), else None: that command line then runs without
    importing argparse (tests/cli/test_plain_args.py compares the two).

Shared pieces a verb uses rather than re-doing: :mod:`memlens.cli.target`
(TARGET and ``--format`` to force a reader, ``--areas``, :class:`NothingMatched`
for a filter that keeps nothing), :mod:`memlens.cli.output` (opening every
file the verb writes: ``-o``, ``--html``, ``--save``...),
:mod:`memlens.render.jsonout` (every ``--json``) and
:mod:`memlens.render.table` (tables).  Errors need no handling in the verb:
:func:`memlens.cli.main.main` prints a :class:`~memlens.errors.MemlensError`
as one line.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


class Verb:
    """One row: ``memlens NAME`` runs ``MODULE.run``; ``HELP`` is its line in ``--help``."""

    __slots__ = ("help", "module", "name")

    def __init__(self, name: str, module: str, help: str) -> None:
        self.name = name
        self.module = module
        self.help = help


_C = "memlens.cli.commands."

#: every verb, in the order ``memlens --help`` lists them
VERBS: tuple[Verb, ...] = (
    Verb("info", _C + "info",
         "what a target is: format, arch, process, threads, crash, modules, region totals"),
    Verb("maps", _C + "maps",
         "list regions with size, permissions, Rss/Pss/Uss/shared/swap (smaps) and saved bytes"),
    Verb("procs", _C + "procs",
         "every process with RSS, PSS, USS, shared and swap (like smem, from smaps_rollup)"),
    Verb("pages", _C + "pages",
         "per-page state: physical address, map count, kpageflags; or --summary by flag set"),
    Verb("read", _C + "read",
         "dump memory at an address: hex, u32, u64, pointers (annotated) or a C string"),
    Verb("find", _C + "find",
         "search saved memory for bytes (hex), a string or an integer of the target's word size"),
    Verb("symbolize", _C + "symbolize",
         "turn addresses into function+offset, file:line and inline frames"),
    Verb("resident", _C + "resident",
         "symbols of a library whose pages are resident (or not), with resident fractions"),
    Verb("run", _C + "run",
         "run a command under the allocation shim; report peak, leaks, churn and memory over time"),
    Verb("heap", _C + "heap",
         "live heap blocks grouped by allocation stack (needs the shim: see 'memlens run')"),
    Verb("leaks", _C + "leaks",
         "leaked heap blocks of any glibc program, by reachability (no shim needed)"),
    Verb("snapshot", _C + "snapshot",
         "write a live process to an ELF core (gdb opens it; memlens keeps its residency)"),
    Verb("stack", _C + "stack",
         "backtraces of every thread (CFI, Breakpad .sym, frame pointers, scanning)"),
    Verb("minidump", _C + "minidump",
         "print every stream of a minidump (Breakpad minidump_dump format)"),
    Verb("mpy", _C + "mpy",
         "MicroPython GC heap: numbers, mem_info(1) table, objects, ownership graph, pictures"),
    Verb("batch", _C + "batch",
         "analyse many dumps (files, folders, globs; .gz/.bz2/.xz/.zst) into Parquet tables"),
    Verb("demo", _C + "demo",
         "start a demo process with known memory and show 'maps' and 'pages --summary' for it"),
    Verb("completion", "memlens.cli.completion",
         "print a bash or zsh completion script (eval \"$(memlens completion bash)\")"),
)  # fmt: skip

BY_NAME: dict[str, Verb] = {v.name: v for v in VERBS}

_COMMANDS = "memlens.cli.commands"


def _import(name: str) -> ModuleType:
    """``importlib.import_module(name)`` for an absolute name, without importing
    importlib (and the warnings module it loads): ~0.4 ms of every command's start."""
    __import__(name)
    return sys.modules[name]


def load(verb: Verb) -> ModuleType:
    """The module of ``verb`` (imported now, with whatever it imports)."""
    return _import(verb.module)


def find_verb(name: str | None) -> Verb | None:
    """The row of ``name``; a command module not (yet) in the table is found by its file name."""
    if name is None:
        return None
    if name in BY_NAME:
        return BY_NAME[name]
    if not name.isidentifier() or name.startswith("_"):
        return None
    try:
        module = _import(f"{_COMMANDS}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{_COMMANDS}.{name}":
            raise  # the verb's module exists but one of its imports does not
        return None
    if getattr(module, "NAME", None) != name:
        return None
    return Verb(name, module.__name__, str(getattr(module, "HELP", "")))
