"""The stacks of every thread of a target, symbolized: what ``memlens stack`` shows.

Module files come from the symbol layer's module map (local files checked by
build id; ``exe`` names the main executable when the dump's path is not on
this machine); Breakpad symbols from ``symbol_dirs`` stores.  Each frame is
named by the module's Breakpad symbols when there are some, else by the
ELF/DWARF symbolizer chain (inline frames become frames of their own, found
by "inlining", as Breakpad and gdb show them).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memlens.core.module import Module
from memlens.core.snapshot import Snapshot, Thread
from memlens.errors import MemlensError
from memlens.symbols.breakpad_sym import InlineCall, SymbolStore
from memlens.symbols.chain import Symbolizer
from memlens.symbols.elffile import ElfFile
from memlens.symbols.modmap import ModuleFile, build_module_map
from memlens.unwind.arch import unwind_arch
from memlens.unwind.modules import UnwindModules
from memlens.unwind.stackframe import StackFrame, ThreadStack, Trust
from memlens.unwind.walker import Walker

#: largest image read from memory into a file (the vdso is 1-3 pages)
MAX_IMAGE = 1 << 20


@dataclass(slots=True)
class StackReport:
    """Every thread's frames, the modules they were resolved against, and problems."""

    snapshot: Snapshot
    threads: list[ThreadStack]
    modules: list[Module]
    main_module: Module | None
    system: SystemFacts
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SystemFacts:
    """The header minidump_stackwalk prints: OS, its version, CPU, its details, uptime."""

    os: str | None = None
    os_version: str | None = None
    cpu: str | None = None
    cpu_info: str | None = None
    cpu_count: int | None = None
    uptime: int | None = None  # seconds


#: SystemInfo platform -> the OS name Breakpad prints
_OS_NAMES = {"windows": "Windows NT", "linux": "Linux", "mac": "Mac OS X", "ios": "iOS",
             "android": "Android", "solaris": "Solaris", "fuchsia": "Fuchsia"}  # fmt: skip
#: memlens arch -> Breakpad's CPU name
_CPU_NAMES = {"i386": "x86", "x86_64": "amd64", "aarch64": "arm64", "arm": "arm"}


def _system(snap: Snapshot) -> SystemFacts:
    e = snap.extra
    cpu = _CPU_NAMES.get(snap.arch.name, snap.arch.name) if snap.arch else None
    dump = getattr(snap, "dump", None)
    if dump is None:
        return SystemFacts("Linux" if snap.format == "elfcore" else None, None, cpu)
    from memlens.sources.minidump.streams import MiscInfo, SystemInfo

    info = dump.try_stream(SystemInfo)
    version = " ".join(x for x in (e.get("os_version"), e.get("csd_version")) if x) or None
    detail = None
    if info is not None and info.cpu_vendor:
        rev = info.raw["processor_revision"]
        detail = (f"{info.cpu_vendor} family {info.raw['processor_level']} model {rev >> 8} "
                  f"stepping {rev & 0xFF}")  # fmt: skip
    uptime = None
    misc = dump.try_stream(MiscInfo)
    if misc is not None and misc.valid("process_create_time"):
        uptime = max(0, dump.header["time_date_stamp"] - misc.raw["process_create_time"])
    return SystemFacts(_OS_NAMES.get(str(e.get("platform")), e.get("platform")), version,
                       e.get("cpu", cpu), detail, e.get("cpu_count"), uptime)  # fmt: skip


def _with_exe(loaded: list[ModuleFile], exe: str | None) -> list[ModuleFile]:
    """Point the module the executable ``exe`` is (same build id, else same name) at it."""
    if exe is None:
        return loaded
    with ElfFile(exe) as elf:
        file_id, image_base = elf.build_id(), elf.image_base()
    out = []
    for m in loaded:
        mod = m.module
        same = (mod.build_id is not None and mod.build_id == file_id) or (
            mod.build_id is None and os.path.basename(mod.path) == os.path.basename(exe))
        if same and m.file is None:
            bias = mod.load_bias if mod.load_bias is not None else mod.base - image_base
            m = ModuleFile(dataclasses.replace(mod, load_bias=bias), exe, file_id)
        out.append(m)
    return out


