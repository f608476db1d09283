"""Typed streams (rust-minidump style): one class per stream type, parsed on demand.

Each class names its stream ``TYPE`` and a short ``KEY`` (what ``memlens
minidump --stream`` accepts), keeps the raw records it decoded, and exposes
decoded fields as properties.  ``MinidumpFile.stream(ThreadList)`` parses and
caches; nothing is read before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import numpy.typing as npt

from memlens.core.ids import windows_code_id
from memlens.errors import FormatError
from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.codeview import CodeView, parse_codeview
from memlens.sources.minidump.constants import ARCHES, PLATFORMS, VS_FFI_SIGNATURE
from memlens.sources.minidump.context import Context, parse_context
from memlens.sources.minidump.dumpfile import DirectoryEntry, MinidumpFile
from memlens.sources.minidump.structs import Layout, Record


class Stream:
    """Base of every typed stream."""

    TYPE: ClassVar[int]
    KEY: ClassVar[str]

    def __init__(self, entry: DirectoryEntry) -> None:
        self.entry = entry

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        raise NotImplementedError


def register(cls: type[Stream]) -> type[Stream]:
    MinidumpFile.registry[cls.TYPE] = cls
    return cls


def read_context(dump: MinidumpFile, size: int, rva: int, what: str) -> Context | None:
    """The context at ``rva``; ``None`` (with a warning) when absent or unreadable."""
    if size == 0 and rva == 0:
        return None
    dump.check_range(rva, size, what)
    context = parse_context(dump.buffer, rva, size, dump.order, dump.cpu)
    if context is None:
        dump.warn(f"{what}: no known CPU context fits {size} bytes at {rva:#x}")
    return context


# -- threads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinidumpThread:
    raw: Record
    context: Context | None

    @property
    def tid(self) -> int:
        return self.raw["thread_id"]

    @property
    def stack_start(self) -> int:
        return self.raw["stack.start_of_memory_range"]

    @property
    def stack_size(self) -> int:
        return self.raw["stack.memory.data_size"]

    @property
    def stack_rva(self) -> int:
        return self.raw["stack.memory.rva"]


@register
class ThreadList(Stream):
    TYPE = 3
    KEY = "thread_list"

    def __init__(self, entry: DirectoryEntry, threads: list[MinidumpThread]) -> None:
        super().__init__(entry)
        self.threads = threads

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        count, rva = dump.list_header(entry, L.COUNT32, L.THREAD.size, "count",
                                      dump.limits.max_threads, "thread list")  # fmt: skip
        threads = []
        for raw in dump.records(L.THREAD, rva, count, "thread list"):
            what = f"thread {raw['thread_id']:#x} context"
            size, ctx_rva = raw["thread_context.data_size"], raw["thread_context.rva"]
            try:
                context = read_context(dump, size, ctx_rva, what)
            except FormatError as e:
                dump.warn(f"{what}: {e.reason}")
                context = None
            threads.append(MinidumpThread(raw, context))
        return cls(entry, threads)


# -- modules -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MinidumpModule:
    raw: Record
    name: str
    codeview: CodeView | None
    misc: bytes | None

    @property
    def base(self) -> int:
        return self.raw["base_of_image"]

    @property
    def size(self) -> int:
        return self.raw["size_of_image"]

    @property
    def code_file(self) -> str:
        return self.name

    @property
    def code_identifier(self) -> str:
        """Breakpad's code id: the ELF build id, else ``%08X`` time stamp + ``%x`` size."""
        if self.codeview is not None and self.codeview.build_id is not None:
            return self.codeview.build_id.hex()
        return windows_code_id(self.raw["time_date_stamp"], self.size)

    @property
    def debug_file(self) -> str:
        if self.codeview is not None and self.codeview.pdb_file_name is not None:
            return self.codeview.pdb_file_name
        return self.name

    @property
    def debug_identifier(self) -> str | None:
        return self.codeview.debug_id if self.codeview is not None else None

    @property
    def version(self) -> str:
        """``a.b.c.d`` from VS_FIXEDFILEINFO, or ``""`` when it is not filled in."""
        if self.raw["version_info.signature"] != VS_FFI_SIGNATURE:
            return ""
        hi, lo = self.raw.get("version_info.file_version")  # type: ignore[misc]
        return f"{hi >> 16}.{hi & 0xFFFF}.{lo >> 16}.{lo & 0xFFFF}"


