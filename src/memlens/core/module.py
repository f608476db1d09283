"""A file loaded into a target's address space."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Module:
    """A loaded file: where it is mapped and how to identify it.

    The one module type above the sources: a layer that needs more per module (the
    local file symbols come from, unwind tables) holds it beside a ``Module``.
    ``debug_id`` is Breakpad's (the symbol store key).  ``load_bias`` is the value
    added to the file's ``p_vaddr`` to get runtime addresses (computed from PT_LOAD
    headers when the file is known).
    """

    path: str
    base: int
    end: int
    build_id: bytes | None = None
    debug_id: str | None = None
    load_bias: int | None = None
    #: what a symbol server finds the binary by: Windows ``%08X%x`` time stamp and
    #: size, the ELF build id, the macOS UUID (``8-4-4-4-12``); see core/ids.py
    code_id: str | None = None
    #: the name a Breakpad symbol store files it under, with ``debug_id`` (a minidump's
    #: CodeView record: ``app.pdb`` for ``app.exe``)
    debug_file: str | None = None
    #: the file version a minidump records (``10.0.19041.1``)
    version: str | None = None

    @property
    def size(self) -> int:
        return self.end - self.base

    @property
    def name(self) -> str:
        """The file name without its folders (either slash: dumps keep Windows paths)."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]
