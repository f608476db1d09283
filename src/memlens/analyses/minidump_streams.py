"""Every stream of a minidump as printable blocks, in the shape of Breakpad's ``minidump_dump``.

The result model is a list of :class:`Block`: a title, ``key = value`` lines
carrying their display style, and optionally a run of bytes (a memory region,
a stack).  ``render/minidump_text.py`` prints them like ``minidump_dump``;
``--json`` prints the same blocks as data.  Field names are Breakpad's, taken
from the struct tables, so the two outputs can be compared field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from memlens.errors import MemlensError
from memlens.sources.minidump.constants import stream_name
from memlens.sources.minidump.context import Context
from memlens.sources.minidump.crashpad import CrashpadInfo
from memlens.sources.minidump.dumpfile import MinidumpFile
from memlens.sources.minidump.linux import LinuxAuxv, LinuxDsoDebug, TextStream
from memlens.sources.minidump.memory import Memory64List, MemoryList, memory_ranges
from memlens.sources.minidump.streams import (
    BreakpadInfo,
    ExceptionStream,
    MemoryInfoList,
    MinidumpModule,
    MiscInfo,
    ModuleList,
    Stream,
    SystemInfo,
    ThreadInfoList,
    ThreadList,
    ThreadNames,
    UnloadedModuleList,
)
from memlens.sources.minidump.structs import Record, Value

#: label widths Breakpad fixes wider than the fields actually printed
WIDTHS = {"MDRawModule": 31, "MDRawMiscInfo": 28}
#: array fields whose index Breakpad pads to two columns
PADDED_INDEX = {"exception_record.exception_information"}


@dataclass(frozen=True, slots=True)
class Line:
    """``key = value``; ``key`` None is a free text line.  ``style`` says how to show it."""

    key: str | None
    value: Value | str | None
    style: str = "x"


@dataclass(slots=True)
class Block:
    stream: str  # the stream KEY it belongs to ("header", "directory", "thread_list"...)
    title: list[str]
    lines: list[Line] = field(default_factory=list)
    width: int | None = None
    data_label: str | None = None
    #: a zero-copy view into the mapped file (a full dump's regions are large)
    data: bytes | memoryview | None = None
    data_error: str | None = None


def record_lines(rec: Record, limits: dict[str, int] | None = None) -> list[Line]:
    """A record's visible fields, arrays split into ``name[i]`` lines."""
    out = []
    for fd, value in rec.items():
        if fd.style == "hidden":
            continue
        if isinstance(value, tuple) and fd.style != "pair":
            count = (limits or {}).get(fd.name, len(value))
            for i, v in enumerate(value[:count]):
                index = f"[{i:2d}]" if fd.name in PADDED_INDEX else f"[{i}]"
                out.append(Line(fd.name + index, v, "x"))
        else:
            out.append(Line(fd.name, value, fd.style))
    return out


def _block(stream: str, title: list[str], rec: Record, **kw: object) -> Block:
    lines = record_lines(rec, kw.pop("limits", None))  # type: ignore[arg-type]
    return Block(stream, [*title, rec.layout.name], lines, WIDTHS.get(rec.layout.name), **kw)  # type: ignore[arg-type]


def _context_block(stream: str, context: Context | None) -> Block:
    if context is None:
        return Block(stream, ["(no context)"])
    return _block(stream, [], context.raw)


def _memory(dump: MinidumpFile, rva: int, size: int) -> tuple[memoryview | None, str | None]:
    try:
        return dump.bytes_at(rva, size, "memory"), None
    except MemlensError as e:
        return None, str(e)


def header_blocks(dump: MinidumpFile) -> list[Block]:
    blocks = [_block("header", [], dump.header)]
    for entry in dump.directory:
        blocks.append(_block("directory", [f"mDirectory[{entry.index}]"], entry.raw))
    # Breakpad's stream map: one line per type, sorted; the last unused entry wins.
    by_type = {e.stream_type: e for e in dump.directory if e.stream_type == 0}
    by_type.update(dump.streams)
    lines = [Line(None, f"stream type {t:#x} ({stream_name(t)}) at index {e.index}")
             for t, e in sorted(by_type.items())]  # fmt: skip
    blocks.append(Block("directory", ["Streams:"], lines))
    return blocks


