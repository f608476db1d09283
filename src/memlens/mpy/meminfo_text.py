"""Parse ``micropython.mem_info(1)`` text and derive what the text alone tells.

Accepts ``\\r\\n`` (MicroPython's cooked stdout) or ``\\n``, offsets printed
``%08x`` (v1.20+) or ``%05x`` (masked to 20 bits, so they wrap every MiB:
lines are placed by their order, and each offset is checked modulo the mask),
``(N lines all free)``, and several areas.  A program's whole output may hold
several prints: :func:`parse_all` gives one snapshot per print.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace, Segment
from memlens.core.region import Region, RegionKind
from memlens.core.snapshot import Snapshot
from memlens.errors import FormatError
from memlens.mpy.atb import GcInfo, States, block_lengths, gc_info, heads
from memlens.mpy.layout import AT_FREE, AT_HEAD, AT_MARK, AT_TAIL

BLOCKS_PER_LINE = 64
MAX_TEXT_BLOCKS = 1 << 28
#: a table of MAX_TEXT_BLOCKS blocks prints in about this many characters
MAX_TEXT_BYTES = MAX_TEXT_BLOCKS // 64 * 80

_GC = re.compile(r"^GC: total: (\d+), used: (\d+), free: (\d+)(?:, max new split: (\d+))?$")
_COUNTS = re.compile(
    r"^ No\. of 1-blocks: (\d+), 2-blocks: (\d+), max blk sz: (\d+), max free sz: (\d+)$"
)
_STACK = re.compile(r"^stack: (\d+)(?: out of (\d+))?$")
_MEM = re.compile(r"^mem: total=(\d+), current=(\d+), peak=(\d+)$")
_AREA = re.compile(r"^GC memory layout; from (?:0x)?([0-9a-fA-F]+):$")
_LINE = re.compile(r"^([0-9a-f]{5}|[0-9a-f]{8}): ([.=mhTLDSAFBMQq]*)$")
_FREE = re.compile(r"^ +\((\d+) lines all free\)$")


@dataclass(frozen=True, slots=True)
class TextArea:
    pool_start: int
    chars: npt.NDArray[np.uint8]

    @property
    def states(self) -> States:
        s = np.full(len(self.chars), AT_HEAD, dtype=np.uint8)
        s[self.chars == ord(".")] = AT_FREE
        s[self.chars == ord("=")] = AT_TAIL
        s[self.chars == ord("m")] = AT_MARK
        return s


@dataclass(slots=True)
class MemInfoText:
    """What one ``mem_info(1)`` print holds."""

    stack_used: int | None = None
    stack_max: int | None = None
    mem: tuple[int, int, int] | None = None
    header: GcInfo | None = None  # as printed (block-size field 0: unknown from header)
    max_new_split: int | None = None
    areas: list[TextArea] = field(default_factory=list)
    offset_width: int = 8
    block_size: int | None = None

    def derived(self) -> GcInfo:
        """The numbers recomputed from the table itself."""
        if not self.areas or not self.block_size:
            raise FormatError("mem_info text", None, "no allocation table to derive numbers from")
        bsz = self.block_size
        totals = [len(a.chars) * bsz for a in self.areas]
        return gc_info([a.states for a in self.areas], totals, bsz)

    def mismatches(self) -> list[str]:
        """Where the printed header and the numbers its own table gives differ."""
        if self.header is None or not self.areas or not self.block_size:
            return []
        derived = self.derived()
        out = []
        for name in ("total", "used", "free", "num_1block", "num_2block", "max_block",
                     "max_free"):  # fmt: skip
            printed, computed = getattr(self.header, name), getattr(derived, name)
            if printed != computed:
                out.append(f"{name}: header {printed}, table {computed}")
        return out

    def allocations_by_letter(self) -> dict[str, tuple[int, int]]:
        """Per head letter: how many allocations and how many bytes (head + tails)."""
        bsz = self.block_size or 0
        acc: dict[str, list[int]] = {}
        for a in self.areas:
            s = a.states
            idx = heads(s)
            lens = block_lengths(s, idx)
            for c, n in zip(a.chars[idx].tolist(), lens.tolist(), strict=True):
                slot = acc.setdefault(chr(c), [0, 0])
                slot[0] += 1
                slot[1] += n * bsz
        return {k: (v[0], v[1]) for k, v in sorted(acc.items())}

    def letter_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.areas:
            letters, counts = np.unique(a.chars, return_counts=True)
            for c, n in zip(letters.tolist(), counts.tolist(), strict=True):
                out[chr(c)] = out.get(chr(c), 0) + n
        return dict(sorted(out.items()))


def _bad(source: str, lineno: int, reason: str) -> FormatError:
    return FormatError(source, None, f"line {lineno}: {reason}")


def parse(text: str, source: str = "mem_info text") -> MemInfoText:
    """Parse ``mem_info()`` / ``mem_info(1)`` output (other lines are ignored).

    Raises:
        FormatError: a table line out of sequence, or a table with no header.
    """
    out = MemInfoText()
    chunks: list[list[bytes]] = []
    starts: list[int] = []
    blocks = 0
    first_offset: tuple[int, int] | None = None  # (block index, printed offset)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if m := _GC.match(line):
            t, u, f = (int(x) for x in m.groups()[:3])
            out.header = GcInfo(t, u, f, 0, 0, 0, 0, 0)
            out.max_new_split = int(m.group(4)) if m.group(4) else None
        elif m := _COUNTS.match(line):
            a, b, c, d = (int(x) for x in m.groups())
            h = out.header or GcInfo(0, 0, 0, 0, 0, 0, 0, 0)
            out.header = GcInfo(h.total, h.used, h.free, a, b, c, d, 0)
        elif m := _STACK.match(line):
            out.stack_used = int(m.group(1))
            out.stack_max = int(m.group(2)) if m.group(2) else None
        elif m := _MEM.match(line):
            out.mem = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        elif m := _AREA.match(line):
            starts.append(int(m.group(1), 16))
            chunks.append([])
            blocks = 0
        elif (m := _FREE.match(line)) and chunks:
            n = int(m.group(1)) * BLOCKS_PER_LINE
            if blocks + n > MAX_TEXT_BLOCKS:
                raise _bad(source, lineno, "table too large")
            chunks[-1].append(b"." * n)
            blocks += n
        elif (m := _LINE.match(line)) and chunks:
            if blocks % BLOCKS_PER_LINE:
                raise _bad(source, lineno, "table line after a short line")
            width = len(m.group(1))
            out.offset_width = width
            offset = int(m.group(1), 16)
            if first_offset is None and blocks > 0:
                first_offset = (blocks, offset)
                if offset % blocks or offset // blocks not in (8, 16, 32, 64):
                    raise _bad(source, lineno, f"offset {offset:#x} for block {blocks}")
                out.block_size = offset // blocks
            if out.block_size is not None:
                mask = 0xFFFFF if width == 5 else 0xFFFFFFFF
                if offset != (blocks * out.block_size) & mask:
                    raise _bad(source, lineno, f"offset {m.group(1)} out of sequence")
            elif offset != 0:
                raise _bad(source, lineno, f"first line of an area at offset {m.group(1)}")
            chunks[-1].append(m.group(2).encode("ascii"))
            blocks += len(m.group(2))
    for start, parts in zip(starts, chunks, strict=True):
        out.areas.append(TextArea(start, np.frombuffer(b"".join(parts), dtype=np.uint8).copy()))
    if out.block_size is None and out.header is not None and out.areas:
        # A table of one line per area: the header's total gives the block size.
        n = sum(len(a.chars) for a in out.areas)
        if n and out.header.total % n == 0 and out.header.total // n in (8, 16, 32, 64):
            out.block_size = out.header.total // n
    if out.header is None and not out.areas:
        raise FormatError(source, None, "no 'GC:' line and no 'GC memory layout' table")
    return out


def split_prints(text: str) -> list[str]:
    """The text of each ``mem_info`` print in ``text`` (a program's whole output).

    A print starts at its ``mem:``, ``stack:`` or ``GC:`` line; one of those after a
    ``GC:`` line of the current print starts the next.
    """
    prints: list[list[str]] = [[]]
    seen_gc = False
    for line in text.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        starts = bool(_GC.match(bare) or _MEM.match(bare) or _STACK.match(bare))
        if starts and seen_gc:
            prints.append([])
            seen_gc = False
        if _GC.match(bare):
            seen_gc = True
        prints[-1].append(line)
    return ["".join(p) for p in prints if any(_GC.match(x.rstrip("\r\n")) or _AREA.match(
        x.rstrip("\r\n")) for x in p)]  # fmt: skip


def parse_all(text: str, source: str = "mem_info text") -> list[MemInfoText]:
    """One :class:`MemInfoText` per ``mem_info`` print in ``text``, in order.

    Raises:
        FormatError: no print at all, or a malformed one (the error names which).
    """
    prints = split_prints(text)
    if not prints:
        raise FormatError(source, None, "no 'GC:' line and no 'GC memory layout' table")
    out = []
    for k, chunk in enumerate(prints):
        try:
            out.append(parse(chunk, source))
        except FormatError as e:
            raise FormatError(source, None, f"print {k}: {e.reason}") from None
    return out


def choose(
    prints: list[MemInfoText], which: int | str | None, source: str
) -> list[tuple[int, MemInfoText]]:
    """The prints ``--snapshot`` asks for, with their index: all when ``which`` is
    ``None`` or ``"all"``, else the one numbered ``which`` (or ``"last"``).

    Raises:
        FormatError: there is no print with that number.
    """
    if which is None or which == "all":
        return list(enumerate(prints))
    k = len(prints) - 1 if which == "last" else int(which)
    if not 0 <= k < len(prints):
        raise FormatError(source, None, f"--snapshot {which}: the text holds {len(prints)} "
                          f"mem_info print(s), numbered from 0")  # fmt: skip
    return [(k, prints[k])]


def looks_like(head: bytes) -> bool:
    """Whether a file's first bytes are ``mem_info`` text."""
    return b"GC: total:" in head or b"GC memory layout; from" in head


class MemInfoSnapshot(Snapshot):
    """``mem_info(1)`` text opened as a snapshot: each heap area a region whose
    bytes were not saved, the printed numbers as facts; :attr:`meminfo` holds the parse."""

    def __init__(self, meminfo: MemInfoText, path: str) -> None:
        bsz = meminfo.block_size or 0
        regions = [
            Region(a.pool_start, a.pool_start + len(a.chars) * bsz, name="[gc heap]",
                   kind=RegionKind.HEAP)
            for a in sorted(meminfo.areas, key=lambda a: a.pool_start)
            if bsz and len(a.chars)
        ]  # fmt: skip
        space = AddressSpace(regions, [Segment(r.start, r.end, None) for r in regions])
        extra: dict[str, object] = {"heap areas": len(meminfo.areas), "block size": bsz or None}
        if meminfo.header is not None:
            h = meminfo.header
            extra |= {"gc total": h.total, "gc used": h.used, "gc free": h.free,
                      "1-blocks": h.num_1block, "2-blocks": h.num_2block,
                      "max block": h.max_block, "max free": h.max_free}  # fmt: skip
        if meminfo.stack_used is not None:
            extra["stack used"] = meminfo.stack_used
        super().__init__(format="meminfo", source=path, space=space, extra=extra)
        self.meminfo = meminfo


def read_snapshot(path: str, which: int | str | None = None) -> MemInfoSnapshot:
    """One ``mem_info(1)`` print of a text file as a :class:`Snapshot`: print number
    ``which`` (``--snapshot K``), by default the last one (the latest state).

    Raises:
        FormatError: the file cannot be read, holds no ``mem_info`` output, or no
            print numbered ``which``.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(MAX_TEXT_BYTES + 1)
    except OSError as e:
        raise FormatError(path, None, e.strerror or str(e)) from None
    if len(text) > MAX_TEXT_BYTES:
        raise FormatError(path, MAX_TEXT_BYTES, "larger than any mem_info print")
    prints = parse_all(text, path)
    if which == "all":
        raise FormatError(path, None, "one snapshot at a time here: --snapshot K or last")
    (k, chosen), = choose(prints, "last" if which is None else which, path)
    snap = MemInfoSnapshot(chosen, path)
    snap.extra["print"] = f"{k} of {len(prints)} (numbered from 0)"
    return snap
