from __future__ import annotations

import pytest

from memlens.core.region import RegionKind
from memlens.errors import FormatError
from memlens.sources.live.maps import parse_maps, parse_maps_line

MAPS = """\
55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1234                       /usr/bin/my prog
7f0000000000-7f0000001000 rw-s 00001000 00:01 99                         /memfd:buf (deleted)
7f0000002000-7f0000003000 rw-p 00000000 00:00 0                          [anon:jemalloc pages]
7f0000004000-7f0000005000 rw-p 00000000 00:00 0
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
"""


def test_every_kind_of_line() -> None:
    regions = parse_maps(MAPS)
    assert [r.name for r in regions] == [
        "/usr/bin/my prog", "/memfd:buf (deleted)", "[anon:jemalloc pages]", "",
        "[stack]", "[vsyscall]",
    ]  # fmt: skip
    prog, memfd, anon, bare, stack, vsys = regions
    assert prog.path == "/usr/bin/my prog" and prog.kind is RegionKind.FILE
    assert memfd.path == "/memfd:buf" and memfd.deleted and memfd.perms.shared
    assert memfd.offset == 0x1000
    assert anon.kind is RegionKind.ANON and anon.path is None
    assert bare.kind is RegionKind.ANON and bare.label() == "anonymous"
    assert stack.kind is RegionKind.STACK
    assert vsys.kind is RegionKind.VSYSCALL and vsys.start == 0xFFFFFFFFFF600000
    assert str(vsys.perms) == "--xp"


def test_escaped_newline_in_path() -> None:
    r = parse_maps_line("1000-2000 r--p 00000000 fd:01 7 /tmp/a\\012b\n")
    assert r.path == "/tmp/a\nb"


def test_garbage_is_a_format_error() -> None:
    with pytest.raises(FormatError):
        parse_maps_line("zz-10 r--p 0 0 0")