def _read_module(dump: MinidumpFile, raw: Record, index: int) -> MinidumpModule:
    what = f"module {index}"
    try:
        name = dump.string(raw["module_name_rva"], f"{what} name")
    except FormatError as e:
        dump.warn(f"{what}: {e.reason}")
        name = ""
    codeview = None
    cv_size, cv_rva = raw["cv_record.data_size"], raw["cv_record.rva"]
    if cv_size:
        try:
            codeview = parse_codeview(dump, cv_rva, cv_size, f"{what} CodeView record")
        except FormatError as e:
            dump.warn(f"{what}: {e.reason}")
    misc = None
    misc_size, misc_rva = raw["misc_record.data_size"], raw["misc_record.rva"]
    if misc_size:
        try:
            misc = bytes(dump.bytes_at(misc_rva, misc_size, f"{what} misc record"))
        except FormatError as e:
            dump.warn(f"{what}: {e.reason}")
    return MinidumpModule(raw, name, codeview, misc)


@register
class ModuleList(Stream):
    TYPE = 4
    KEY = "module_list"

    def __init__(self, entry: DirectoryEntry, modules: list[MinidumpModule]) -> None:
        super().__init__(entry)
        self.modules = modules

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        # Entries are 108 bytes on disk; a C sizeof() would say 112 (u64 alignment).
        count, rva = dump.list_header(entry, L.COUNT32, L.MODULE.size, "count",
                                      dump.limits.max_modules, "module list")  # fmt: skip
        raws = dump.records(L.MODULE, rva, count, "module list")
        return cls(entry, [_read_module(dump, raw, i) for i, raw in enumerate(raws)])


@dataclass(frozen=True, slots=True)
class UnloadedModule:
    raw: Record
    name: str


@register
class UnloadedModuleList(Stream):
    TYPE = 14
    KEY = "unloaded_module_list"

    def __init__(self, entry: DirectoryEntry, raw: Record, modules: list[UnloadedModule]) -> None:
        super().__init__(entry)
        self.raw = raw
        self.modules = modules

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        raw, rvas = sized_list(dump, entry, L.UNLOADED_HEADER, L.UNLOADED_MODULE,
                               "number_of_entries", dump.limits.max_modules)  # fmt: skip
        modules = []
        for i, rva in enumerate(rvas):
            rec = dump.record(L.UNLOADED_MODULE, rva)
            try:
                name = dump.string(rec["module_name_rva"], f"unloaded module {i} name")
            except FormatError as e:
                dump.warn(e.reason)
                name = ""
            modules.append(UnloadedModule(rec, name))
        return cls(entry, raw, modules)


def sized_list(dump: MinidumpFile, entry: DirectoryEntry, header: Layout,
               item: Layout, count_field: str, limit: int | None) -> tuple[Record, range]:
    """A list stream whose header states its own header and entry sizes.

    Returns the header record and the rva of each entry.  Entries may be larger
    than ``item`` (newer writers append fields); smaller ones are refused.
    """
    what = entry.name
    raw = dump.record(header, entry.rva, what)
    head_size, entry_size, count = raw["size_of_header"], raw["size_of_entry"], raw[count_field]
    if head_size < header.size or entry_size < item.size:
        raise dump.error(entry.rva, f"{what}: header/entry size {head_size}/{entry_size} below "
                         f"{header.size}/{item.size}")  # fmt: skip
    if limit is not None and count > limit:
        raise dump.error(entry.rva, f"{what}: {count} entries exceed the limit of {limit}")
    if head_size + count * entry_size > entry.size:
        raise dump.error(entry.rva, f"{what}: {count} entries of {entry_size} bytes do not fit "
                         f"the stream size {entry.size}")  # fmt: skip
    dump.check_range(entry.rva, entry.size, what)
    return raw, range(entry.rva + head_size, entry.rva + head_size + count * entry_size, entry_size)


