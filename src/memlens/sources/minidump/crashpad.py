"""Crashpad's info stream: report/client ids and the annotations modules left behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.codeview import guid_text
from memlens.sources.minidump.dumpfile import DirectoryEntry, MinidumpFile
from memlens.sources.minidump.streams import Stream, register
from memlens.sources.minidump.structs import ByteOrder, Record


def _guid(raw: bytes, order: ByteOrder) -> str:
    d1 = int.from_bytes(raw[0:4], order)
    d2 = int.from_bytes(raw[4:6], order)
    d3 = int.from_bytes(raw[6:8], order)
    return guid_text(d1, d2, d3, raw[8:16])


def _dictionary(dump: MinidumpFile, size: int, rva: int, what: str) -> dict[str, str]:
    """A MinidumpSimpleStringDictionary: count, then (key rva, value rva) pairs."""
    if not size:
        return {}
    count = dump.u32(rva, what)
    if 4 + count * L.STRING_PAIR.size > size:
        raise dump.error(rva, f"{what}: {count} entries do not fit {size} bytes")
    out = {}
    for rec in dump.records(L.STRING_PAIR, rva + 4, count, what):
        out[dump.utf8_string(rec["key"], what)] = dump.utf8_string(rec["value"], what)
    return out


def _string_list(dump: MinidumpFile, size: int, rva: int, what: str) -> list[str]:
    """A MinidumpRVAList of UTF-8 strings."""
    if not size:
        return []
    count = dump.u32(rva, what)
    if 4 + 4 * count > size:
        raise dump.error(rva, f"{what}: {count} entries do not fit {size} bytes")
    return [dump.utf8_string(dump.u32(rva + 4 + 4 * i, what), what) for i in range(count)]


@dataclass(frozen=True, slots=True)
class Annotation:
    name: str
    type: int
    value: bytes


def _annotations(dump: MinidumpFile, size: int, rva: int, what: str) -> list[Annotation]:
    if not size:
        return []
    count = dump.u32(rva, what)
    if 4 + count * L.ANNOTATION.size > size:
        raise dump.error(rva, f"{what}: {count} entries do not fit {size} bytes")
    out = []
    for rec in dump.records(L.ANNOTATION, rva + 4, count, what):
        name = dump.utf8_string(rec["name"], what)
        length = dump.u32(rec["value"], what)
        value = bytes(dump.bytes_at(rec["value"] + 4, length, what))
        out.append(Annotation(name, rec["type"], value))
    return out


@dataclass(frozen=True, slots=True)
class ModuleAnnotations:
    raw: Record
    module_index: int
    list_annotations: list[str]
    simple_annotations: dict[str, str]
    annotation_objects: list[Annotation]


@register
class CrashpadInfo(Stream):
    TYPE = 0x43500001
    KEY = "crashpad_info"

    def __init__(self, entry: DirectoryEntry, raw: Record, simple: dict[str, str],
                 modules: list[ModuleAnnotations], order: ByteOrder) -> None:  # fmt: skip
        super().__init__(entry)
        self.order: ByteOrder = order
        self.raw = raw
        self.simple_annotations = simple
        self.modules = modules

    @classmethod
    def parse(cls, dump: MinidumpFile, entry: DirectoryEntry) -> Self:
        if entry.size < L.CRASHPAD_INFO.size:
            raise dump.error(entry.rva, f"crashpad info of {entry.size} bytes is too small")
        raw = dump.record(L.CRASHPAD_INFO, entry.rva)
        simple = _dictionary(dump, raw["simple_annotations.data_size"],
                             raw["simple_annotations.rva"], "crashpad simple annotations")
        modules = []
        size, rva = raw["module_list.data_size"], raw["module_list.rva"]
        if size:
            count = dump.u32(rva, "crashpad module list")
            if 4 + count * L.CRASHPAD_MODULE_LINK.size > size:
                raise dump.error(rva, f"crashpad module list: {count} entries do not fit")
            links = dump.records(L.CRASHPAD_MODULE_LINK, rva + 4, count, "crashpad module list")
            for link in links:
                modules.append(_module_info(dump, link))
        return cls(entry, raw, simple, modules, dump.order)

    @property
    def report_id(self) -> str:
        value = self.raw.get("report_id")
        assert isinstance(value, bytes)
        return _guid(value, self.order)

    @property
    def client_id(self) -> str:
        value = self.raw.get("client_id")
        assert isinstance(value, bytes)
        return _guid(value, self.order)


def _module_info(dump: MinidumpFile, link: Record) -> ModuleAnnotations:
    size, rva = link["location.data_size"], link["location.rva"]
    what = f"crashpad module {link['minidump_module_list_index']}"
    layout = (L.CRASHPAD_MODULE_INFO_OBJECTS if size >= L.CRASHPAD_MODULE_INFO_OBJECTS.size
              else L.CRASHPAD_MODULE_INFO)  # fmt: skip
    if size < L.CRASHPAD_MODULE_INFO.size:
        raise dump.error(rva, f"{what}: {size} bytes is too small")
    rec = dump.record(layout, rva, what)
    objects: list[Annotation] = []
    if rec.has("annotation_objects.rva"):
        objects = _annotations(dump, rec["annotation_objects.data_size"],
                               rec["annotation_objects.rva"], f"{what} annotations")
    return ModuleAnnotations(
        rec, link["minidump_module_list_index"],
        _string_list(dump, rec["list_annotations.data_size"], rec["list_annotations.rva"],
                     f"{what} list annotations"),
        _dictionary(dump, rec["simple_annotations.data_size"], rec["simple_annotations.rva"],
                    f"{what} simple annotations"),
        objects,
    )  # fmt: skip
