"""``memlens symbolize`` output: one block of text per address, or JSON rows.

Text, per address (the layout of :func:`memlens.render.frames.format_frame`)::

    0xADDR function+0xOFF at file:line (module+0xOFF)
        inlined into caller+0xOFF at file:line

An address outside every function shows what it is instead of ``??``:
``0xADDR (padding after f) at file:line (module+0xOFF)``.  Built for 100k
frames at a time: module names are shortened once, not per frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from memlens.render.jsonout import row_encoder
from memlens.symbols.frame import Frame
from memlens.symbols.framebatch import Callers, FrameBatch, Level


def _where(f: Frame) -> str:
    file = f.file
    if not file:
        return ""
    return f" at {file}:{f.line}" if f.line else f" at {file}"


def text_lines(frames: Iterable[Frame]) -> Iterator[str]:
    """The text block of each frame (inline callers on their own indented lines)."""
    short: dict[str | None, str | None] = {None: None}
    for f in frames:
        mod = short.get(f.module, "")
        if mod == "":
            assert f.module is not None
            mod = short[f.module] = f.module.rsplit("/", 1)[-1]
        name = f.function
        if name is None:
            name = f"({f.note})" if f.note else "??"
        elif f.function_offset is not None:
            name = f"{name}+{f.function_offset:#x}"
        where = f" ({mod}+{f.module_offset:#x})" if mod and f.module_offset is not None else ""
        head = f"{f.address:#x} {name}{_where(f)}{where}"
        if not f.inlined_by:
            yield head
            continue
        lines = [head]
        for c in f.inlined_by:
            off = f"+{c.function_offset:#x}" if c.function_offset is not None else ""
            lines.append(f"    inlined into {c.function}{off}{_where(c)}")
        yield "\n".join(lines)


def _columns(batch: FrameBatch) -> tuple[list[int], list[int], list[int], list[Any], list[int]]:
    """The batch's per-address columns as lists: module index, address, the bases
    (per module), function name, function offset (-1 where there is none)."""
    offsets = np.where(batch.has_offset, batch.function_offset, -1).tolist()
    return (batch.module.tolist(), batch.unique.tolist(), batch.bases.tolist(),
            batch.function.tolist(), offsets)  # fmt: skip


def _levels(callers: tuple[Frame, ...] | Callers) -> Sequence[Level]:
    """(function, offset, file, line) of each inline caller."""
    if isinstance(callers, Callers):
        return callers.levels
    return [(c.function, c.function_offset, c.file, c.line) for c in callers]


def _in_order(batch: FrameBatch, out: list[Any]) -> list[Any]:
    """``out`` (one item per distinct address) in the order the addresses were asked."""
    n = len(out)
    if n == len(batch.addresses) and n and bool((batch.inverse == np.arange(n)).all()):
        return out
    column = np.empty(n, object)
    column[:] = out
    return column[batch.inverse].tolist()  # type: ignore[no-any-return]


def batch_text(batch: FrameBatch) -> list[str]:
    """The text block of every address of ``batch``, in the order asked -- the same
    text as :func:`text_lines` of its frames, built from the columns (each distinct
    address once, no :class:`Frame` objects for the top level)."""
    n = len(batch.unique)
    mods = [p.rsplit("/", 1)[-1] for p in batch.paths]
    module, addresses, bases, names, offsets = _columns(batch)
    located, notes = batch.located, batch.notes
    out: list[str] = [""] * n
    for r in range(n):
        a, k, name = addresses[r], module[r], names[r]
        if name is None:
            note = notes.get(r)
            name = f"({note})" if note else "??"
        elif offsets[r] >= 0:
            name = f"{name}+{offsets[r]:#x}"
        where = f" ({mods[k]}+{a - bases[k]:#x})" if k >= 0 else ""
        loc = located.get(r)
        if loc is None:
            out[r] = f"{a:#x} {name}{where}"
            continue
        file, line, callers = loc
        at = (f" at {file}:{line}" if line else f" at {file}") if file else ""
        head = f"{a:#x} {name}{at}{where}"
        if not callers:
            out[r] = head
            continue
        lines = [head]
        for cname, coff, cfile, cline in _levels(callers):
            off = f"+{coff:#x}" if coff is not None else ""
            cat = (f" at {cfile}:{cline}" if cline else f" at {cfile}") if cfile else ""
            lines.append(f"    inlined into {cname}{off}{cat}")
        out[r] = "\n".join(lines)
    return _in_order(batch, out)


def _row(f: Frame, inlined: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": f.address, "module": f.module, "module_offset": f.module_offset,
        "function": f.function, "function_offset": f.function_offset,
        "file": f.file, "line": f.line,
    }  # fmt: skip
    if f.note is not None:
        out["note"] = f.note
    if inlined:
        out["inlined_by"] = [_row(c, True) for c in f.inlined_by]
    return out


def json_rows(frames: Sequence[Frame]) -> list[dict[str, Any]]:
    """The JSON objects of the frames (``note`` only where there is one)."""
    return [_row(f, True) for f in frames]


def batch_json(batch: FrameBatch) -> list[dict[str, Any]]:
    """:func:`json_rows` of the batch's frames, built from its columns (each distinct
    address once; repeated addresses share one object)."""
    return _in_order(batch, list(_distinct_rows(batch)))


def batch_json_encoded(batch: FrameBatch) -> list[bytes]:
    """:func:`batch_json`'s rows, each encoded (:func:`jsonout.row_encoder`) as it is
    made, for ``jsonout.dump(..., rows=("frames", ...))``."""
    return _in_order(batch, list(map(row_encoder(), _distinct_rows(batch))))


def _distinct_rows(batch: FrameBatch) -> Iterator[dict[str, Any]]:
    """The JSON object of each distinct address, in address order."""
    paths = batch.paths
    module, addresses, bases, names, offsets = _columns(batch)
    located, notes = batch.located, batch.notes
    nowhere: tuple[None, None, tuple[()]] = (None, None, ())
    for r in range(len(batch.unique)):
        a, k = addresses[r], module[r]
        path, moff = (paths[k], a - bases[k]) if k >= 0 else (None, None)
        file, line, callers = located.get(r, nowhere)
        row: dict[str, Any] = {
            "address": a, "module": path, "module_offset": moff, "function": names[r],
            "function_offset": offsets[r] if offsets[r] >= 0 else None,
            "file": file, "line": line,
            "inlined_by": [{"address": a, "module": path, "module_offset": moff,
                            "function": cf, "function_offset": co, "file": cfile,
                            "line": cl, "inlined_by": []} for cf, co, cfile, cl in _levels(callers)]
            if callers else [],
        }  # fmt: skip
        note = notes.get(r)
        if note is not None:
            row["note"] = note
        yield row
