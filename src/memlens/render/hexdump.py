"""Hex dumps and word dumps of target memory, with unavailable bytes shown as ``??``."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence


def hexdump(address: int, data: bytes, saved: Sequence[bool], word: int, width: int = 16) -> str:
    """Classic hexdump: address, 16 bytes in hex (``??`` when not available), ASCII."""
    lines = []
    addr_w = word * 2
    for off in range(0, len(data), width):
        chunk = data[off : off + width]
        mask = saved[off : off + width]
        cells = [f"{b:02x}" if ok else "??" for b, ok in zip(chunk, mask, strict=True)]
        cells += ["  "] * (width - len(chunk))
        half = width // 2
        hexpart = " ".join(cells[:half]) + "  " + " ".join(cells[half:])
        text = "".join(
            (chr(b) if 32 <= b < 127 else ".") if ok else "?"
            for b, ok in zip(chunk, mask, strict=True)
        )
        lines.append(f"{address + off:0{addr_w}x}  {hexpart}  |{text}|")
    return "\n".join(lines)


def worddump(
    address: int, data: bytes, saved: Sequence[bool], size: int, byteorder: str, word: int,
    annotate: Callable[[int], str] | None = None,
) -> str:  # fmt: skip
    """Words of ``size`` bytes in the target's byte order, one line per 16 bytes.

    With ``annotate`` (pointers), one word per line followed by what it points to.
    """
    fmt = struct.Struct(("<" if byteorder == "little" else ">") + ("I" if size == 4 else "Q"))
    per_line = 1 if annotate else max(1, 16 // size)
    lines = []
    for off in range(0, len(data) - size + 1, size * per_line):
        cells = []
        notes = ""
        for k in range(per_line):
            at = off + k * size
            if at + size > len(data):
                break
            if not all(saved[at : at + size]):
                cells.append("?" * (2 * size))
                continue
            value = fmt.unpack_from(data, at)[0]
            cells.append(f"{value:0{2 * size}x}")
            if annotate:
                notes = annotate(value)
        line = f"{address + off:0{word * 2}x}  " + " ".join(cells)
        lines.append(line + (f"  {notes}" if notes else ""))
    return "\n".join(lines)
