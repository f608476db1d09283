"""Following malloc's free lists: fastbins, bins, tcaches -- bounded, checked.

Each list is followed one pointer at a time (lists are short next to the
heap); a list never runs longer than the number of chunks walked, and a
chunk seen twice ends it (a cycle: a double free, or a corrupted link).
Safe-linking (glibc 2.32+, commit a1a486d70ebc) stores a tcache or fastbin
``next`` as ``(address of the field >> 12) ^ pointer``; whether a target
does is decided once from its lists (:func:`detect_safe_linking`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memlens.core.addrspace import AddressSpace
from memlens.glibc.chunktable import Finding
from memlens.glibc.layout import NBINS, TCACHE_BINS, Layout


@dataclass(slots=True)
class Listed:
    """Chunks found in lists: chunk address -> (kind, index).

    ``budget`` bounds the steps of all lists together (each list is also bounded
    by itself): damaged links cannot make 64 bins x N tcaches x N chunks of work.
    """

    kind: dict[int, tuple[str, int]] = field(default_factory=dict)
    budget: int = 1 << 62

    def step(self) -> bool:
        self.budget -= 1
        return self.budget >= 0


def reveal(field_at: int, value: int, protected: bool) -> int:
    return (field_at >> 12) ^ value if protected else value


def _plausible(space: AddressSpace, layout: Layout, ptr: int, size_at: int) -> bool:
    """``ptr`` is 0, or an aligned pointer whose chunk's size word reads as a size."""
    if ptr == 0:
        return True
    if ptr % layout.align not in (0, layout.first_chunk_misalign):
        return False
    size = space.word(ptr + size_at)
    return size is not None and layout.min_chunk <= (size & ~7) < 1 << 40


def detect_safe_linking(space: AddressSpace, layout: Layout,
                        links: list[tuple[int, int]]) -> bool | None:  # fmt: skip
    """Whether ``next`` links are mangled, judged on the first link of non-empty
    lists: ``links`` holds (address of a ``next`` field, offset from the address
    it links to to that chunk's size word).  ``None``: no list to judge by."""
    votes = [0, 0]
    for at, size_at in links[:64]:
        value = space.word(at)
        if value is None:
            continue
        for protected in (0, 1):
            if _plausible(space, layout, reveal(at, value, bool(protected)), size_at):
                votes[protected] += 1
    if votes == [0, 0]:
        return None
    return votes[1] > votes[0]


def follow_fastbins(space: AddressSpace, layout: Layout, arena: int, limit: int,
                    protected: bool, listed: Listed, findings: list[Finding]) -> None:  # fmt: skip
    """Each fastbin: head in ``fastbinsY[i]``, chunk links at ``fd`` (chunk + 2 words)."""
    for i in range(layout.nfastbins):
        head = space.word(arena + layout.fastbins + i * layout.word)
        chunk = head or 0
        seen: set[int] = set()
        while chunk and len(seen) <= limit and listed.step():
            if chunk in seen:
                findings.append(Finding("fastbin loop", chunk,
                                        f"fastbin {i}: chunk {chunk:#x} is listed twice"
                                        " (double free or corrupted link)", chunk=chunk))
                break
            if chunk % layout.align != layout.first_chunk_misalign % layout.align:
                findings.append(Finding("fastbin alignment", chunk,
                                        f"fastbin {i}: misaligned chunk {chunk:#x}"))  # fmt: skip
                break
            size = space.word(chunk + layout.word)
            if size is None:
                findings.append(Finding("fastbin link", chunk,
                                        f"fastbin {i}: chunk {chunk:#x} is not readable"))
                break
            if layout.fastbin_index(size & ~7) != i:
                findings.append(Finding("fastbin size", chunk,
                                        f"fastbin {i}: chunk {chunk:#x} has size {size & ~7:#x},"
                                        " not this bin's", chunk=chunk))  # fmt: skip
            seen.add(chunk)
            listed.kind[chunk] = ("fastbin", i)
            at = chunk + layout.header
            value = space.word(at)
            chunk = reveal(at, value, protected) if value is not None else 0


