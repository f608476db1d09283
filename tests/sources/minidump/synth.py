"""An independent minidump writer for tests (in the spirit of rust-minidump's minidump-synth).

It shares nothing with the reader: every struct is packed here by hand from the
format's documentation (field offsets written out), so a wrong layout in the
reader cannot agree with a wrong layout here.  Data is appended to one blob and
the stream directory goes last; ``endian=">"`` writes a big-endian
(byte-swapped) file as a big-endian host would.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MDMP = 0x504D444D
VERSION = 0xA793

THREAD_LIST, MODULE_LIST, MEMORY_LIST, EXCEPTION, SYSTEM_INFO = 3, 4, 5, 6, 7
MEMORY64_LIST, MISC_INFO, MEMORY_INFO_LIST, THREAD_NAMES = 9, 15, 16, 24
LINUX_MAPS, LINUX_CMD_LINE, LINUX_PROC_STATUS = 0x47670009, 0x47670006, 0x47670004


@dataclass
class Synth:
    endian: str = "<"
    blob: bytearray = field(default_factory=lambda: bytearray(32))
    directory: list[tuple[int, int, int]] = field(default_factory=list)

    def p(self, fmt: str, *values: int) -> bytes:
        return struct.pack(self.endian + fmt, *values)

    def put(self, data: bytes, align: int = 4) -> int:
        while len(self.blob) % align:
            self.blob.append(0)
        rva = len(self.blob)
        self.blob += data
        return rva

    def stream(self, stream_type: int, payload: bytes) -> int:
        rva = self.put(payload)
        self.directory.append((stream_type, len(payload), rva))
        return rva

    def raw_entry(self, stream_type: int, size: int, rva: int) -> None:
        """A directory entry with any size/rva (for hostile files)."""
        self.directory.append((stream_type, size, rva))

    def string(self, text: str) -> int:
        data = text.encode("utf-16-le" if self.endian == "<" else "utf-16-be")
        return self.put(self.p("I", len(data)) + data + b"\0\0")

    # -- contexts --------------------------------------------------------------------

    def amd64_context(self, rip: int, rsp: int, extra: int = 0) -> bytes:
        ctx = bytearray(1232 + extra)
        ctx[48:52] = self.p("I", 0x0010001F)  # CONTEXT_AMD64 | full
        ctx[152:160] = self.p("Q", rsp)
        ctx[248:256] = self.p("Q", rip)
        return bytes(ctx)

    def x86_context(self, eip: int, esp: int) -> bytes:
        ctx = bytearray(716)
        ctx[0:4] = self.p("I", 0x0001003F)
        ctx[184:188] = self.p("I", eip)
        ctx[196:200] = self.p("I", esp)
        return bytes(ctx)

    # -- streams ---------------------------------------------------------------------

    def system_info(self, arch: int = 9, platform: int = 0x8201) -> None:
        body = self.p("HHHBBIIIIIHH", arch, 6, 0, 1, 1, 0, 0, 0, platform, 0, 0, 0)
        self.stream(SYSTEM_INFO, body + bytes(24))

    def memory_list(self, ranges: list[tuple[int, bytes]], pad: bool = False) -> None:
        descs = b"".join(self.p("QII", addr, len(data), self.put(data)) for addr, data in ranges)
        head = self.p("I", len(ranges)) + (bytes(4) if pad else b"")
        self.stream(MEMORY_LIST, head + descs)

    def memory_list_raw(self, descriptors: list[tuple[int, int, int]]) -> None:
        """Descriptors (start, size, rva) exactly as given."""
        body = b"".join(self.p("QII", *d) for d in descriptors)
        self.stream(MEMORY_LIST, self.p("I", len(descriptors)) + body)

    def memory64_list(self, ranges: list[tuple[int, bytes]]) -> None:
        base = self.put(b"".join(data for _, data in ranges))
        body = b"".join(self.p("QQ", addr, len(data)) for addr, data in ranges)
        self.stream(MEMORY64_LIST, self.p("QQ", len(ranges), base) + body)

    def thread_list(self, threads: list[tuple[int, int, bytes, bytes]], pad: bool = False,
                    null_stack_rva: bool = False) -> None:  # fmt: skip
        entries = b""
        for tid, stack_addr, stack, context in threads:
            stack_rva = 0 if null_stack_rva else self.put(stack)
            ctx_rva = self.put(context)
            entries += self.p("IIIIQQIIII", tid, 0, 0, 0, 0x7000, stack_addr, len(stack),
                              stack_rva, len(context), ctx_rva)  # fmt: skip
        head = self.p("I", len(threads)) + (bytes(4) if pad else b"")
        self.stream(THREAD_LIST, head + entries)

    def module_list(self, modules: list[tuple[int, int, str, bytes]], pad: bool = False) -> None:
        entries = b""
        for base, size, name, cv in modules:
            name_rva = self.string(name)
            cv_rva = self.put(cv) if cv else 0
            entries += (self.p("QIIII", base, size, 0, 0x5F000000, name_rva) + bytes(52)
                        + self.p("IIII", len(cv), cv_rva, 0, 0) + bytes(16))  # fmt: skip
        head = self.p("I", len(modules)) + (bytes(4) if pad else b"")
        self.stream(MODULE_LIST, head + entries)

    def exception(self, tid: int, code: int, address: int, context: bytes, flags: int = 0,
                  params: tuple[int, ...] = ()) -> None:  # fmt: skip
        ctx_rva = self.put(context)
        info = list(params) + [0] * (15 - len(params))
        body = (self.p("II", tid, 0) + self.p("IIQQII", code, flags, 0, address, len(params), 0)
                + self.p("15Q", *info) + self.p("II", len(context), ctx_rva))  # fmt: skip
        self.stream(EXCEPTION, body)

    def misc_info(self, pid: int) -> None:
        self.stream(MISC_INFO, self.p("IIIIII", 24, 1, pid, 0, 0, 0))

    def memory_info_list(self, infos: list[tuple[int, int, int, int, int]]) -> None:
        """(base, size, state, protect, type) entries."""
        body = b"".join(self.p("QQIIQIIII", base, base, prot, 0, size, state, prot, typ, 0)
                        for base, size, state, prot, typ in infos)  # fmt: skip
        self.stream(MEMORY_INFO_LIST, self.p("IIQ", 16, 48, len(infos)) + body)

    def thread_names(self, names: list[tuple[int, str]]) -> None:
        body = b"".join(self.p("IQ", tid, self.string(name)) for tid, name in names)
        self.stream(THREAD_NAMES, self.p("I", len(names)) + body)

    def cv_rsds(self, d1: int, d2: int, d3: int, d4: bytes, age: int, pdb: str) -> bytes:
        """An RSDS CodeView record; the signature is a u32 in the file's byte order."""
        return self.p("IIHH", 0x53445352, d1, d2, d3) + d4 + self.p("I", age) + pdb.encode() + b"\0"

    def cv_bpel(self, build_id: bytes) -> bytes:
        return self.p("I", 0x4270454C) + build_id

    def build(self, *, version: int = VERSION, stream_count: int | None = None) -> bytes:
        dir_rva = self.put(b"".join(self.p("III", *e) for e in self.directory))
        count = len(self.directory) if stream_count is None else stream_count
        self.blob[0:32] = self.p("IIIIIIQ", MDMP, version, count, dir_rva, 0, 0x60000000, 0)
        return bytes(self.blob)
