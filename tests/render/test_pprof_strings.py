"""pprof's string table is valid UTF-8 even for names that were not (proto3 requires it)."""

from __future__ import annotations

from memlens.render import pprof


def test_string_table_escapes_bytes_that_are_not_utf8() -> None:
    table = pprof._Strings()
    name = b"/opt/caf\xe9/lib.so".decode("utf-8", "surrogateescape")
    assert (table(name), table("main"), table(name)) == (1, 2, 1)
    data = table.encoded()
    # field 6, wire type 2: key 0x32, length, bytes
    assert data == (b"\x32\x00" + b"\x32\x13" + b"/opt/caf\\xe9/lib.so" + b"\x32\x04main")
    data.decode("utf-8", "strict")