def follow_bins(space: AddressSpace, layout: Layout, arena: int, limit: int,
                listed: Listed, findings: list[Finding]) -> None:  # fmt: skip
    """Bins 1 (unsorted) to 127, from each bin's ``bk`` backwards, checking
    glibc's ``fd->bk == p`` ("corrupted double-linked list")."""
    w = layout.word
    for i in range(1, NBINS):
        b = layout.bin_at(arena, i)
        kind = "unsorted" if i == 1 else "smallbin" if i < 64 else "largebin"
        prev = b
        chunk = space.word(b + 3 * w)
        count = 0
        while chunk is not None and chunk != b and listed.step():
            if count > limit or chunk in listed.kind:
                findings.append(Finding("bin loop", chunk,
                                        f"bin {i}: chunk {chunk:#x} is listed twice", chunk=chunk))
                break
            fd = space.word(chunk + 2 * w)
            if fd != prev:
                findings.append(Finding("bin links", chunk,
                                        f"bin {i}: chunk {chunk:#x} has fd {fd or 0:#x},"
                                        f" expected {prev:#x} (corrupted double-linked list)",
                                        chunk=chunk))  # fmt: skip
            listed.kind[chunk] = (kind, i)
            count += 1
            prev = chunk
            chunk = space.word(chunk + 3 * w)
        if chunk is None:
            findings.append(Finding("bin links", prev,
                                    f"bin {i}: chunk {prev:#x} has an unreadable bk"))  # fmt: skip


def follow_tcache(space: AddressSpace, layout: Layout, tcache: int, wide: bool, limit: int,
                  protected: bool, listed: Listed, findings: list[Finding]) -> None:  # fmt: skip
    """One ``tcache_perthread_struct`` at user address ``tcache``: counts[64]
    (uint16 since 2.30, char before) then entries[64] (user pointers)."""
    w = layout.word
    count_size = 2 if wide else 1
    entries_at = tcache + TCACHE_BINS * count_size
    raw = space.read(tcache, TCACHE_BINS * count_size, pad=True)
    counts = [int.from_bytes(raw[i * count_size:(i + 1) * count_size], "little")
              for i in range(TCACHE_BINS)]  # fmt: skip
    for i in range(TCACHE_BINS):
        entry = space.word(entries_at + i * w) or 0
        seen: set[int] = set()
        broken = False  # the list itself is damaged: its count cannot be compared
        while entry and len(seen) <= limit and listed.step():
            chunk = entry - layout.header
            if entry % layout.align:
                findings.append(Finding("tcache alignment", entry,
                                        f"tcache {tcache:#x} bin {i}: misaligned entry"
                                        f" {entry:#x}"))  # fmt: skip
                broken = True
                break
            if chunk in seen:
                findings.append(Finding("tcache double free", chunk,
                                        f"tcache {tcache:#x} bin {i}: chunk {chunk:#x} is in the"
                                        " list twice (double free)", chunk=chunk))  # fmt: skip
                broken = True
                break
            size = space.word(chunk + w)
            if size is None:
                findings.append(Finding("tcache link", entry,
                                        f"tcache {tcache:#x} bin {i}: entry {entry:#x} is not"
                                        " readable"))  # fmt: skip
                broken = True
                break
            if layout.tcache_index(size & ~7) != i:
                findings.append(Finding("tcache size", chunk,
                                        f"tcache bin {i}: chunk {chunk:#x} has size"
                                        f" {size & ~7:#x}, not this bin's", chunk=chunk))
            seen.add(chunk)
            listed.kind[chunk] = ("tcache", i)
            value = space.word(entry)
            entry = reveal(entry, value, protected) if value is not None else 0
        if len(seen) != counts[i] and not broken:
            findings.append(Finding("tcache count", entries_at + i * w,
                                    f"tcache {tcache:#x} bin {i}: count {counts[i]} but"
                                    f" {len(seen)} chunks listed"))  # fmt: skip
