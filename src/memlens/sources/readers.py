"""The file readers of the sources layer, as objects behind one :class:`Reader` protocol.

A reader says whether a file's first bytes are its format (:meth:`Reader.probe`,
which never raises) and turns the file into a :class:`~memlens.core.snapshot.Snapshot`
(:meth:`Reader.load`).  The objects here are cheap to create: each imports its
parser only when it is used, so listing the readers costs no start-up time.
The registry that orders them, with the readers of higher layers (heap
snapshots, ``mem_info`` text), is :mod:`memlens.targets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot
    from memlens.sources.options import OpenOptions


class Reader(Protocol):
    """One file format memlens opens as a snapshot."""

    #: the name ``--format`` selects it by, and ``Snapshot.format`` reports
    name: str
    #: chosen only when asked for (``--format NAME``), never by probing
    on_request_only: bool

    def probe(self, head: bytes) -> bool:
        """Whether ``head`` (the file's first bytes) is this format; never raises."""
        ...

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        """Open ``path``.

        Raises:
            FormatError: the file is corrupt or not this format.
        """
        ...


class ElfCoreReader:
    name = "elfcore"
    on_request_only = False

    def probe(self, head: bytes) -> bool:
        from memlens.sources.elfcore import elf

        return elf.probe(head)

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        from memlens.sources.elfcore import reader

        return reader.load(path, options)


class MinidumpReader:
    name = "minidump"
    on_request_only = False

    def probe(self, head: bytes) -> bool:
        # MDMP, or PMDM when the writer was big-endian
        return head[:4] in (b"MDMP", b"PMDM")

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        from memlens.sources.minidump import reader

        return reader.load(path, options)


class MemdumpReader:
    name = "memdump"
    on_request_only = False

    def probe(self, head: bytes) -> bool:
        from memlens.sources import memdump

        return memdump.probe(head)

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        from memlens.sources import memdump

        return memdump.load(path, options)


class RawReader:
    """Raw bytes have no signature: used with ``--format raw``, ``--base`` or ``--piece``."""

    name = "raw"
    on_request_only = True

    def probe(self, head: bytes) -> bool:
        return False

    def load(self, path: str, options: OpenOptions) -> Snapshot:
        from memlens.sources import raw

        return raw.load(path, options)


ELFCORE = ElfCoreReader()
MINIDUMP = MinidumpReader()
MEMDUMP = MemdumpReader()
RAW = RawReader()
