"""The root set of a conservative leak scan, as valgrind's memcheck takes it.

Roots are every thread's registers, each thread's stack from its stack
pointer up to the end of its mapping (which also holds that thread's TLS and
TCB), and every other readable, writable mapping -- modules' ``.data`` and
``.bss``, the main thread's TLS, anonymous memory -- except malloc's own heaps
and mmapped chunks, which are blocks, not roots.  For a live process the
stack pointers come from ``/proc/PID/task/TID/syscall`` (threads blocked in a
system call); registers are not readable without stopping the target, so a
pointer held only in a register is missed there (reported in the notes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.core.addrspace import AddressSpace
from memlens.core.snapshot import Snapshot
from memlens.errors import MemlensError
from memlens.glibc.present import present_pieces, skipped

U64 = npt.NDArray[np.uint64]
Words = npt.NDArray[Any]  # uint64, or uint32 for a 32-bit target
PIECE = 1 << 24  # bytes read at a time when a range is not one saved piece


@dataclass(frozen=True, slots=True)
class Roots:
    """Register values and the memory ranges to scan (``[start, end)``)."""

    registers: U64
    ranges: list[tuple[int, int, str]]
    notes: list[str]


def _live_stack_pointers(pid: int) -> dict[int, int]:
    """TID -> stack pointer of threads blocked in a system call (``task/TID/syscall``)."""
    out: dict[int, int] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
        except OSError:
            continue
        if len(fields) >= 3 and fields[0] not in ("running", "-1"):
            out[int(tid)] = int(fields[-2], 16)
    return out


def find_roots(snapshot: Snapshot, exclude: list[tuple[int, int]]) -> Roots:
    """Registers and memory ranges to scan, heap ranges in ``exclude`` left out."""
    notes: list[str] = []
    regs: list[int] = []
    sps: list[int] = []
    for t in snapshot.threads:
        regs += [v for v in t.registers.values() if isinstance(v, int)]
        if t.sp is not None:
            sps.append(t.sp)
    if snapshot.format == "live" and snapshot.pid is not None and not regs:
        sps = list(_live_stack_pointers(snapshot.pid).values())
        notes.append("live target: registers are not read (a pointer only in a register is"
                     " not a root); stacks from the stack pointer of threads in a system call")
    ranges: list[tuple[int, int, str]] = []
    for r in snapshot.regions:
        if not (r.perms.read and r.perms.write):
            continue
        start, end = r.start, r.end
        inside = [sp for sp in sps if start <= sp < end]
        if inside:
            start = min(inside) & ~(snapshot.space.word_size - 1)
        if skipped(snapshot, start, end):
            notes.append(f"region {r.start:#x}-{r.end:#x} ({r.name or 'anonymous'}) is too big"
                         " to scan live: not a root")  # fmt: skip
            continue
        for lo, hi in _minus(start, end, exclude):
            for a, b in present_pieces(snapshot, lo, hi):
                ranges.append((a, b, r.name or f"{r.start:#x}"))
    mask = (1 << 64) - 1
    return Roots(np.array([v & mask for v in regs], np.uint64), ranges, notes)


def _minus(start: int, end: int, cut: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    pieces = [(start, end)]
    for s, e in cut:
        nxt = []
        for a, b in pieces:
            if e <= a or b <= s:
                nxt.append((a, b))
                continue
            if a < s:
                nxt.append((a, s))
            if e < b:
                nxt.append((e, b))
        pieces = nxt
    yield from (p for p in pieces if p[1] > p[0])


def range_words(space: AddressSpace, start: int, end: int) -> Iterator[tuple[int, Words]]:
    """The aligned words of ``[start, end)`` as (address of the first, words),
    zero-copy where possible; unreadable parts are skipped."""
    w = space.word_size
    start = (start + w - 1) & ~(w - 1)
    end &= ~(w - 1)
    if end <= start:
        return
    dtype = np.uint64 if w == 8 else np.uint32
    view = space.view(start, end - start)
    if view is not None:
        yield start, view.view(dtype)
        return
    at = start
    while at < end:
        n = min(PIECE, end - at)
        try:
            raw = space.read(at, n)
        except MemlensError:
            # part unreadable: try it page by page
            for p in range(at, at + n, 4096):
                try:
                    yield p, np.frombuffer(space.read(p, min(4096, at + n - p)), dtype)
                except MemlensError:
                    continue
        else:
            yield at, np.frombuffer(raw, dtype)
        at += n