def _threads(dump: MinidumpFile, s: ThreadList) -> Iterator[Block]:
    yield Block(s.KEY, ["MinidumpThreadList"], [Line("thread_count", len(s.threads), "d")])
    for i, t in enumerate(s.threads):
        yield _block(s.KEY, [f"thread[{i}]"], t.raw)
        yield _context_block(s.KEY, t.context)
        data, error = None, None
        if t.stack_rva:
            data, error = _memory(dump, t.stack_rva, t.stack_size)
        else:
            # A null rva: the stack's bytes are in the memory lists.
            hits = [r for r in memory_ranges(dump) if r.start <= t.stack_start
                    and t.stack_start + t.stack_size <= r.start + r.size]  # fmt: skip
            if hits:
                r = hits[0]
                data, error = _memory(dump, r.rva + t.stack_start - r.start, t.stack_size)
            else:
                error = "stack descriptor has no rva and no memory range holds it"
        yield Block(s.KEY, [], data_label="Stack", data=data, data_error=error)


def _cv_lines(m: MinidumpModule) -> list[Line]:
    cv = m.codeview
    if cv is None:
        return [Line("(cv_record)", None, "null")]
    lines = [Line("(cv_record).cv_signature", cv.raw["cv_signature"])]
    if cv.kind == "RSDS":
        lines += [Line("(cv_record).signature", cv.guid, "raw"),
                  Line("(cv_record).age", cv.age, "d"),
                  Line("(cv_record).pdb_file_name", cv.pdb_file_name, "str")]  # fmt: skip
    elif cv.kind == "NB10":
        lines += [Line("(cv_record).cv_header.offset", cv.raw["cv_offset"]),
                  Line("(cv_record).signature", cv.raw["signature"]),
                  Line("(cv_record).age", cv.age, "d"),
                  Line("(cv_record).pdb_file_name", cv.pdb_file_name, "str")]  # fmt: skip
    elif cv.kind == "BpEL":
        lines.append(Line("(cv_record).build_id", cv.build_id or b"", "hex"))
    else:
        lines.append(Line("(cv_record)", cv.data, "bytes"))
    return lines


def _modules(s: ModuleList) -> Iterator[Block]:
    yield Block(s.KEY, ["MinidumpModuleList"], [Line("module_count", len(s.modules), "d")])
    for i, m in enumerate(s.modules):
        block = _block(s.KEY, [f"module[{i}]"], m.raw)
        block.lines += [Line("(code_file)", m.code_file, "str"),
                        Line("(code_identifier)", m.code_identifier, "str"),
                        *_cv_lines(m),
                        Line("(misc_record)", m.misc, "null" if m.misc is None else "bytes"),
                        Line("(debug_file)", m.debug_file, "str"),
                        Line("(debug_identifier)", m.debug_identifier, "str"),
                        Line("(version)", m.version, "str")]  # fmt: skip
        yield block


def _memory_list(dump: MinidumpFile, s: MemoryList) -> Iterator[Block]:
    yield Block(s.KEY, ["MinidumpMemoryList"], [Line("region_count", len(s.descriptors), "d")])
    for i, d in enumerate(s.descriptors):
        data, error = _memory(dump, d["memory.rva"], d["memory.data_size"])
        yield _block(s.KEY, [f"region[{i}]"], d, data_label="Memory", data=data,
                     data_error=error)  # fmt: skip


def _memory64_list(dump: MinidumpFile, s: Memory64List) -> Iterator[Block]:
    yield _block(s.KEY, ["MinidumpMemory64List"], s.raw)
    for i, (d, r) in enumerate(zip(s.descriptors(), s.ranges(), strict=True)):
        data, error = _memory(dump, r.rva, r.size)
        block = _block(s.KEY, [f"region[{i}]"], d, data_label="Memory", data=data,
                       data_error=error)  # fmt: skip
        block.lines.append(Line("(rva)", r.rva))
        yield block


