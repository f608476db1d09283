"""Heap report as a gzipped pprof ``profile.proto`` (``go tool pprof`` reads it).

A small hand-written protobuf encoder: only varints and length-delimited
fields are needed.  Field numbers from github.com/google/pprof/proto/profile.proto:
Profile{1 sample_type, 2 sample, 3 mapping, 4 location, 5 function,
6 string_table, 9 time_nanos, 11 period_type, 12 period, 14 default_sample_type},
ValueType{1 type, 2 unit}, Sample{1 location_id (packed), 2 value (packed)},
Mapping{1 id, 2 memory_start, 3 memory_limit, 4 file_offset, 5 filename,
6 build_id, 7 has_functions}, Location{1 id, 2 mapping_id, 3 address, 4 line},
Line{1 function_id, 2 line}, Function{1 id, 2 name, 3 system_name, 4 filename}.
Locations are leaf first, like our stacks.  Values: ``inuse_objects/count``,
``inuse_space/bytes`` (estimates in sampled mode).
"""

from __future__ import annotations

import gzip

from memlens.heap.report import HeapReport
from memlens.render.textout import ESCAPE
from memlens.symbols.frame import Frame


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


def encode(report: HeapReport) -> bytes:
    """The uncompressed profile message."""
    s = _Strings()
    msg = bytearray()
    for type_, unit in (("inuse_objects", "count"), ("inuse_space", "bytes")):
        msg += _bytes(1, _int(1, s(type_)) + _int(2, s(unit)))
    modules = sorted(report.profile.modules, key=lambda m: m.base)
    mapping_ids = {m.path: i + 1 for i, m in enumerate(modules)}
    for i, m in enumerate(modules):
        body = _int(1, i + 1) + _int(2, m.base) + _int(3, m.end)
        body += _int(5, s(m.path)) + _int(6, s(m.build_id.hex() if m.build_id else None))
        body += _int(7, 1)
        msg += _bytes(3, body)
    functions: dict[tuple[str, str | None], int] = {}
    # A Python frame's address is its code object's: one per function, so the
    # line is part of the key.
    locations: dict[tuple[int, str | None, int | None], int] = {}
    loc_msgs = bytearray()
    fn_msgs = bytearray()

    def location(f: Frame) -> int:
        key = (f.address, f.file, f.line)
        lid = locations.get(key)
        if lid is not None:
            return lid
        lid = locations[key] = len(locations) + 1
        body = _int(1, lid) + _int(2, mapping_ids.get(f.module or "", 0)) + _int(3, f.address)
        if f.function:
            fkey = (f.function, f.file)
            fid = functions.get(fkey)
            if fid is None:
                fid = functions[fkey] = len(functions) + 1
                fn_msgs.extend(_bytes(5, _int(1, fid) + _int(2, s(f.function))
                                      + _int(3, s(f.function)) + _int(4, s(f.file))))  # fmt: skip
            body += _bytes(4, _int(1, fid) + _int(2, f.line or 0))
        loc_msgs.extend(_bytes(4, body))
        return lid

    for g in report.groups:
        frames = g.frames or (Frame(address=0),)
        ids = [location(f) for f in frames]
        msg += _bytes(2, _packed(1, ids) + _packed(2, [round(g.est_count), round(g.est_bytes)]))
    msg += loc_msgs + fn_msgs
    # Every string must be interned before the table is written (field order
    # is free in protobuf, so the table goes last).
    msg += _bytes(11, _int(1, s("space")) + _int(2, s("bytes")))
    msg += _int(14, s("inuse_space"))
    if report.profile.time:
        msg += _int(9, int(report.profile.time * 1e9))
    msg += s.encoded()
    return bytes(msg)


def write(report: HeapReport, path: str) -> None:
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(encode(report))
