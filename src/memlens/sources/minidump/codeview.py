"""CodeView records: how a module says which debug file matches it.

* ``RSDS`` (PDB 7.0): GUID, age, PDB path.  Debug id = GUID as
  ``%08X%04X%04X`` + the last 8 bytes in hex + age in hex.  Old Breakpad Linux
  dumps put the first 16 bytes of the ELF build id in the GUID.
* ``NB10`` (PDB 2.0): signature, age, path.  Debug id = ``%08X`` + age ``%x``.
* ``BpEL``: a Breakpad/Crashpad ELF build id of any length.  Debug id = its
  first 16 bytes (zero-padded) read as a little-endian GUID, age 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.ids import CV_SIGNATURE_ELF, CV_SIGNATURE_NB10, CV_SIGNATURE_RSDS
from memlens.sources.minidump.records import Record

if TYPE_CHECKING:
    from memlens.sources.minidump.dumpfile import MinidumpFile


@dataclass(frozen=True, slots=True)
class CodeView:
    kind: str  # "RSDS", "NB10", "BpEL" or "unknown"
    raw: Record
    debug_id: str | None
    pdb_file_name: str | None = None
    guid: str | None = None
    age: int | None = None
    build_id: bytes | None = None
    data: bytes = b""


def guid_text(data1: int, data2: int, data3: int, data4: bytes) -> str:
    """A GUID as Breakpad prints it: ``5a9832e5-2872-41c1-838e-d98914e9b7ff``."""
    tail = data4.hex()
    return f"{data1:08x}-{data2:04x}-{data3:04x}-{tail[:4]}-{tail[4:]}"


def guid_debug_id(data1: int, data2: int, data3: int, data4: bytes, age: int) -> str:
    return f"{data1:08X}{data2:04X}{data3:04X}{data4.hex().upper()}{age:X}"


def elf_debug_id(build_id: bytes) -> str:
    """Breakpad's debug id for an ELF build id (the first 16 bytes as a LE GUID, age 0)."""
    b = build_id[:16].ljust(16, b"\0")
    d1 = int.from_bytes(b[0:4], "little")
    d2 = int.from_bytes(b[4:6], "little")
    d3 = int.from_bytes(b[6:8], "little")
    return guid_debug_id(d1, d2, d3, b[8:16], 0)


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def parse_codeview(dump: MinidumpFile, rva: int, size: int, what: str) -> CodeView:
    """Decode the CodeView record at ``rva``.

    Raises:
        FormatError: the record lies outside the file or is shorter than its kind.
    """
    data = bytes(dump.bytes_at(rva, size, what))
    if size < 4:
        raise dump.error(rva, f"{what}: {size} bytes is too small")
    # A big-endian writer stores the signature as a byte-swapped u32 ('SDSR'):
    # read it in the file's byte order.
    sig = dump.record(L.CV_ELF, rva, what)["cv_signature"]
    if sig == CV_SIGNATURE_RSDS and size >= L.CV_RSDS.size:
        raw = dump.record(L.CV_RSDS, rva, what)
        d4 = raw.get("signature.data4")
        assert isinstance(d4, bytes)
        d1, d2, d3 = raw["signature.data1"], raw["signature.data2"], raw["signature.data3"]
        return CodeView("RSDS", raw, guid_debug_id(d1, d2, d3, d4, raw["age"]),
                        pdb_file_name=_cstr(data[L.CV_RSDS.size :]),
                        guid=guid_text(d1, d2, d3, d4), age=raw["age"], data=data)  # fmt: skip
    if sig == CV_SIGNATURE_NB10 and size >= L.CV_NB10.size:
        raw = dump.record(L.CV_NB10, rva, what)
        return CodeView("NB10", raw, f"{raw['signature']:08X}{raw['age']:x}",
                        pdb_file_name=_cstr(data[L.CV_NB10.size :]), age=raw["age"],
                        data=data)  # fmt: skip
    raw = dump.record(L.CV_ELF, rva, what)
    if sig == CV_SIGNATURE_ELF:
        build_id = data[4:]
        return CodeView("BpEL", raw, elf_debug_id(build_id), build_id=build_id, age=0, data=data)
    return CodeView("unknown", raw, None, data=data)
