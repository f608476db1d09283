"""The maps parser on hostile text: a Region or a FormatError, nothing else."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from memlens.errors import FormatError
from memlens.sources.live.maps import parse_maps, parse_maps_line

GOOD = "7f0000004000-7f0000005000 rw-p 00001000 fd:01 1234                       /usr/lib/a b.so"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    with contextlib.suppress(FormatError):
        parse_maps(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(GOOD)), st.integers(0, len(GOOD) - 1), st.characters())
def test_prefixes_and_flips(cut: int, pos: int, ch: str) -> None:
    for line in (GOOD[:cut], GOOD[:pos] + ch + GOOD[pos + 1 :]):
        try:
            r = parse_maps_line(line)
        except FormatError:
            continue
        assert r.end >= r.start
