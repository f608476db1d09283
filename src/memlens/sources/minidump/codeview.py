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

from memlens.core.ids import elf_debug_id, guid_debug_id, guid_text
from memlens.sources.minidump import layouts as L
from memlens.sources.minidump.constants import (
    CV_SIGNATURE_ELF,
    CV_SIGNATURE_NB10,
    CV_SIGNATURE_RSDS,
)
from memlens.sources.minidump.structs import Record

__all__ = ["CodeView", "elf_debug_id", "guid_debug_id", "guid_text", "parse_codeview"]

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