# -- exception, system, misc -------------------------------------------------------


@register
class ExceptionStream(Stream):
    TYPE = 6
    KEY = "exception"

    def __init__(self, entry: DirectoryEntry, raw: Record, context: Context | None) -> None:
        super().__init__(entry)
        self.raw = raw
        self.context = context

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        if entry.size < L.EXCEPTION.size:
            raise dump.error(entry.rva, f"exception stream of {entry.size} bytes is too small")
        raw = dump.record(L.EXCEPTION, entry.rva)
        size, rva = raw["thread_context.data_size"], raw["thread_context.rva"]
        try:
            context = read_context(dump, size, rva, "exception context")
        except FormatError as e:
            dump.warn(f"exception context: {e.reason}")
            context = None
        return cls(entry, raw, context)

    @property
    def thread_id(self) -> int:
        return self.raw["thread_id"]

    @property
    def code(self) -> int:
        return self.raw["exception_record.exception_code"]

    @property
    def flags(self) -> int:
        return self.raw["exception_record.exception_flags"]

    @property
    def address(self) -> int:
        return self.raw["exception_record.exception_address"]

    @property
    def parameters(self) -> tuple[int, ...]:
        info = self.raw.get("exception_record.exception_information")
        assert isinstance(info, tuple)
        return info[: min(self.raw["exception_record.number_parameters"], len(info))]


@register
class SystemInfo(Stream):
    TYPE = 7
    KEY = "system_info"

    def __init__(self, entry: DirectoryEntry, raw: Record, csd_version: str | None) -> None:
        super().__init__(entry)
        self.raw = raw
        self.csd_version = csd_version

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        if entry.size < L.SYSTEM_INFO_X86.size:
            raise dump.error(entry.rva, f"system info stream of {entry.size} bytes is too small")
        arch = dump.record(L.SYSTEM_INFO_OTHER, entry.rva)["processor_architecture"]
        layout = L.SYSTEM_INFO_X86 if arch in (0, 10) else L.SYSTEM_INFO_OTHER
        raw = dump.record(layout, entry.rva)
        csd = None
        if raw["csd_version_rva"]:
            try:
                csd = dump.string(raw["csd_version_rva"], "CSD version")
            except FormatError as e:
                dump.warn(e.reason)
        return cls(entry, raw, csd)

    @property
    def arch_code(self) -> int:
        return self.raw["processor_architecture"]

    @property
    def cpu(self) -> str:
        """Breakpad's CPU name (``x86``, ``amd64``, ``arm``, ``arm64``...)."""
        return ARCHES.get(self.arch_code, ("unknown", "unknown", 8))[0]

    @property
    def platform(self) -> str:
        return PLATFORMS.get(self.raw["platform_id"], "unknown")

    @property
    def cpu_vendor(self) -> str | None:
        if not self.raw.has("cpu.x86_cpu_info.vendor_id"):
            return None
        ids = self.raw.get("cpu.x86_cpu_info.vendor_id")
        assert isinstance(ids, tuple)
        text = b"".join(v.to_bytes(4, "little") for v in ids)
        return text.decode("latin-1").rstrip("\0")

    @property
    def os_version(self) -> str:
        r = self.raw
        return f"{r['major_version']}.{r['minor_version']}.{r['build_number']}"


@register
class MiscInfo(Stream):
    TYPE = 15
    KEY = "misc_info"

    def __init__(self, entry: DirectoryEntry, raw: Record) -> None:
        super().__init__(entry)
        self.raw = raw

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        # The stream size decides the version; size_of_info is only cross-checked
        # (some writers leave it 0).
        declared = dump.u32(entry.rva, "misc info size")
        fitting = [m for m in L.MISC_INFO_VERSIONS if m.size <= entry.size]
        if not fitting:
            raise dump.error(entry.rva, f"misc info of {entry.size} bytes is smaller than any "
                             "version")  # fmt: skip
        if declared != entry.size:
            dump.warn(f"misc info declares size_of_info {declared} in a {entry.size}-byte stream")
        return cls(entry, dump.record(fitting[-1], entry.rva))

    def valid(self, name: str) -> bool:
        """Whether ``flags1`` says field ``name`` holds data."""
        flags = self.raw["flags1"]
        return any(flags & bit and name in names for bit, names in L.MISC_FLAGS.items())

    @property
    def process_id(self) -> int | None:
        return self.raw["process_id"] if self.valid("process_id") else None


