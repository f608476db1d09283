"""Arguments every verb that takes a TARGET shares, and opening the target."""

from __future__ import annotations

from collections.abc import Sequence

from memlens.errors import MemlensError, UsageError

# The reader registry, the snapshot model and typing are imported when a target is
# opened, not with this module: `memlens maps PID` reads smaps alone and has a few
# ms of start-up to spare (see memlens/core/frozen.py).
# argparse too: `memlens maps PID` parses its words without it (plain_target_args);
# the type functions below run only inside argparse's parsing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    from memlens.core.region import Region
    from memlens.core.snapshot import Snapshot
    from memlens.sources.options import OpenOptions


def parse_int(text: str) -> int:
    """An integer in decimal or with a 0x / 0o / 0b prefix; bare hex with a-f allowed."""
    t = text.strip().replace("_", "")
    try:
        return int(t, 0)
    except ValueError:
        try:
            return int(t, 16)
        except ValueError:
            import argparse

            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def parse_address(text: str) -> int:
    """An address: hex with or without 0x (``7f00``, ``0x7f00``), or decimal with ``#``."""
    t = text.strip().replace("_", "").replace("`", "")
    try:
        if t.startswith("#"):
            return int(t[1:], 10)
        return int(t, 16) if not t.lower().startswith("0x") else int(t, 0)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"not an address: {text!r}") from None


def _piece(text: str) -> tuple[int, str]:
    addr, sep, path = text.partition(":")
    if not sep or not path:
        import argparse

        raise argparse.ArgumentTypeError(f"expected ADDR:FILE, not {text!r}")
    return parse_address(addr), path


def _snapshot(text: str) -> int | str:
    if text in ("all", "last"):
        return text
    try:
        return int(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError("expected an index, 'last' or 'all'") from None


class _FormatNames:
    """``--format``'s choices, the registry's names, looked up only when argparse asks."""

    def _names(self) -> list[str]:
        from memlens.targets import format_names

        return format_names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()


def add_target_arguments(parser: argparse.ArgumentParser, *, nargs: str | None = None) -> None:
    """Add TARGET and the options that say how to open it.

    Every verb spells these the same way: ``--format`` forces a reader (an
    output format is chosen with ``--as`` or ``--json``, never ``--format``).
    """
    parser.add_argument(
        "target", metavar="TARGET", nargs=nargs,
        help="a PID, or a snapshot file (core, minidump, ...)",
    )
    group = parser.add_argument_group("how to open TARGET")
    group.add_argument(
        "--format", choices=_FormatNames(),
        help="skip content probing and use this reader",
    )  # fmt: skip
    group.add_argument("--base", type=parse_address, help="load address of a raw dump (hex)")
    group.add_argument("--word-size", type=int, choices=(4, 8), help="pointer size of a raw dump")
    group.add_argument("--endian", choices=("little", "big"), help="byte order of a raw dump")
    group.add_argument(
        "--snapshot-size", type=parse_int, help="bytes per snapshot in a file of several"
    )
    group.add_argument(
        "--snapshot", type=_snapshot, help="which snapshot of such a file: K, last or all"
    )
    group.add_argument(
        "--piece", action="append", type=_piece, default=[], metavar="ADDR:FILE",
        help="another raw piece mapped at ADDR (repeatable)",
    )  # fmt: skip
    group.add_argument("--pid", dest="select_pid", type=int, help="process of a multi-process dump")
    group.add_argument(
        "--freeze", action="store_true",
        help="SIGSTOP a live target while reading it for a consistent view (always resumed)",
    )  # fmt: skip


def plain_target_args(words: Sequence[str]) -> dict[str, object] | None:
    """What add_target_arguments's options give when ``words`` is TARGET alone; else None.

    For a verb's ``plain_args`` (see memlens/cli/main.py): a command line without
    argparse.  tests/cli/test_plain_args.py compares it with the parser's.
    """
    if len(words) != 1 or not words[0] or words[0].startswith("-"):
        return None  # an option, or a word argparse might take for one
    return {
        "target": words[0], "format": None, "base": None, "word_size": None, "endian": None,
        "snapshot_size": None, "snapshot": None, "piece": [], "select_pid": None,
        "freeze": False,
    }  # fmt: skip


class NothingMatched(MemlensError):
    """A filter given on the command line (``--areas``, ``--function``...) matched nothing."""

    def __init__(self, filters: str, what: str) -> None:
        self.filters = filters
        super().__init__(f"{filters}: {what}")


def selected_regions(regions: Sequence[Region], areas: Sequence[str] | None) -> list[Region]:
    """The regions ``--areas`` keeps (all without it).

    Raises:
        NothingMatched: ``--areas`` was given and no region's name contains any of its words.
    """
    from memlens.analyses.regions import select_regions

    chosen = select_regions(regions, areas)
    if areas and not chosen:
        raise NothingMatched(f"--areas {','.join(areas)}", "no region's name contains any of these")
    return chosen


def add_areas_argument(parser: argparse.ArgumentParser) -> None:
    """``--areas a,b,c``: keep regions whose name contains any of the words."""
    parser.add_argument(
        "--areas", type=lambda s: [a for a in s.split(",") if a],
        help="only regions whose name contains one of these (comma separated)",
    )  # fmt: skip


def options_from(args: argparse.Namespace) -> OpenOptions:
    from memlens.sources.options import OpenOptions

    snapshot = args.snapshot
    if snapshot == "all":
        raise UsageError("--snapshot all is accepted only by verbs that compare snapshots")
    return OpenOptions(
        format=args.format,
        base=args.base,
        word_size=args.word_size,
        endian=args.endian,
        snapshot_size=args.snapshot_size,
        snapshot=snapshot,
        pieces=tuple(args.piece),
        freeze=args.freeze,
        pid=args.select_pid,
    )


def open_from_args(args: argparse.Namespace, target: str | None = None) -> Snapshot:
    """Open ``target`` (default ``args.target``) with the options on the command line."""
    from memlens.targets import open_target

    return open_target(target if target is not None else args.target, options_from(args))
