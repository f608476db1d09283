"""What memlens knows of one target: a live process or a saved snapshot.

Every source (live PID, ELF core, minidump, raw dump, memdump text) produces a
:class:`Snapshot`; every verb works on a :class:`Snapshot`.  Fields a source
does not know stay empty / ``None`` -- never guessed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from memlens.core.addrspace import AddressSpace
from memlens.core.pages import PageTable
from memlens.core.region import Region

if TYPE_CHECKING:
    # Kept out of this module's imports: a live process has neither, and every
    # frozen dataclass costs ~1.5 ms at start-up (`pages` is timed against pmap).
    from memlens.core.crash import CrashInfo
    from memlens.core.module import Module


@dataclass(frozen=True, slots=True)
class Arch:
    """Target machine: name (``x86_64``, ``i386``, ``aarch64``, ``arm``, ``xtensa``...)."""

    name: str
    word_size: int
    byteorder: str = "little"


@dataclass(frozen=True, slots=True)
class Thread:
    """One thread; ``registers`` maps register names to values (may be empty).

    ``pc_reg`` / ``sp_reg`` / ``fp_reg`` name the registers that are the program
    counter, stack and frame pointer on this machine (``nip`` / ``r1`` on ppc,
    ``pswa`` / ``r15`` on s390...), when the source knows them.
    """

    tid: int
    name: str | None = None
    registers: dict[str, int] = field(default_factory=dict)
    crashed: bool = False
    stack_start: int | None = None
    stack_end: int | None = None
    pc_reg: str | None = None
    sp_reg: str | None = None
    fp_reg: str | None = None

    def _first(self, named: str | None, fallbacks: tuple[str, ...]) -> int | None:
        if named is not None:
            return self.registers.get(named)
        for key in fallbacks:
            if key in self.registers:
                return self.registers[key]
        return None

    @property
    def pc(self) -> int | None:
        return self._first(self.pc_reg, ("rip", "eip", "pc"))

    @property
    def sp(self) -> int | None:
        return self._first(self.sp_reg, ("rsp", "esp", "sp"))

    @property
    def fp(self) -> int | None:
        return self._first(self.fp_reg, ("rbp", "ebp", "x29", "fp"))


class Snapshot:
    """A target opened by :func:`memlens.open`.

    Attributes:
        format: the source format (``"live"``, ``"elfcore"``, ``"minidump"``...).
        source: the PID or path it was opened from.
        arch: target machine, when known.
        space: the address space (regions + readable bytes).
        threads, modules: what the source records (may be empty).
        pid, command_line: the process, when known.
        crash: signal/exception details for crash dumps.
        page_size: bytes per page of the target.
        warnings: things the reader noticed but could work around.
        extra: format-specific facts for ``memlens info`` (name -> value).
    """

    def __init__(
        self,
        *,
        format: str,
        source: str,
        space: AddressSpace,
        arch: Arch | None = None,
        threads: list[Thread] | None = None,
        modules: list[Module] | None = None,
        pid: int | None = None,
        command_line: str | None = None,
        crash: CrashInfo | None = None,
        page_size: int = 4096,
        warnings: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.format = format
        self.source = source
        self.space = space
        self.arch = arch
        self.threads = threads or []
        self.modules = modules or []
        self.pid = pid
        self.command_line = command_line
        self.crash = crash
        self.page_size = page_size
        self.warnings = warnings or []
        self.extra = extra or {}

    @property
    def regions(self) -> list[Region]:
        return self.space.regions

    @property
    def word_size(self) -> int:
        """Bytes of a pointer in the target (the address space's)."""
        return self.space.word_size

    @property
    def has_residency(self) -> bool:
        """Whether :meth:`page_table` can answer for this target."""
        return False

    def page_table(self, region: Region) -> PageTable | None:
        """Per-page state of ``region``, or ``None`` when the source has none."""
        return None

    def iter_page_tables(
        self, regions: list[Region], *, counts: bool = True, kpage: bool = True
    ) -> Iterator[tuple[Region, PageTable | None]]:
        """Page tables of several regions; sources override to batch the reads.

        ``counts=False`` lets a source skip per-page map counts (kpagecount)
        when the caller only needs flags; ``kpage=False`` skips flags too, for
        callers that use only the pagemap bits (present, swapped, soft-dirty).
        """
        for region in regions:
            yield region, self.page_table(region)

    def close(self) -> None:
        """Release files and mappings held by the snapshot."""

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
