"""Minidump reader (Windows, Breakpad, Crashpad): ``probe`` and ``load`` for the registry.

``load`` maps the file, validates its header and directory (a bad one is
refused with one :class:`FormatError`), then builds a :class:`Snapshot` from
whichever streams are readable; a corrupt stream becomes a warning in
``Snapshot.warnings`` and the rest of the dump is still used.

Regions come from MemoryInfoList when present (what Windows knew), else from
the Breakpad LinuxMaps stream, else from the saved memory ranges themselves.
Parts of a region whose bytes the dump does not hold are mapped but *not
saved*: reading them raises instead of returning zeroes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from memlens.core import crash
from memlens.core import ids as ids_
from memlens.core.addrspace import AddressSpace
from memlens.core.backing import BufferBacking
from memlens.core.crash import CrashInfo
from memlens.core.module import Module
from memlens.core.rangemap import Overlap, RangeMap
from memlens.core.region import Perms, Region, RegionKind
from memlens.core.snapshot import Arch, Snapshot, Thread
from memlens.sources.minidump import constants
from memlens.sources.minidump.columnar import fast_space
from memlens.sources.minidump.crashpad import CrashpadInfo
from memlens.sources.minidump.dumpfile import Limits, MinidumpFile
from memlens.sources.minidump.linux import LinuxCmdLine, LinuxLsbRelease, LinuxMaps, LinuxProcStatus
from memlens.sources.minidump.memory import (
    TOP,
    MemoryRange,
    memory_ranges,
    not_saved_gaps,
    unified_segments,
)
from memlens.sources.minidump.streams import (
    BreakpadInfo,
    ExceptionStream,
    MemoryInfoList,
    MinidumpModule,
    MiscInfo,
    ModuleList,
    SystemInfo,
    ThreadList,
    ThreadNames,
)
from memlens.sources.options import OpenOptions

NAME = "minidump"
#: platforms whose Exception stream holds a Mach exception (type, code in the flags)
MACH_PLATFORMS = frozenset({0x8101, 0x8102})


class MinidumpSnapshot(Snapshot):
    """A :class:`Snapshot` that also keeps the parsed file (``.dump``) for stream access."""

    def __init__(self, dump: MinidumpFile, backing: BufferBacking, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dump = dump
        self._backing = backing

    def close(self) -> None:
        # Regions are built from the mapped file on first use: build them before it
        # goes, so a closed snapshot still lists them (as the general path's would).
        _ = self.space.regions
        with contextlib.suppress(BufferError):  # arrays handed out still use the mapping
            self._backing.release()
        self.dump.close()

    def __enter__(self) -> MinidumpSnapshot:
        return self


def load(path: str, options: OpenOptions) -> MinidumpSnapshot:
    """Open a minidump.

    Raises:
        FormatError: not a minidump, or its header or stream directory is corrupt.
    """
    dump = MinidumpFile(path, Limits.from_extra(options.extra))
    with dump.guard(None, "minidump"):
        return _build(dump)


def _build(dump: MinidumpFile) -> MinidumpSnapshot:
    sysinfo = dump.try_stream(SystemInfo)
    backing = BufferBacking(dump.mapping if dump.mapping is not None else b"")
    modules = _modules(dump, sysinfo)
    threads, crash = _threads(dump, sysinfo)
    arch = _arch(dump, sysinfo, threads)

    def regions_later() -> list[Region]:
        # Built on first use, after load() returned: same error wrapping as at load.
        with dump.guard(None, "minidump"):
            return _regions(dump, modules, threads, lambda: memory_ranges(dump))

    space = fast_space(dump, backing, regions_later, arch.word_size)
    if space is None:
        space = _general_space(dump, backing, modules, threads, arch)
    misc = dump.try_stream(MiscInfo)
    status = dump.try_stream(LinuxProcStatus)
    pid = misc.process_id if misc is not None else None
    if pid is None and status is not None:
        pid = status.pid
    cmdline = dump.try_stream(LinuxCmdLine)
    return MinidumpSnapshot(
        dump,
        backing,
        format=NAME,
        source=dump.path,
        space=space,
        arch=arch,
        threads=threads,
        modules=modules,
        pid=pid,
        command_line=" ".join(cmdline.items) if cmdline is not None else None,
        crash=crash,
        page_size=4096,
        warnings=dump.warnings,
        extra=_extra(dump, sysinfo, misc),
    )


def _general_space(dump: MinidumpFile, backing: BufferBacking, modules: list[Module],
                   threads: list[Thread], arch: Arch) -> AddressSpace:  # fmt: skip
    """The address space of any dump: overlaps, cut-off and odd ranges repaired with warnings."""
    segments, ranges = unified_segments(dump, backing)
    regions = _regions(dump, modules, threads, lambda: ranges)
    # Parts of accessible regions the dump holds no bytes for: mapped, not saved.
    gaps = not_saved_gaps([(r.start, r.end) for r in regions
                           if r.perms.read or r.perms.write or r.perms.execute], segments)
    ordered = sorted(segments, key=lambda sg: sg.start)
    if all(a.end <= b.start for a, b in itertools.pairwise(ordered)):
        # Disjoint: hand over in address order (the linear RangeMap path).
        merged = sorted(ordered + gaps, key=lambda sg: sg.start)
    else:
        merged = segments + gaps  # overlaps: list order decides who wins
    return AddressSpace(regions, merged, word_size=arch.word_size,
                        byteorder=dump.order, overlap=Overlap.KEEP_FIRST)  # fmt: skip


def _arch(dump: MinidumpFile, sysinfo: SystemInfo | None, threads: list[Thread]) -> Arch:
    if sysinfo is not None and sysinfo.arch_code in constants.ARCHES:
        _, name, word = constants.ARCHES[sysinfo.arch_code]
        return Arch(name, word, dump.order)
    # No SystemInfo: the register names of the contexts tell the CPU.
    for thread in threads:
        if "rip" in thread.registers:
            return Arch("x86_64", 8, dump.order)
        if "eip" in thread.registers:
            return Arch("i386", 4, dump.order)
        if "x0" in thread.registers:
            return Arch("aarch64", 8, dump.order)
        if "r0" in thread.registers:
            return Arch("arm", 4, dump.order)
    return Arch("unknown", 8, dump.order)


def _code_id(m: MinidumpModule, platform: int | None) -> str:
    """Windows: time stamp + size; ELF: the build id; macOS: the UUID (stored as the GUID)."""
    cv = m.codeview
    if platform in MACH_PLATFORMS and cv is not None and cv.kind == "RSDS":
        d4 = cv.raw.get("signature.data4")
        assert isinstance(d4, bytes)
        return ids_.mac_uuid(cv.raw["signature.data1"], cv.raw["signature.data2"],
                             cv.raw["signature.data3"], d4)  # fmt: skip
    return m.code_identifier


def _modules(dump: MinidumpFile, sysinfo: SystemInfo | None = None) -> list[Module]:
    platform = sysinfo.raw["platform_id"] if sysinfo is not None else None
    stream = dump.try_stream(ModuleList)
    if stream is None:
        return []
    out = []
    for m in stream.modules:
        end = m.base + m.size
        if end > TOP:
            dump.warn(f"module {m.name!r} at {m.base:#x} wraps past the top of the address space")
            end = TOP
        build_id = m.codeview.build_id if m.codeview is not None else None
        out.append(Module(m.name, m.base, end, build_id, m.debug_identifier,
                          code_id=_code_id(m, platform), debug_file=m.debug_file,
                          version=m.version or None))  # fmt: skip
    return out


def _threads(
    dump: MinidumpFile, sysinfo: SystemInfo | None
) -> tuple[list[Thread], CrashInfo | None]:
    exc = dump.try_stream(ExceptionStream)
    names_stream = dump.try_stream(ThreadNames)
    names = names_stream.by_tid() if names_stream is not None else {}
    stream = dump.try_stream(ThreadList)
    threads = []
    for t in stream.threads if stream is not None else []:
        crashed = exc is not None and exc.thread_id == t.tid
        # The exception's context is the one at the fault; the thread list holds
        # the handler's for the crashing thread in Breakpad dumps.
        context = exc.context if crashed and exc is not None and exc.context else t.context
        end = min(t.stack_start + t.stack_size, TOP)
        kind = context.kind if context else None
        threads.append(Thread(t.tid, names.get(t.tid), context.registers if context else {},
                              crashed, t.stack_start, end, kind.pc if kind else None,
                              kind.sp if kind else None, kind.fp if kind else None))  # fmt: skip
    return threads, (_crash(exc, sysinfo) if exc is not None else None)


def _crash(exc: ExceptionStream, sysinfo: SystemInfo | None) -> CrashInfo:
    """The exception stream decoded per platform, with Breakpad's reason string.

    The crash address is ``exception_address`` as the dump holds it (Breakpad
    prints it for every platform), except for a Windows access violation,
    whose data address is ``ExceptionInformation[1]``.
    """
    platform = sysinfo.raw["platform_id"] if sysinfo is not None else None
    arm = sysinfo is not None and sysinfo.arch_code in (5, 12, 0x8003)
    params = exc.parameters
    if platform in MACH_PLATFORMS:
        reason = crash.mach_reason(exc.code, exc.flags, arm)
        return CrashInfo(exc.thread_id, code=exc.code, address=exc.address, description=reason,
                         os=constants.PLATFORMS[platform], parameters=params)  # fmt: skip
    posix = (platform in constants.POSIX_PLATFORMS if platform is not None
             else exc.code < 0x100 or exc.code == crash.DUMP_REQUESTED)  # fmt: skip
    if posix:
        # Breakpad and Crashpad on Linux: exception_code = signal, exception_flags =
        # si_code, exception_address = si_addr.  For a signal a process sent (si_code <= 0)
        # si_addr's bytes are si_pid (low half) and si_uid (high half).
        si_code = exc.flags - (1 << 32) if exc.flags >= 1 << 31 else exc.flags
        signo = None if exc.code == crash.DUMP_REQUESTED else exc.code
        sent = signo is not None and si_code <= 0
        return CrashInfo(exc.thread_id, signal=signo, code=si_code, address=exc.address,
                         description=crash.breakpad_signal_reason(exc.code, si_code),
                         os=constants.PLATFORMS.get(platform or 0x8201, "posix"), parameters=params,
                         sender_pid=exc.address & 0xFFFFFFFF if sent else None,
                         sender_uid=exc.address >> 32 if sent else None)  # fmt: skip
    reason, data_address = crash.windows_reason(exc.code, params)
    address = data_address if data_address is not None else exc.address
    return CrashInfo(exc.thread_id, code=exc.code, address=address, description=reason,
                     os="windows", parameters=params)  # fmt: skip


Naming = tuple[str, RegionKind, str | None]


def _namer(modules: list[Module], threads: list[Thread]) -> RangeMap[Naming]:
    items: list[tuple[int, int, Naming]] = []
    for t in threads:
        if t.stack_start is not None and t.stack_end is not None:
            items.append((t.stack_start, t.stack_end, (f"[stack:{t.tid}]", RegionKind.STACK, None)))
    for m in modules:
        items.append((m.base, m.end, (m.path, RegionKind.FILE, m.path or None)))
    return RangeMap(items, Overlap.KEEP_FIRST)


def _names_for(namer: RangeMap[Naming], starts: npt.NDArray[np.uint64],
               ends: npt.NDArray[np.uint64]) -> list[Naming | None]:  # fmt: skip
    """For each region ``[start, end)`` the naming range overlapping it, if any (vectorized).

    By overlap, not by start: a stack region usually begins below the saved
    stack (the reservation), an image region may start mid-module.  The naming
    ranges are sorted and disjoint, so the last one starting before ``end`` is
    the only candidate to check.
    """
    items = list(namer)
    if not items or not len(starts):
        return [None] * len(starts)
    n_starts = np.array([s for s, _, _ in items], dtype=np.uint64)
    n_lasts = np.array([e - 1 for _, e, _ in items], dtype=np.uint64)
    idx = np.searchsorted(n_starts, ends - np.uint64(1), side="right").astype(np.int64) - 1
    hit = (idx >= 0) & (n_lasts[np.maximum(idx, 0)] >= starts)
    return [items[i][2] if h else None for i, h in zip(idx.tolist(), hit.tolist(), strict=True)]


@functools.cache
def _perms(protection: int) -> Perms:
    r, w, x = constants.PROTECTIONS.get(protection & 0xFF, (False, False, False))
    return Perms(r, w, x, False)


def _regions(dump: MinidumpFile, modules: list[Module], threads: list[Thread],
             ranges: Callable[[], list[MemoryRange]]) -> list[Region]:  # fmt: skip
    """Regions from MemoryInfoList, else LinuxMaps, else the memory ranges (asked for only then)."""
    namer = _namer(modules, threads)

    def named(start: int, end: int, perms: Perms, kind: RegionKind) -> Region:
        # By overlap, not by start: a stack region usually begins below the
        # saved stack (the reservation), an image region may start mid-module.
        hit = next(namer.overlapping(start, end), None)
        if hit is None:
            return Region(start, end, perms, 0, "", kind)
        name, hkind, path = hit[2]
        return Region(start, end, perms, 0, name, hkind, path)

    candidates: list[Region] = []
    infos = dump.try_stream(MemoryInfoList)
    maps = dump.try_stream(LinuxMaps)
    if infos is not None:
        t = infos.table
        start, size = t["base_address"], t["region_size"]
        # Not free, not empty, not wrapping: 2**64 - start (mod 2**64) bounds the size.
        keep = (t["state"] != constants.MEM_FREE) & (size > 0) & ((start == 0) | (size <= -start))
        rows = t[keep]
        names = _names_for(namer, rows["base_address"], rows["base_address"] + rows["region_size"])
        for (start_, size_, state, protection, type_), naming in zip(rows.tolist(), names,
                                                                     strict=True):  # fmt: skip
            perms = _perms(protection) if state == constants.MEM_COMMIT else Perms(False)
            if naming is not None:
                name, kind, path = naming
            else:
                name, path = "", None
                kind = (RegionKind.FILE if type_ in (constants.MEM_IMAGE, constants.MEM_MAPPED)
                        else RegionKind.ANON)  # fmt: skip
            candidates.append(Region(start_, start_ + size_, perms, 0, name, kind, path))
    elif maps is not None:
        candidates = maps.regions(dump)
    else:
        # Overlaps between ranges were reported with the memory; split them silently.
        pieces = RangeMap(((r.start, r.start + r.size, r) for r in ranges()), Overlap.KEEP_FIRST)
        candidates = [named(start, end, Perms(), RegionKind.UNKNOWN) for start, end, _ in pieces]
    # Keep the first of overlapping regions (a region cannot be in two places).
    if all(r.start < r.end for r in candidates) and all(
        a.end <= b.start for a, b in itertools.pairwise(candidates)
    ):
        return candidates  # already in address order, no overlap (the usual case)
    kept = RangeMap(((r.start, r.end, r) for r in candidates), Overlap.KEEP_FIRST)
    if kept.conflicts:
        dump.warn(f"{len(kept.conflicts)} overlapping regions: the first of each kept")
    seen: set[int] = set()
    out = []
    for _, _, region in kept:
        if id(region) not in seen:
            seen.add(id(region))
            out.append(region)
    return out


def _time(stamp: int) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _extra(dump: MinidumpFile, sysinfo: SystemInfo | None, misc: MiscInfo | None) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "byte_order": dump.order,
        "dump_time": _time(dump.header["time_date_stamp"]),
        "streams": [f"{e.name} ({e.stream_type:#x}, {e.size} bytes)" for e in dump.directory
                    if e.stream_type != 0],
    }  # fmt: skip
    if sysinfo is not None:
        extra.update(cpu=sysinfo.cpu, platform=sysinfo.platform, os_version=sysinfo.os_version,
                     cpu_count=sysinfo.raw["number_of_processors"])  # fmt: skip
        if sysinfo.csd_version:
            extra["csd_version"] = sysinfo.csd_version
        if sysinfo.cpu_vendor:
            extra["cpu_vendor"] = sysinfo.cpu_vendor
    if misc is not None:
        if misc.valid("process_create_time"):
            extra["process_create_time"] = _time(misc.raw["process_create_time"])
        if misc.valid("processor_max_mhz") and misc.raw.has("processor_max_mhz"):
            extra["processor_max_mhz"] = misc.raw["processor_max_mhz"]
    lsb = dump.try_stream(LinuxLsbRelease)
    if lsb is not None:
        fields = lsb.fields("=")
        extra["os_release"] = fields.get("DISTRIB_DESCRIPTION") or fields.get("PRETTY_NAME", "")
    info = dump.try_stream(BreakpadInfo)
    if info is not None and info.raw["validity"] & 2:
        extra["requesting_thread_id"] = info.raw["requesting_thread_id"]
    crashpad = dump.try_stream(CrashpadInfo)
    if crashpad is not None:
        extra["crashpad_report_id"] = crashpad.report_id
        if crashpad.simple_annotations:
            extra["annotations"] = dict(crashpad.simple_annotations)
    return extra
