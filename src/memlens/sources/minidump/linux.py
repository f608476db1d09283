"""Breakpad's Linux streams: /proc files copied into the dump, auxv, maps, DSO debug."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from memlens.core.region import Region
from memlens.errors import FormatError
from memlens.sources.live.maps import parse_maps_line
from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.dumpfile import DirectoryEntry, MinidumpFile
from memlens.sources.minidump.streams import Stream, register
from memlens.sources.minidump.structs import Record


class TextStream(Stream):
    """A stream holding a file's bytes verbatim (``/proc/cpuinfo``, ``/etc/lsb-release``)."""

    def __init__(self, entry: DirectoryEntry, data: bytes) -> None:
        super().__init__(entry)
        self.data = data

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        return cls(entry, bytes(dump.stream_bytes(entry)))

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")

    def fields(self, separator: str) -> dict[str, str]:
        """``key<sep>value`` lines as a dict (the first value of a repeated key wins)."""
        out: dict[str, str] = {}
        for line in self.text.splitlines():
            key, sep, value = line.partition(separator)
            if sep and key.strip() and key.strip() not in out:
                out[key.strip()] = value.strip().strip('"')
        return out


@register
class LinuxCpuInfo(TextStream):
    TYPE = 0x47670003
    KEY = "linux_cpu_info"


@register
class LinuxProcStatus(TextStream):
    TYPE = 0x47670004
    KEY = "linux_proc_status"

    @property
    def pid(self) -> int | None:
        value = self.fields(":").get("Pid", "")
        return int(value) if value.isdigit() else None


@register
class LinuxLsbRelease(TextStream):
    TYPE = 0x47670005
    KEY = "linux_lsb_release"


class NulSeparated(TextStream):
    @property
    def items(self) -> list[str]:
        return [p.decode("utf-8", errors="replace") for p in self.data.split(b"\0") if p]


@register
class LinuxCmdLine(NulSeparated):
    TYPE = 0x47670006
    KEY = "linux_cmd_line"


@register
class LinuxEnviron(NulSeparated):
    TYPE = 0x47670007
    KEY = "linux_environ"


@register
class LinuxAuxv(Stream):
    """``/proc/PID/auxv``: (type, value) pairs of the target's word size, to AT_NULL."""

    TYPE = 0x47670008
    KEY = "linux_auxv"

    def __init__(self, entry: DirectoryEntry, pairs: list[tuple[int, int]], word: int) -> None:
        super().__init__(entry)
        self.pairs = pairs
        self.word_size = word

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        word = dump.word_size or 8
        data = bytes(dump.stream_bytes(entry))
        pairs = []
        for off in range(0, len(data) - 2 * word + 1, 2 * word):
            key = int.from_bytes(data[off : off + word], dump.order)
            value = int.from_bytes(data[off + word : off + 2 * word], dump.order)
            pairs.append((key, value))
            if key == 0:
                break
        return cls(entry, pairs, word)


@register
class LinuxMaps(TextStream):
    """``/proc/PID/maps`` of the crashed process: the named regions of the dump."""

    TYPE = 0x47670009
    KEY = "linux_maps"

    def regions(self, dump: MinidumpFile) -> list[Region]:
        """Every line as a :class:`Region`; malformed lines become warnings."""
        out = []
        bad: list[str] = []
        for n, line in enumerate(self.text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(parse_maps_line(line, dump.path, n))
            except FormatError as e:
                bad.append(e.reason)
        if bad:
            dump.warn(f"LinuxMaps stream: {len(bad)} malformed lines ignored (first: {bad[0]})")
        return out


@dataclass(frozen=True, slots=True)
class LinkMapEntry:
    raw: Record
    name: str


@register
class LinuxDsoDebug(Stream):
    """``r_debug`` and its ``link_map`` chain as Breakpad copied them."""

    TYPE = 0x4767000A
    KEY = "linux_dso_debug"

    def __init__(self, entry: DirectoryEntry, raw: Record, maps: list[LinkMapEntry]) -> None:
        super().__init__(entry)
        self.raw = raw
        self.link_maps = maps

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        if entry.size < L.DSO_DEBUG.size:
            raise dump.error(entry.rva, f"DSO debug stream of {entry.size} bytes is too small")
        raw = dump.record(L.DSO_DEBUG, entry.rva)
        count = raw["dso_count"]
        if count > dump.limits.max_modules:
            raise dump.error(entry.rva, f"DSO debug: {count} entries exceed the module limit")
        maps = []
        for rec in dump.records(L.LINK_MAP, raw["map"], count, "DSO debug link maps"):
            try:
                name = dump.string(rec["name"], "DSO debug name") if rec["name"] else ""
            except FormatError as e:
                dump.warn(e.reason)
                name = ""
            maps.append(LinkMapEntry(rec, name))
        return cls(entry, raw, maps)
