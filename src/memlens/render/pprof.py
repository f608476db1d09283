"""Heap report as a gzipped pprof ``profile.proto`` (``go tool pprof`` reads it).

A small hand-written protobuf encoder: only varints and length-delimited
fields are needed.  Field numbers from github.com/google/pprof/proto/profile.proto:
Profile{1 sample_type, 2 sample, 3 mapping, 4 location, 5 function,
6 string_table, 9 time_nanos, 11 period_type, 12 period, 14 default_sample_type},
ValueType{1 type, 2 unit}, Sample{1 location_id (packed), 2 value (packed)},
Mapping{1 id, 2 memory_start, 3 memory_limit, 4 file_offset, 5 filename,
6 build_id, 7 has_functions}, Location{1 id, 2 mapping_id, 3 address, 4 line},
Line{1 function_id, 2 line}, Function{1 id, 2 name, 3 system_name, 4 filename}.
Locations are leaf first, like our stacks; an inlined frame is one location
with one line per function.  Values of a snapshot: ``inuse_objects/count``,
``inuse_space/bytes`` (estimates in sampled mode); of a whole run (``memlens
run``): allocated, in use at exit, at the peak (objects and space) and
temporary objects.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from functools import lru_cache

from memlens.core.module import Module
from memlens.heap.report import HeapReport
from memlens.heap.run_report import RunReport
from memlens.render.textout import ESCAPE
from memlens.symbols.frame import Frame

_NO_FRAME = Frame(address=0)  # a stack with no frame: one location at address 0


@lru_cache(maxsize=1 << 16)  # location ids and small counts repeat in every sample
def _varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64  # int64 two's complement, as protobuf does
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, v: int) -> bytes:
    return _key(field, 0) + _varint(v) if v else b""


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _packed(field: int, values: list[int]) -> bytes:
    return _bytes(field, b"".join(_varint(v) for v in values)) if values else b""


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {"": 0}

    def __call__(self, s: str | None) -> int:
        if not s:
            return 0
        if s not in self.index:
            self.index[s] = len(self.index)
        return self.index[s]

    def encoded(self) -> bytes:
        # proto3 strings must be UTF-8 (Go's decoder rejects the rest): a byte of a
        # name that was not UTF-8 is written as the text \xff, as text output shows it
        return b"".join(_bytes(6, s.encode("utf-8", ESCAPE)) for s in self.index)


class _Builder:
    """Sample types, mappings, locations and functions of one profile message."""

    def __init__(self, types: Sequence[tuple[str, str]], modules: Sequence[Module]) -> None:
        self.s = _Strings()
        self.msg = bytearray()
        for type_, unit in types:
            self.msg += _bytes(1, _int(1, self.s(type_)) + _int(2, self.s(unit)))
        ordered = sorted(modules, key=lambda m: m.base)
        self.mapping_ids = {m.path: i + 1 for i, m in enumerate(ordered)}
        for i, m in enumerate(ordered):
            body = _int(1, i + 1) + _int(2, m.base) + _int(3, m.end)
            body += _int(5, self.s(m.path))
            body += _int(6, self.s(m.build_id.hex() if m.build_id else None))
            body += _int(7, 1)
            self.msg += _bytes(3, body)
        self.functions: dict[tuple[str, str | None], int] = {}
        # A Python frame's address is its code object's: one per function, so the
        # line is part of a location's key.
        self.locations: dict[tuple[int, str | None, int | None], int] = {}
        #: id(frame) -> location id: stacks share frame objects (kept alive by the report)
        self.by_object: dict[int, int] = {}
        self.loc_msgs = bytearray()
        self.fn_msgs = bytearray()

    def _function(self, name: str, file: str | None) -> int:
        fid = self.functions.get((name, file))
        if fid is None:
            fid = self.functions[(name, file)] = len(self.functions) + 1
            s = self.s
            self.fn_msgs += _bytes(5, _int(1, fid) + _int(2, s(name)) + _int(3, s(name))
                                   + _int(4, s(file)))  # fmt: skip
        return fid

    def location(self, f: Frame) -> int:
        lid = self.by_object.get(id(f))
        if lid is None:
            lid = self.by_object[id(f)] = self._location(f)
        return lid

    def _location(self, f: Frame) -> int:
        key = (f.address, f.file, f.line)
        lid = self.locations.get(key)
        if lid is not None:
            return lid
        lid = self.locations[key] = len(self.locations) + 1
        body = _int(1, lid) + _int(2, self.mapping_ids.get(f.module or "", 0)) + _int(3, f.address)
        if f.function:
            # Line entries: the inlined function first, then the functions it is
            # inlined into (pprof's order: the last entry is the caller).
            body += _bytes(4, _int(1, self._function(f.function, f.file)) + _int(2, f.line or 0))
            for c in f.inlined_by:
                if c.function:
                    body += _bytes(4, _int(1, self._function(c.function, c.file))
                                   + _int(2, c.line or 0))  # fmt: skip
        self.loc_msgs += _bytes(4, body)
        return lid

    def sample(self, frames: Sequence[Frame], values: list[int]) -> None:
        ids = [self.location(f) for f in (frames or (_NO_FRAME,))]
        self.msg += _bytes(2, _packed(1, ids) + _packed(2, values))

    def finish(self, default_type: str, time_ns: int | None) -> bytes:
        s = self.s
        msg = self.msg + self.loc_msgs + self.fn_msgs
        # Every string must be interned before the table is written (field order
        # is free in protobuf, so the table goes last).
        msg += _bytes(11, _int(1, s("space")) + _int(2, s("bytes")))
        msg += _int(14, s(default_type))
        if time_ns:
            msg += _int(9, time_ns)
        msg += s.encoded()
        return bytes(msg)


def encode(report: HeapReport) -> bytes:
    """The uncompressed profile message of a heap snapshot (live blocks)."""
    b = _Builder((("inuse_objects", "count"), ("inuse_space", "bytes")), report.profile.modules)
    for g in report.groups:
        b.sample(g.frames, [round(g.est_count), round(g.est_bytes)])
    t = report.profile.time
    return b.finish("inuse_space", int(t * 1e9) if t else None)


RUN_TYPES = (
    ("alloc_objects", "count", "allocs"), ("alloc_space", "bytes", "bytes"),
    ("inuse_objects", "count", "live_blocks"), ("inuse_space", "bytes", "live_bytes"),
    ("peak_objects", "count", "peak_blocks"), ("peak_space", "bytes", "peak_bytes"),
    ("temporary_objects", "count", "temps"),
)  # fmt: skip


def encode_run(report: RunReport) -> bytes:
    """A whole run: every sample type (allocated, in use at exit, at the peak, temporary)."""
    b = _Builder([(t, u) for t, u, _c in RUN_TYPES], report.modules)
    for st in report.stacks:
        b.sample(st.frames, [st.value(c) for _t, _u, c in RUN_TYPES])
    return b.finish("peak_space", report.totals.start_real_ns or None)


def write_run(report: RunReport, path: str) -> None:
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(encode_run(report))


def write(report: HeapReport, path: str) -> None:
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(encode(report))
