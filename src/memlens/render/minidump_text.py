"""Print minidump blocks as Breakpad's ``minidump_dump`` does, or as JSON data."""

from __future__ import annotations

import datetime as dt
from typing import Any, TextIO

from memlens.analyses.minidump_streams import Block, Line
from memlens.sources.minidump.constants import ARCHES, PLATFORMS, stream_name

CHUNK = 1 << 20


def _time(value: int) -> str:
    stamp = dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{value:#x} {stamp}"


def value_text(line: Line) -> str:
    """A value the way ``minidump_dump`` prints it."""
    v, style = line.value, line.style
    if style == "null" or v is None:
        return "(null)"
    if isinstance(v, (bytes, bytearray)):
        return ("0x" if style != "hex" else "") + v.hex()
    if isinstance(v, tuple):
        return ":".join(f"{x:#x}" for x in v)
    if isinstance(v, str):
        return f'"{v}"' if style == "str" else v
    if style == "d":
        return str(v)
    if style == "time":
        return _time(v)
    if style == "stream":
        return f"{v:#x} ({stream_name(v)})"
    if style == "arch":
        return f"{v:#x} ({ARCHES.get(v, ('unknown',))[0]})"
    if style == "platform":
        return f"{v:#x} ({PLATFORMS.get(v, 'unknown')})"
    return f"{v:#x}"


def write_text(blocks: list[Block], out: TextIO) -> None:
    for block in blocks:
        for title in block.title:
            out.write(title + "\n")
        keyed = [ln.key for ln in block.lines if ln.key is not None]
        width = block.width or max((len(k) for k in keyed), default=0)
        for ln in block.lines:
            if ln.key is None:
                text = str(ln.value)
                out.write(text if ln.style == "verbatim" else f"  {text}")
                out.write("\n")
            else:
                out.write(f"  {ln.key:<{width}} = {value_text(ln)}\n")
        if block.data_label is not None:
            out.write(block.data_label + "\n")
            if block.data is not None:
                out.write("0x")
                for at in range(0, len(block.data), CHUNK):  # bounded memory for huge regions
                    out.write(block.data[at : at + CHUNK].hex())
                out.write("\n")
            else:
                out.write(f"(unavailable: {block.data_error})\n")
        out.write("\n")


def _json_value(line: Line) -> Any:
    v = line.value
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, tuple):
        return list(v)
    return v


def blocks_json(blocks: list[Block]) -> list[dict[str, Any]]:
    out = []
    for block in blocks:
        doc: dict[str, Any] = {"stream": block.stream, "title": block.title}
        doc["fields"] = [[ln.key, _json_value(ln)] for ln in block.lines]
        if block.data_label is not None:
            doc["data_label"] = block.data_label
            doc["data"] = block.data.hex() if block.data is not None else None
            if block.data_error:
                doc["data_error"] = block.data_error
        out.append(doc)
    return out