def _exception(s: ExceptionStream) -> Iterator[Block]:
    yield _block(s.KEY, [], s.raw, limits={
        "exception_record.exception_information": s.raw["exception_record.number_parameters"]})
    yield _context_block(s.KEY, s.context)


def _system_info(s: SystemInfo) -> Iterator[Block]:
    lines = record_lines(s.raw)
    cpu = "x86_cpu_info" if s.raw.has("cpu.x86_cpu_info.vendor_id") else "other_cpu_info"
    first = next(i for i, ln in enumerate(lines) if ln.key and ln.key.startswith("cpu."))
    lines.insert(first, Line(None, f"cpu.{cpu} (valid):"))
    csd = s.csd_version
    lines.append(Line("(csd_version)", csd, "str" if csd is not None else "null"))
    lines.append(Line("(cpu_vendor)", s.cpu_vendor, "str" if s.cpu_vendor else "null"))
    yield Block(s.KEY, [s.raw.layout.name], lines)


def _misc_info(s: MiscInfo) -> Iterator[Block]:
    lines = [ln for ln in record_lines(s.raw)
             if ln.key in ("size_of_info", "flags1") or (ln.key and s.valid(ln.key.split("[")[0]))]
    yield Block(s.KEY, [s.raw.layout.name], lines, WIDTHS["MDRawMiscInfo"])


def _listed(s: Stream, title: str, header: Record | None, items: list[Record],
            names: list[str] | None = None) -> Iterator[Block]:  # fmt: skip
    if header is not None:
        yield _block(s.KEY, [title], header)
    else:
        yield Block(s.KEY, [title], [Line("count", len(items), "d")])
    for i, rec in enumerate(items):
        block = _block(s.KEY, [f"entry[{i}]"], rec)
        if names is not None:
            block.lines.append(Line("(name)", names[i], "str"))
        yield block


def _text(s: TextStream) -> Iterator[Block]:
    yield Block(s.KEY, [f"{stream_name(s.TYPE)}:"], [Line(None, s.text, "verbatim")])


def _auxv(s: LinuxAuxv) -> Iterator[Block]:
    lines = [Line(f"AT[{key}]", value) for key, value in s.pairs]
    yield Block(s.KEY, ["MD_LINUX_AUXV:"], lines)


def _dso_debug(s: LinuxDsoDebug) -> Iterator[Block]:
    yield _block(s.KEY, ["MD_LINUX_DSO_DEBUG:"], s.raw)
    for i, lm in enumerate(s.link_maps):
        block = _block(s.KEY, [f"link_map[{i}]"], lm.raw)
        block.lines.append(Line("(name)", lm.name, "str"))
        yield block


def _crashpad(s: CrashpadInfo) -> Iterator[Block]:
    block = _block(s.KEY, [], s.raw)
    block.lines += [Line("(report_id)", s.report_id, "raw"),
                    Line("(client_id)", s.client_id, "raw")]  # fmt: skip
    block.lines += [Line(f"(simple_annotations)[{k}]", v, "str")
                    for k, v in s.simple_annotations.items()]  # fmt: skip
    yield block
    for m in s.modules:
        mb = _block(s.KEY, [f"module_info[{m.module_index}]"], m.raw)
        mb.lines += [Line(f"(list_annotations)[{i}]", v, "str")
                     for i, v in enumerate(m.list_annotations)]  # fmt: skip
        mb.lines += [Line(f"(simple_annotations)[{k}]", v, "str")
                     for k, v in m.simple_annotations.items()]  # fmt: skip
        mb.lines += [Line(f"(annotation)[{a.name}]", a.value, "bytes")
                     for a in m.annotation_objects]  # fmt: skip
        yield mb


def _listed_infos(_: MinidumpFile, s: Stream) -> Iterator[Block]:
    assert isinstance(s, (MemoryInfoList, ThreadInfoList))
    title = "MinidumpMemoryInfoList" if isinstance(s, MemoryInfoList) else "MinidumpThreadInfoList"
    return _listed(s, title, s.raw, s.infos)


