"""Read a live process's memory without stopping or writing to it.

``pread`` on ``/proc/PID/mem`` (~3.5 GB/s here), not ``process_vm_readv``
(~7 GB/s): the syscall *pins* the pages it reads, and a read-only pin of an
anonymous page still shared copy-on-write with a fork child or parent makes
the kernel unshare it first (``gup_must_unshare``, Linux 5.19+) -- a new page
in the target and a shared page turned private, seen as Shared_Dirty becoming
Private_Dirty in its smaps.  ``/proc/PID/mem`` takes plain references.

Either path would fault in a page that is not present, so every read first
looks at the pages' pagemap entries (one small ``pread``).  A page that is
present is read.  One that is not, and was never touched (or dropped), in a
*private anonymous* mapping holds zeros: they are returned without touching
the target (a read there would map the zero page).  A page of a mapped
regular file that is not in the process's page table (and not swapped: a
page of a private mapping that was written is anonymous) holds what the file
holds there: it is read from the file itself (``/proc/PID/map_files``, so the
very file mapped, even renamed or deleted), again without touching the
target.  Any other page that is not present -- swapped out, shared anonymous
memory never touched -- is not read: :class:`AddressError` ("not resident"),
because reading it would swap it in or allocate it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from memlens.core.bytesearch import CHUNK
from memlens.errors import AddressError, ProcessGoneError, TargetError

if TYPE_CHECKING:

    import numpy as np
    import numpy.typing as npt


PAGE = os.sysconf("SC_PAGE_SIZE")
#: where a page of a file mapping comes from: the files to try in order (the mapping's
#: /proc/PID/map_files entry, then its path), the file's inode, and the offset in it
FilePlace = tuple[tuple[str, ...], int, int]
_PRESENT, _SWAPPED = 1 << 63, 1 << 62
#: user space never reaches the upper half of a 64-bit address space ([vsyscall])
_KERNEL_HALF = 1 << 63
NOT_RESIDENT = "not resident in the process (reading it would fault it in)"
#: pagemap entries per cached block (2 MiB of 4 KiB pages), and blocks kept
BLOCK = 512
MAX_BLOCKS = 256


def _open_mapped(paths: tuple[str, ...], inode: int) -> int | None:
    """A descriptor of the regular file with ``inode`` at one of ``paths``, or None: a
    device or a file replaced since it was mapped is never read."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_ino == inode:
            return fd
        os.close(fd)
    return None


