"""Types of the C extension built from src/memlens/pagewalk/ (see module.c there)."""

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
from typing_extensions import Buffer

#: C-contiguous native uint64 items (or bytes of whole 8-byte items); numpy
#: arrays export the buffer protocol but are not ``Buffer`` to Python 3.11's stubs
_U64: TypeAlias = Buffer | np.ndarray[Any, Any]

def pagemap_read(
    fd: int, first_page: int, count: int, chunk_pages: int, /
) -> tuple[bytearray, int]: ...
def self_pagemap_entry() -> int | None: ...
def pfn_census(tables: Sequence[_U64], /) -> tuple[int, int]: ...
def count_keys(
    entries: _U64,
    flags: _U64 | None,
    entry_mask: int,
    flags_mask: int,
    extra: int,
    counts: dict[int, int],
    /,
) -> None: ...
def kpage_fill(
    tables: Sequence[_U64], fds: Sequence[int], gap: int, /
) -> list[list[bytearray] | int]: ...
def kpage_read(fd: int, pfns: _U64, gap: int, /) -> bytearray: ...
def kpage_spans(pfns: _U64, gap: int, /) -> list[tuple[int, int]]: ...

class LineFormat:
    min_buffer: int
    def __init__(
        self,
        flag_names: Sequence[tuple[int, str]],
        pagemap_words: Sequence[tuple[int, str]],
        flags_mask: int,
        overloads: Sequence[tuple[int, int, int, str]] = ...,
    ) -> None: ...
    def json_into(
        self,
        buffer: bytearray | memoryview,
        entries: _U64,
        counts: _U64 | None,
        flags: _U64 | None,
        start: int,
        page_size: int,
        pfn_known: bool,
        pos: int,
        max_pages: int,
        first: bool,
        extra: bytes,
    ) -> tuple[int, int]: ...
    def render_into(
        self,
        buffer: bytearray | memoryview,
        entries: _U64,
        counts: _U64 | None,
        flags: _U64 | None,
        start: int,
        page_size: int,
        pfn_known: bool,
        pos: int,
        max_lines: int,
    ) -> tuple[int, int]: ...
    def flag_text(self, flags: int, /) -> str: ...
