"""The container: header, stream directory, checked reads, lazy typed streams.

:class:`MinidumpFile` maps the file and validates the header and directory;
streams are parsed only when asked for (:meth:`MinidumpFile.stream`) and cached.
Every offset, size and count read from the file is checked against the bytes
that exist before anything is sliced or allocated; ``struct.error``,
``UnicodeDecodeError`` and ``OSError`` become :class:`FormatError` in
:meth:`MinidumpFile.guard`, the one place this reader wraps them.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from memlens.errors import FormatError, MemlensError, UsageError
from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.constants import ARCHES, stream_name
from memlens.sources.minidump.structs import ByteOrder, Layout, Record

if TYPE_CHECKING:
    from memlens.sources.minidump.streams import Stream

S = TypeVar("S", bound="Stream")


@dataclass(frozen=True, slots=True)
class Limits:
    """Breakpad's sanity limits, configurable through ``OpenOptions.extra["minidump"]``."""

    max_streams: int = 128
    max_threads: int = 4096
    max_modules: int = 2048
    max_regions: int = 4096
    max_region_size: int = 64 << 20
    max_string_bytes: int = 1 << 20

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> Limits:
        """Limits from ``extra["minidump"]`` (a dict of field -> int, or a Limits)."""
        given = extra.get("minidump")
        if isinstance(given, Limits):
            return given
        if not given:
            return cls()
        known = {fd.name for fd in fields(cls)}
        unknown = set(given) - known
        if unknown:
            raise UsageError(f"unknown minidump limits {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: int(v) for k, v in given.items()})


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One stream of the directory: its type and where its bytes are."""

    index: int
    raw: Record

    @property
    def stream_type(self) -> int:
        return self.raw["stream_type"]

    @property
    def size(self) -> int:
        return self.raw["location.data_size"]

    @property
    def rva(self) -> int:
        return self.raw["location.rva"]

    @property
    def name(self) -> str:
        return stream_name(self.stream_type)


class MinidumpFile:
    """A mapped minidump: header, directory, and typed streams on demand.

    Raises:
        FormatError: not a minidump, or its header/directory is corrupt.
    """

    #: stream classes by type, filled by :mod:`memlens.sources.minidump.streams`
    registry: ClassVar[dict[int, type[Stream]]] = {}

    def __init__(self, path: str, limits: Limits | None = None) -> None:
        self.path = path
        self.limits = limits or Limits()
        self.warnings: list[str] = []
        self._cache: dict[int, Stream | FormatError] = {}
        self._mmap: mmap.mmap | None = None
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size:
                    self._mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise FormatError(path, None, e.strerror or str(e)) from None
        self.buffer: memoryview = memoryview(self._mmap if self._mmap is not None else b"")
        self.size = len(self.buffer)
        self.order: ByteOrder = "little"
        with self.guard(0, "header"):
            self.header, self.directory = self._read_directory()
        self.streams: dict[int, DirectoryEntry] = self._index_streams()

    # -- header and directory ---------------------------------------------------

    def _read_directory(self) -> tuple[Record, list[DirectoryEntry]]:
        if self.size < L.HEADER.size:
            raise FormatError(self.path, 0, f"too short for a minidump header ({self.size} bytes)")
        magic = bytes(self.buffer[:4])
        if magic == b"PMDM":
            self.order = "big"  # byte-swapped signature: written on a big-endian host
        elif magic != b"MDMP":
            raise FormatError(self.path, 0, f"not a minidump (signature {magic!r})")
        header = L.HEADER.unpack(self.buffer, 0, self.order)
        if header["version"] & 0xFFFF != L.VERSION:
            raise FormatError(self.path, 4, f"unsupported version {header['version']:#x}")
        count, rva = header["stream_count"], header["stream_directory_rva"]
        if count > self.limits.max_streams:
            raise FormatError(self.path, 8, f"{count} streams exceed the limit of "
                              f"{self.limits.max_streams} (see limits.max_streams)")
        self.check_range(rva, count * L.DIRECTORY.size, "stream directory")
        size = L.DIRECTORY.size
        entries = [
            DirectoryEntry(i, L.DIRECTORY.unpack(self.buffer, rva + i * size, self.order))
            for i in range(count)
        ]
        return header, entries

    def _index_streams(self) -> dict[int, DirectoryEntry]:
        by_type: dict[int, DirectoryEntry] = {}
        for entry in self.directory:
            if entry.stream_type == 0:
                continue  # MD_UNUSED_STREAM: padding entries
            if entry.rva + entry.size > self.size:
                self.warn(f"{entry.name} ({entry.stream_type:#x}) stream at directory index "
                          f"{entry.index}: {entry.size} bytes at {entry.rva:#x} extend past the "
                          f"end of the file ({self.size} bytes); ignored")  # fmt: skip
                continue
            if entry.stream_type in by_type:
                # Breakpad refuses such a file; rust-minidump keeps the first.
                self.warn(f"duplicate {entry.name} ({entry.stream_type:#x}) stream at directory "
                          f"index {entry.index}: using the one at index "
                          f"{by_type[entry.stream_type].index}")  # fmt: skip
                continue
            by_type[entry.stream_type] = entry
        return by_type

    # -- checked access -----------------------------------------------------------

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def error(self, offset: int | None, reason: str) -> FormatError:
        return FormatError(self.path, offset, reason)

    @contextlib.contextmanager
    def guard(self, offset: int | None, what: str) -> Iterator[None]:
        """Turn low-level decoding errors into one :class:`FormatError` about ``what``."""
        try:
            yield
        except MemlensError:
            raise
        except (struct.error, ValueError, IndexError, OverflowError) as e:
            # UnicodeDecodeError is a ValueError; struct.error is not.
            raise self.error(offset, f"{what}: {e}") from None
        except OSError as e:
            raise self.error(offset, f"{what}: {e.strerror or e}") from None

    def check_range(self, rva: int, size: int, what: str) -> None:
        """Raise unless ``[rva, rva + size)`` lies inside the file."""
        if rva < 0 or size < 0 or rva + size > self.size:
            raise self.error(rva, f"{what} ({size} bytes at {rva:#x}) extends past the end of "
                             f"the file ({self.size} bytes)")  # fmt: skip

    def bytes_at(self, rva: int, size: int, what: str) -> memoryview:
        """A zero-copy view of ``size`` bytes at ``rva`` (checked)."""
        self.check_range(rva, size, what)
        return self.buffer[rva : rva + size]

    def record(self, layout: Layout, rva: int, what: str | None = None) -> Record:
        self.check_range(rva, layout.size, what or layout.name)
        return layout.unpack(self.buffer, rva, self.order)

    def u32(self, rva: int, what: str) -> int:
        return self.record(L.COUNT32, rva, what)["count"]

    def string(self, rva: int, what: str = "string") -> str:
        """An MDString: u32 byte length, then UTF-16 in the file's byte order."""
        length = self.u32(rva, what)
        if length % 2:
            raise self.error(rva, f"{what}: odd UTF-16 byte length {length}")
        if length > self.limits.max_string_bytes:
            raise self.error(rva, f"{what}: {length} bytes exceed the string limit")
        raw = self.bytes_at(rva + 4, length, what)
        codec = "utf-16-le" if self.order == "little" else "utf-16-be"
        return bytes(raw).decode(codec, errors="replace")

    def utf8_string(self, rva: int, what: str = "string") -> str:
        """A Crashpad MinidumpUTF8String: u32 length, bytes, NUL."""
        length = self.u32(rva, what)
        if length > self.limits.max_string_bytes:
            raise self.error(rva, f"{what}: {length} bytes exceed the string limit")
        return bytes(self.bytes_at(rva + 4, length, what)).decode("utf-8", errors="replace")

    def records(self, layout: Layout, rva: int, count: int, what: str) -> list[Record]:
        """``count`` consecutive records; the count is checked against the file first."""
        self.check_range(rva, count * layout.size, what)
        return [layout.unpack(self.buffer, rva + i * layout.size, self.order) for i in range(count)]

    @functools.cached_property
    def arch_code(self) -> int | None:
        """SystemInfo's ``processor_architecture``, if the dump has a readable one (read once)."""
        entry = self.streams.get(7)
        if entry is None or entry.size < L.SYSTEM_INFO_OTHER.size:
            return None
        try:
            return self.record(L.SYSTEM_INFO_OTHER, entry.rva)["processor_architecture"]
        except (FormatError, ValueError):
            return None

    @property
    def cpu(self) -> str | None:
        """Breakpad's CPU name (``x86``, ``amd64``, ``arm64``...), if SystemInfo says."""
        code = self.arch_code
        return None if code is None else ARCHES.get(code, ("unknown", "", 0))[0]

    @property
    def word_size(self) -> int | None:
        code = self.arch_code
        return None if code is None or code not in ARCHES else ARCHES[code][2]

    # -- streams ------------------------------------------------------------------

    def stream_bytes(self, entry: DirectoryEntry) -> memoryview:
        return self.bytes_at(entry.rva, entry.size, f"{entry.name} stream")

    def stream(self, cls: type[S]) -> S | None:
        """The parsed stream of type ``cls``, or ``None`` when the dump has none.

        Raises:
            FormatError: the stream is present but corrupt.
        """
        entry = self.streams.get(cls.TYPE)
        if entry is None:
            return None
        if cls.TYPE not in self._cache:
            try:
                with self.guard(entry.rva, f"{entry.name} stream"):
                    self._cache[cls.TYPE] = cls.parse(self, entry)
            except FormatError as e:
                self._cache[cls.TYPE] = e  # the same error again, without re-parsing
        parsed = self._cache[cls.TYPE]
        if isinstance(parsed, FormatError):
            raise parsed
        assert isinstance(parsed, cls)
        return parsed

    def try_stream(self, cls: type[S]) -> S | None:
        """Like :meth:`stream`, but a corrupt stream becomes a warning and ``None``."""
        try:
            return self.stream(cls)
        except FormatError as e:
            where = f" (at offset {e.offset:#x})" if e.offset is not None else ""
            self.warn(f"{e.reason}{where}")
            return None

    def list_header(self, entry: DirectoryEntry, count_layout: Layout, entry_size: int,
                    count_field: str, limit: int | None, what: str) -> tuple[int, int]:
        """Validate a ``count, entries[count]`` stream: ``(count, first entry rva)``.

        The entries must fill the stream exactly, or leave exactly 4 bytes after
        the count (some writers pad the count to 8 bytes).
        """
        head = self.record(count_layout, entry.rva, what)
        count = head[count_field]
        if limit is not None and count > limit:
            raise self.error(entry.rva, f"{what}: {count} entries exceed the limit of {limit}")
        expected = count_layout.size + count * entry_size
        if entry.size == expected:
            return count, entry.rva + count_layout.size
        if entry.size == expected + 4:
            return count, entry.rva + count_layout.size + 4
        raise self.error(entry.rva, f"{what}: {count} entries of {entry_size} bytes do not fit "
                         f"the stream size {entry.size}")  # fmt: skip

    @property
    def mapping(self) -> mmap.mmap | None:
        """The file's mmap (``None`` for an empty file)."""
        return self._mmap

    def close(self) -> None:
        self._cache.clear()
        self.buffer.release()
        if self._mmap is not None:
            with contextlib.suppress(BufferError):  # numpy views may still point into it
                self._mmap.close()