def stack_report(snap: Snapshot, *, symbol_dirs: Sequence[str] = (), exe: str | None = None,
                 sysroot: str | None = None, debug_dirs: Sequence[str] = (),
                 scan: bool = True, threads: Sequence[int] | None = None,
                 ) -> StackReport:  # fmt: skip
    """Walk and symbolize the stacks of ``snap``'s threads (all, or the tids in ``threads``).

    Raises:
        MemlensError: ``exe`` is not a readable ELF file.
    """
    with tempfile.TemporaryDirectory(prefix="memlens-stack-") as scratch:
        return _report(snap, symbol_dirs, exe, sysroot, debug_dirs, scan, threads, scratch)


def _from_memory(snap: Snapshot, loaded: list[ModuleFile], scratch: str) -> list[ModuleFile]:
    """Modules with no file here whose whole image the dump saved (the vdso: the kernel
    keeps it in full) are read from memory into ``scratch``, so their symbols and CFI
    are found as a file's."""
    out = []
    for m in loaded:
        mod = m.module
        if m.file is None and 0 < mod.end - mod.base <= MAX_IMAGE:
            try:
                image = snap.space.read(mod.base, mod.end - mod.base)
            except MemlensError:
                image = b""
            if image[:4] == b"\x7fELF":
                name = os.path.basename(mod.path) or "image"
                path = os.path.join(scratch, f"{mod.base:x}-{name}")
                with open(path, "wb") as f:
                    f.write(image)
                try:
                    with ElfFile(path) as elf:
                        bias = mod.base - elf.image_base()
                        file_id = elf.build_id()
                    m = ModuleFile(dataclasses.replace(mod, load_bias=bias), path, file_id)
                except MemlensError:
                    pass
        out.append(m)
    return out


def _entry(snap: Snapshot) -> int | None:
    auxv = snap.extra.get("auxv")
    if isinstance(auxv, dict):
        value = auxv.get(9) or auxv.get("9")  # AT_ENTRY
        return int(value) if value else None
    return None


def _report(snap: Snapshot, symbol_dirs: Sequence[str], exe: str | None, sysroot: str | None,
            debug_dirs: Sequence[str], scan: bool, threads: Sequence[int] | None,
            scratch: str) -> StackReport:  # fmt: skip
    arch = unwind_arch(snap.arch.name) if snap.arch is not None else None
    loaded = _from_memory(snap, _with_exe(build_module_map(snap, sysroot=sysroot), exe), scratch)
    store = SymbolStore(list(symbol_dirs)) if symbol_dirs else None
    umods = UnwindModules(_with_dump_ids(snap, loaded), store)
    report = StackReport(snap, [], umods.modules, _main_module(snap, umods), _system(snap))
    if arch is None:
        report.warnings.append(f"no stack walker for {snap.arch.name if snap.arch else '?'}")
        return report
    walker = Walker(snap.space, arch, umods, scan=scan, entry=_entry(snap))
    symbolizer = Symbolizer(loaded, debug_dirs=debug_dirs, sysroot=sysroot)
    walked = []
    for thread in _ordered(snap.threads):
        if threads is None or thread.tid in threads:
            walked.append((thread, *walker.walk(thread.registers, thread.stack_end)))
    # one symbolizer batch for every frame of every thread (threads share most pcs)
    named = _symbolize([f for _, frames, _ in walked for f in frames], umods, symbolizer)
    for thread, frames, stopped in walked:
        mine = named[: len(frames)]
        del named[: len(frames)]
        report.threads.append(ThreadStack(thread.tid, thread.name, thread.crashed,
                                          [f for group in mine for f in group], stopped))
    report.warnings += umods.problems + (store.problems if store else [])
    return report


def _with_dump_ids(snap: Snapshot, loaded: list[ModuleFile]) -> list[ModuleFile]:
    """Each module with what the dump records of the module at its base (Breakpad's
    symbol store keys: debug file and id; the version it prints)."""
    by_base = {m.base: m for m in snap.modules}
    out = []
    for m in loaded:
        dump = by_base.get(m.module.base)
        ids = (dump.debug_id, dump.debug_file, dump.version) if dump else (None, None, None)
        mod = dataclasses.replace(m.module, debug_id=ids[0], debug_file=ids[1], version=ids[2])
        out.append(dataclasses.replace(m, module=mod))
    return out


def _ordered(threads: list[Thread]) -> list[Thread]:
    """The dump's order (Breakpad numbers threads by it)."""
    return list(threads)


def _main_module(snap: Snapshot, modules: UnwindModules) -> Module | None:
    if snap.format == "minidump":
        return modules.modules[0] if modules.modules else None
    for m in modules.modules:
        if m.path and not m.path.startswith("[") and "vdso" not in m.path:
            return m
    return None


