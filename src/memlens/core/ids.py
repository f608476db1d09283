"""Identifiers of a module's file, independent of the dump format that recorded them.

* **GNU build id**: the bytes of an ELF's ``NT_GNU_BUILD_ID`` note (any length).
* **Breakpad debug id** (what a symbol store is keyed by, ``NAME/DEBUGID/NAME.sym``):
  for PDBs the CodeView GUID as ``%08X%04X%04X`` + its last 8 bytes in hex + the
  age in hex; for ELF the first 16 bytes of the build id (zero-padded) read as a
  little-endian GUID, age 0; for Mach-O the LC_UUID the same way, age 0.
* **code id** (what a symbol server finds the binary by): Windows ``%08X%x`` of
  the PE ``TimeDateStamp`` and ``SizeOfImage``; ELF the build id in hex; Mach-O
  the UUID.
* **macOS UUID**: ``LC_UUID``, printed ``8-4-4-4-12`` in upper case.
"""

from __future__ import annotations


def guid_text(data1: int, data2: int, data3: int, data4: bytes) -> str:
    """A GUID as Breakpad prints it: ``5a9832e5-2872-41c1-838e-d98914e9b7ff``."""
    tail = data4.hex()
    return f"{data1:08x}-{data2:04x}-{data3:04x}-{tail[:4]}-{tail[4:]}"


def guid_debug_id(data1: int, data2: int, data3: int, data4: bytes, age: int) -> str:
    """Breakpad's debug id of a CodeView GUID and age."""
    return f"{data1:08X}{data2:04X}{data3:04X}{data4.hex().upper()}{age:X}"


def _le_guid(raw: bytes) -> tuple[int, int, int, bytes]:
    b = raw[:16].ljust(16, b"\0")
    return (int.from_bytes(b[0:4], "little"), int.from_bytes(b[4:6], "little"),
            int.from_bytes(b[6:8], "little"), b[8:16])  # fmt: skip


def elf_debug_id(build_id: bytes) -> str:
    """Breakpad's debug id for an ELF build id (the first 16 bytes as a LE GUID, age 0)."""
    return guid_debug_id(*_le_guid(build_id), 0)


def windows_code_id(time_date_stamp: int, size_of_image: int) -> str:
    """The code id a Windows symbol server files a PE under."""
    return f"{time_date_stamp:08X}{size_of_image:x}"


def mac_uuid(data1: int, data2: int, data3: int, data4: bytes) -> str:
    """A Mach-O LC_UUID as macOS prints it, from the GUID fields a minidump stores it in."""
    return guid_text(data1, data2, data3, data4).upper()