def _unloaded(_: MinidumpFile, s: UnloadedModuleList) -> Iterator[Block]:
    return _listed(s, "MinidumpUnloadedModuleList", s.raw, [m.raw for m in s.modules],
                   [m.name for m in s.modules])  # fmt: skip


def _thread_names(_: MinidumpFile, s: ThreadNames) -> Iterator[Block]:
    return _listed(s, "MinidumpThreadNamesList", None, [r for r, _ in s.names],
                   [n for _, n in s.names])  # fmt: skip


def _plain(_: MinidumpFile, s: Stream) -> Iterator[Block]:
    raw = getattr(s, "raw", None)
    assert isinstance(raw, Record)
    yield _block(s.KEY, [], raw)


Printer = Callable[[MinidumpFile, Any], Iterable[Block]]

#: stream class -> how its blocks are made (subclasses resolve through the MRO)
PRINTERS: dict[type[Stream], Printer] = {
    ThreadList: _threads,
    ModuleList: lambda _, s: _modules(s),
    MemoryList: _memory_list,
    Memory64List: _memory64_list,
    ExceptionStream: lambda _, s: _exception(s),
    SystemInfo: lambda _, s: _system_info(s),
    MiscInfo: lambda _, s: _misc_info(s),
    BreakpadInfo: _plain,
    MemoryInfoList: _listed_infos,
    ThreadInfoList: _listed_infos,
    UnloadedModuleList: _unloaded,
    ThreadNames: _thread_names,
    LinuxAuxv: lambda _, s: _auxv(s),
    TextStream: lambda _, s: _text(s),
    LinuxDsoDebug: lambda _, s: _dso_debug(s),
    CrashpadInfo: lambda _, s: _crashpad(s),
}


def stream_blocks(dump: MinidumpFile, stream: Stream) -> list[Block]:
    """The blocks of one parsed stream."""
    for cls in type(stream).__mro__:
        printer = PRINTERS.get(cls)
        if printer is not None:
            return list(printer(dump, stream))
    return []  # a stream class without a printer is listed as unknown by all_blocks


#: the order streams are printed in (Breakpad's order first)
ORDER = (3, 4, 14, 5, 9, 6, 7, 15, 0x47670001, 16, 24, 17, 0x47670003, 0x47670004, 0x47670005,
         0x47670006, 0x47670007, 0x47670008, 0x47670009, 0x4767000A, 0x43500001)  # fmt: skip


def stream_keys() -> dict[str, int]:
    """``--stream`` names: each class KEY and Breakpad constant name -> stream type."""
    keys = {"header": -1, "directory": -2}
    for type_, cls in MinidumpFile.registry.items():
        keys[cls.KEY] = type_
        keys[stream_name(type_).lower()] = type_
    return keys


def all_blocks(dump: MinidumpFile, only: int | None = None) -> list[Block]:
    """Blocks for the whole dump (or for stream type ``only``); corrupt streams become errors."""
    blocks: list[Block] = []
    if only in (None, -1, -2):
        head = header_blocks(dump)
        blocks += [b for b in head if only is None or b.stream == ("header" if only == -1
                                                                   else "directory")]  # fmt: skip
        if only is not None:
            return blocks
    types = [t for t in ORDER if t in dump.streams]
    types += sorted(t for t in dump.streams if t not in ORDER)
    for type_ in types:
        if only is not None and type_ != only:
            continue
        entry = dump.streams[type_]
        cls = MinidumpFile.registry.get(type_)
        if cls is None:
            blocks.append(Block("unknown", [f"{entry.name} ({type_:#x})"],
                                [Line("location.data_size", entry.size, "d"),
                                 Line("location.rva", entry.rva)]))  # fmt: skip
            continue
        try:
            stream = dump.stream(cls)
        except MemlensError as e:
            blocks.append(Block(cls.KEY, [f"{entry.name}: unreadable"], [Line(None, str(e))]))
            continue
        if stream is not None:
            blocks += stream_blocks(dump, stream)
    return blocks


__all__ = ["Block", "Line", "all_blocks", "stream_blocks", "stream_keys"]