@register
class BreakpadInfo(Stream):
    TYPE = 0x47670001
    KEY = "breakpad_info"

    def __init__(self, entry: DirectoryEntry, raw: Record) -> None:
        super().__init__(entry)
        self.raw = raw

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        if entry.size < L.BREAKPAD_INFO.size:
            raise dump.error(entry.rva, "breakpad info stream is too small")
        return cls(entry, dump.record(L.BREAKPAD_INFO, entry.rva))


# -- memory info, thread names, thread info ----------------------------------------


@register
class MemoryInfoList(Stream):
    TYPE = 16
    KEY = "memory_info_list"

    #: the fields the reader needs, at their MDRawMemoryInfo offsets
    COLUMNS = (("base_address", "u8", 0), ("region_size", "u8", 24), ("state", "u4", 32),
               ("protection", "u4", 36), ("type", "u4", 40))  # fmt: skip

    def __init__(self, entry: DirectoryEntry, raw: Record, table: npt.NDArray[np.void],
                 dump: MinidumpFile, rvas: range) -> None:  # fmt: skip
        super().__init__(entry)
        self.raw = raw
        #: one row per entry (columns of COLUMNS), decoded at once: full dumps have thousands
        self.table = table
        self._dump = dump
        self._rvas = rvas

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        raw, rvas = sized_list(dump, entry, L.MEMORY_INFO_HEADER, L.MEMORY_INFO,
                               "number_of_entries", None)  # fmt: skip
        order = "<" if dump.order == "little" else ">"
        dtype = np.dtype({"names": [c[0] for c in cls.COLUMNS],
                          "formats": [order + c[1] for c in cls.COLUMNS],
                          "offsets": [c[2] for c in cls.COLUMNS],
                          "itemsize": raw["size_of_entry"]})  # fmt: skip
        table = np.frombuffer(dump.buffer, dtype=dtype, count=len(rvas),
                              offset=rvas[0] if rvas else 0)  # fmt: skip
        return cls(entry, raw, table, dump, rvas)

    @property
    def infos(self) -> list[Record]:
        """Every entry as a raw record (decoded on demand)."""
        return [self._dump.record(L.MEMORY_INFO, rva) for rva in self._rvas]


@register
class ThreadInfoList(Stream):
    TYPE = 17
    KEY = "thread_info_list"

    def __init__(self, entry: DirectoryEntry, raw: Record, infos: list[Record]) -> None:
        super().__init__(entry)
        self.raw = raw
        self.infos = infos

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        raw, rvas = sized_list(dump, entry, L.THREAD_INFO_HEADER, L.THREAD_INFO,
                               "number_of_entries", dump.limits.max_threads)  # fmt: skip
        return cls(entry, raw, [dump.record(L.THREAD_INFO, rva) for rva in rvas])


@register
class ThreadNames(Stream):
    TYPE = 24
    KEY = "thread_names"

    def __init__(self, entry: DirectoryEntry, names: list[tuple[Record, str]]) -> None:
        super().__init__(entry)
        self.names = names

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        count, rva = dump.list_header(entry, L.COUNT32, L.THREAD_NAME.size, "count",
                                      dump.limits.max_threads, "thread names")  # fmt: skip
        names = []
        for raw in dump.records(L.THREAD_NAME, rva, count, "thread names"):
            try:
                name = dump.string(raw["rva_of_thread_name"], f"thread {raw['thread_id']} name")
            except FormatError as e:
                dump.warn(e.reason)
                continue
            names.append((raw, name))
        return cls(entry, names)

    def by_tid(self) -> dict[int, str]:
        return {raw["thread_id"]: name for raw, name in self.names}