@dataclass(frozen=True, slots=True)
class _Name:
    function: str | None
    function_base: int | None = None
    file: str | None = None
    line: int | None = None
    line_base: int | None = None
    inlines: tuple[InlineCall, ...] = ()


def _symbolize(frames: list[StackFrame], modules: UnwindModules,
               symbolizer: Symbolizer) -> list[list[StackFrame]]:  # fmt: skip
    """Name every frame: Breakpad symbols of its module first, else the ELF chain.  Each
    frame becomes a group: its inline frames (innermost first), then itself."""
    groups: list[list[StackFrame]] = []
    names = [_breakpad_name(f, modules) for f in frames]
    elf_rows = [i for i, n in enumerate(names) if n is None]
    elf_frames = {}
    if elf_rows:
        try:
            got = symbolizer.symbolize([frames[i].lookup_pc for i in elf_rows])
        except MemlensError:
            got = []
        elf_frames = dict(zip(elf_rows, got, strict=False))
    for i, frame in enumerate(frames):
        out: list[StackFrame] = []
        groups.append(out)
        module = modules.at(frame.lookup_pc)
        path, base = (module.path, module.base) if module is not None else (None, None)
        named = names[i]
        if named is not None and named.inlines:
            # Breakpad INLINE records: the innermost inlined function has the line record's
            # file:line; each outer one the call site of the call inside it
            where: tuple[str | None, int | None] = (named.file, named.line)
            for inlined, call_file, call_line in named.inlines:
                out.append(StackFrame(frame.pc, frame.sp, Trust.INLINE, {}, path, base,
                                      inlined, None, where[0], where[1]))  # fmt: skip
                where = (call_file, call_line)
            out.append(dataclasses.replace(frame, module=path, module_base=base,
                                           function=named.function,
                                           function_base=named.function_base, file=where[0],
                                           line=where[1]))  # fmt: skip
            continue
        if named is not None:
            out.append(dataclasses.replace(frame, module=path, module_base=base,
                                           function=named.function,
                                           function_base=named.function_base, file=named.file,
                                           line=named.line, line_base=named.line_base))  # fmt: skip
            continue
        sym = elf_frames.get(i)
        if sym is None or sym.function is None:
            near = _nearest_unsized(symbolizer, frame.lookup_pc)
            out.append(dataclasses.replace(frame, module=path, module_base=base,
                                           function=near[0] if near else None,
                                           function_base=near[1] if near else None))  # fmt: skip
            continue
        # inline frames first (innermost), the real function last with the frame's trust
        chain: list[tuple[str | None, str | None, int | None, int | None]] = [
            (sym.function, sym.file, sym.line, sym.function_offset)]
        chain += [(f.function, f.file, f.line, f.function_offset) for f in sym.inlined_by]
        for k, (function, file, line, offset) in enumerate(chain):
            if k < len(chain) - 1:
                out.append(StackFrame(frame.pc, frame.sp, Trust.INLINE, {}, path, base,
                                      function, None, file, line))  # fmt: skip
                continue
            fbase = frame.lookup_pc - offset if offset is not None else None
            out.append(dataclasses.replace(frame, module=path, module_base=base,
                                           function=function, function_base=fbase, file=file,
                                           line=line))  # fmt: skip
    return groups


def _nearest_unsized(symbolizer: Symbolizer, address: int) -> tuple[str, int] | None:
    """The nearest symbol below ``address`` when it has no size (``_start`` and other
    assembly entry points), as gdb's and elfutils' minimal-symbol lookups name it."""
    for k, m in enumerate(found.module for found in symbolizer.modules):
        if not m.base <= address < m.end or m.load_bias is None:
            continue
        table = symbolizer.module_symbols(k).symtab()
        if table is None or not len(table):
            return None
        vaddr = address - m.load_bias
        i = int(np.searchsorted(table.addresses, np.uint64(vaddr), side="right")) - 1
        if i < 0 or (table.size_known[i] and int(table.sizes[i]) != 0):
            return None
        return table.name(i), int(table.addresses[i]) + m.load_bias
    return None


def _breakpad_name(frame: StackFrame, modules: UnwindModules) -> _Name | None:
    module = modules.at(frame.lookup_pc)
    syms = modules.breakpad(module) if module is not None else None
    if module is None or syms is None:
        return None
    loc = syms.locate(frame.lookup_pc - module.base)
    if loc.function is None:
        return _Name(None)
    return _Name(loc.function, module.base + (loc.function_base or 0), loc.file, loc.line,
                 module.base + loc.line_base if loc.line_base is not None else None,
                 loc.inlines)