class ProcessMemory:
    """A :class:`~memlens.core.backing.Backing` whose offsets are the process's addresses.

    Args:
        pid: the process.
        zero_filled: whether a never-touched page at an address reads as zeros (a
            private anonymous mapping); without it no such page is read at all.
    """

    def __init__(
        self,
        pid: int,
        zero_filled: Callable[[int], bool] | None = None,
        file_pages: Callable[[int], FilePlace | None] | None = None,
    ) -> None:
        self.pid = pid
        self._mem_fd: int | None = None
        self._pagemap_fd: int | None = None
        self._zero_filled = zero_filled or (lambda address: False)
        self._file_pages = file_pages or (lambda address: None)
        self._files: dict[tuple[str, ...], int | None] = {}
        self._blocks: dict[int, memoryview] = {}

    def close(self) -> None:
        for fd in (self._mem_fd, self._pagemap_fd, *self._files.values()):
            if fd is not None:
                os.close(fd)
        self._mem_fd = self._pagemap_fd = None
        self._files = {}

    def _entries(self, first: int, count: int) -> memoryview:
        """The pagemap entries of pages ``first .. first+count`` (fewer above the task size).

        Small reads (a heap walk reads a word at a time) are served from blocks of
        :data:`BLOCK` entries read once: one pagemap ``pread`` per 2 MiB of addresses
        rather than one per read.  The blocks live as long as this object -- one
        command's look at the process; a page that changes state meanwhile is seen as
        it was at its block's first read, as any read of a running process can be.
        """
        block = first // BLOCK
        if (first + count - 1) // BLOCK == block:
            entries = self._blocks.get(block)
            if entries is None:
                if len(self._blocks) >= MAX_BLOCKS:
                    self._blocks.clear()
                entries = self._blocks[block] = self._read_entries(block * BLOCK, BLOCK)
            return entries[first - block * BLOCK : first - block * BLOCK + count]
        return self._read_entries(first, count)

    def _read_entries(self, first: int, count: int) -> memoryview:
        if self._pagemap_fd is None:
            try:
                self._pagemap_fd = os.open(f"/proc/{self.pid}/pagemap", os.O_RDONLY)
            except (FileNotFoundError, ProcessLookupError):
                raise ProcessGoneError(self.pid, "exited while being read") from None
            except PermissionError:
                raise TargetError(self.pid, "no permission to read /proc/PID/pagemap") from None
        try:
            data = os.pread(self._pagemap_fd, 8 * count, 8 * first)
        except OSError as e:
            if e.errno == errno.ESRCH or not self._alive():
                raise ProcessGoneError(self.pid, "exited while being read") from None
            raise TargetError(self.pid, f"pagemap: {e.strerror}") from None
        return memoryview(data[: len(data) // 8 * 8]).cast("Q")

    def _pieces(self, address: int, size: int) -> Iterator[tuple[int, int, str]]:
        """``[start, end)`` runs of the range, each "read" (present), "zero" (never-touched
        private anonymous), "file" (a file page not in the page table) or "no" (not
        resident)."""
        first, last = address // PAGE, (address + size - 1) // PAGE
        entries = self._entries(first, last - first + 1)
        run_start, run_kind = address, ""
        for i in range(last - first + 1):
            page = (first + i) * PAGE
            e = entries[i] if i < len(entries) else 0
            kind = ("read" if e & _PRESENT else "no" if e & _SWAPPED else
                    "zero" if self._zero_filled(page) else
                    "file" if self._file_pages(page) is not None else "no")  # fmt: skip
            if kind != run_kind:
                if run_kind:
                    yield run_start, max(page, address), run_kind
                run_start, run_kind = max(page, address), kind
        yield run_start, address + size, run_kind

    def read(self, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        if offset >= _KERNEL_HALF:
            raise AddressError(offset, "unreadable in the process", size)
        first, last = offset // PAGE, (offset + size - 1) // PAGE
        entries = self._entries(first, last - first + 1)
        if len(entries) == last - first + 1 and all(e & _PRESENT for e in entries):
            return self._pread(offset, size)  # the common case: all there
        out = bytearray()
        for start, end, kind in self._pieces(offset, size):
            if kind == "no":
                raise AddressError(start, NOT_RESIDENT, size)
            out += self._run(start, end, kind)
        return bytes(out)

    def _run(self, start: int, end: int, kind: str) -> bytes:
        if kind == "read":
            return self._pread(start, end - start)
        if kind == "file":
            return self._from_file(start, end)
        return bytes(end - start)

    def _from_file(self, start: int, end: int) -> bytes:
        """``[start, end)`` of a file mapping (pages not in the page table) from the file.

        Raises:
            AddressError: the file cannot be opened or is shorter than the mapping
                (a page past the file's end would be SIGBUS in the process too).
        """
        place = self._file_pages(start)
        assert place is not None
        paths, inode, offset = place
        if paths not in self._files:
            self._files[paths] = _open_mapped(paths, inode)
        fd = self._files[paths]
        data = os.pread(fd, end - start, offset) if fd is not None else b""
        if len(data) != end - start:
            raise AddressError(start + len(data), NOT_RESIDENT, end - start)
        return data

    def read_present(self, offset: int, size: int) -> bytes:
        """Read without looking at pagemap: for callers that know the pages are present
        (``memlens snapshot`` reads the runs its page tables show present).

        Raises:
            AddressError: the bytes cannot be read.
        """
        return self._pread(offset, size) if size > 0 else b""

    def resident_pieces(self, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """The readable runs of ``[start, end)`` with their bytes, a window at a time; runs
        not resident are left out."""
        pos = start
        while pos < end:
            stop = min(end, pos + CHUNK)
            for a, b, kind in self._pieces(pos, stop - pos):
                if kind == "no":
                    continue
                try:
                    yield a, self._run(a, b, kind)
                except AddressError:
                    continue  # unmapped meanwhile, or past the file's end
            pos = stop

    def _alive(self) -> bool:
        return os.path.exists(f"/proc/{self.pid}/mem")

    def _pread(self, address: int, size: int) -> bytes:
        if self._mem_fd is None:
            try:
                self._mem_fd = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY)
            except (FileNotFoundError, ProcessLookupError):
                raise ProcessGoneError(self.pid, "exited while being read") from None
            except PermissionError:
                raise TargetError(self.pid, "no permission to read /proc/PID/mem") from None
        out = bytearray()
        while len(out) < size:
            try:
                chunk = os.pread(self._mem_fd, size - len(out), address + len(out))
            except OverflowError:  # offsets >= 2**63 ([vsyscall]) do not fit pread's off_t
                raise AddressError(address + len(out), "unreadable in the process", size) from None
            except OSError as e:
                if e.errno == errno.ESRCH or not self._alive():
                    raise ProcessGoneError(self.pid, "exited while being read") from None
                raise AddressError(address + len(out), "unreadable in the process", size) from None
            if not chunk:
                break
            out += chunk
        if len(out) < size:
            if not self._alive():
                raise ProcessGoneError(self.pid, "exited while being read")
            raise AddressError(address + len(out), "unreadable in the process", size)
        return bytes(out)

    def array(self, offset: int, size: int) -> npt.NDArray[np.uint8]:
        import numpy as np

        return np.frombuffer(self.read(offset, size), dtype=np.uint8)

    def find_all(
        self, pattern: bytes, start: int, end: int, align: int = 1, phase: int = 0
    ) -> Iterator[int]:
        """Matches in the resident (and never-touched zero) bytes only: a match never spans
        a page that was not read."""
        if start >= _KERNEL_HALF:
            return
        keep = len(pattern) - 1
        tail_at, tail = start, b""  # the last bytes of the previous piece
        for at, data in self.resident_pieces(start, min(end, _KERNEL_HALF)):
            joined = bool(tail) and tail_at + len(tail) == at
            if joined:
                at, data = tail_at, tail + data  # contiguous: matches may span the seam
            base = data.find(pattern)
            while base >= 0:
                hit = at + base
                new = not joined or hit + len(pattern) > tail_at + len(tail)
                if new and (hit + phase) % align == 0 and hit + len(pattern) <= end:
                    yield hit
                base = data.find(pattern, base + 1)
            tail_at, tail = (at + len(data) - keep, data[len(data) - keep :]) if keep else (at, b"")
