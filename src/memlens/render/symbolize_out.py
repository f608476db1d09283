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
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from memlens.render.jsonout import row_template, slot, value_text
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


#: the keys of a frame's JSON object, in the order orjson writes them (sorted)
_KEYS = ("address", "file", "function", "function_offset", "inlined_by", "line", "module",
         "module_offset")  # fmt: skip


class _Pieces(NamedTuple):
    """The text around the values of a frame row (see :func:`jsonout.row_template`)."""

    head: list[str]  # before address, file, function, function_offset (4 pieces)
    bare: str  # after function_offset of a frame without inline callers, up to line
    open: str  # after function_offset, up to the first caller's address
    caller: list[str]  # after a caller's address, file, function, offset, line, module
    between: str  # after a caller's module_offset, up to the next one's address
    close: str  # after the last caller's module_offset, up to line
    tail: list[str]  # after line, module
    note: str  # after module_offset, up to note
    end: str  # the end of the row


def _pieces() -> _Pieces:
    """The pieces, from two rows encoded by :mod:`jsonout` with slots for their values:
    one without inline callers or note, one with both (two callers)."""
    bare = {k: [] if k == "inlined_by" else slot(k) for k in _KEYS}
    pieces, names = row_template(bare)
    caller = {k: [] if k == "inlined_by" else slot(f"c.{k}") for k in _KEYS}
    full = {**bare, "inlined_by": [caller, caller], "note": slot("note")}
    fpieces, fnames = row_template(full)
    outer = [k for k in _KEYS if k != "inlined_by"]
    inner = [f"c.{k}" for k in outer]
    if (names != outer or fnames != [*outer[:4], *inner, *inner, *outer[4:], "note"]
            or fpieces[:4] != pieces[:4] or fpieces[12:18] != fpieces[5:11]
            or fpieces[19:21] != pieces[5:7] or fpieces[22] != pieces[7]):  # fmt: skip
        raise AssertionError(f"frame rows are not laid out as expected: {fpieces}")
    return _Pieces(pieces[:4], pieces[4], fpieces[4], fpieces[5:11], fpieces[11],
                   fpieces[18], fpieces[19:21], fpieces[21], pieces[7])  # fmt: skip


def batch_json_chunks(batch: FrameBatch, size: int = 2048) -> Iterator[bytes]:
    """:func:`batch_json`'s rows, encoded as :func:`jsonout.encode_row` writes them,
    ``size`` rows to a chunk (joined by ``b",\\n"``), for
    ``jsonout.dump(..., rows=("frames", ...))``.

    Each distinct address's row is written straight into the frame layout's text
    (:func:`_pieces`), in address order -- the order its objects were made in, which
    a walk over 100k of them must follow to stay in the cache -- each distinct string
    encoded once, no object built per row or caller; the texts are then put in the
    order asked and joined a chunk at a time.
    """
    p = _pieces()
    h0, h1, h2, h3 = p.head
    c1, c2, c3, c4, c5, c6 = p.caller
    t5, t6 = p.tail
    bare, opening, between, closing, end = p.bare, p.open, p.between, p.close, p.end
    note_at = p.note
    null = value_text(None)
    text = _Texts({None: null})
    n, k = len(batch.unique), batch.module
    paths = [*map(value_text, batch.paths), null]  # index -1: none
    # the text from line to module_offset, and from a caller's line to its
    # module_offset, per module
    tails = np.array([f"{t5}{m}{t6}" for m in paths], object)[k].tolist()
    inner = np.array([f"{c5}{m}{c6}" for m in paths], object)[k].tolist()
    bases = np.concatenate((batch.bases, np.zeros(1, np.uint64)))
    moff = (batch.unique - bases[k]).astype(object)
    moff[k < 0] = null
    off = batch.function_offset.astype(object)
    off[~(batch.has_offset & (batch.function_offset >= 0))] = null
    located, notes = _by_row(n, batch.located).tolist(), _by_row(n, batch.notes).tolist()
    rows: list[str] = []
    add = rows.append
    for a, tail, cm, mo, fo, name, loc, note in zip(
        batch.unique.tolist(), tails, inner, moff.tolist(), off.tolist(),
        batch.function.tolist(), located, notes, strict=True,
    ):  # fmt: skip
        # h0, the text before the address, goes in the text between rows
        fn = text[name]
        last = end if note is None else f"{note_at}{text[note]}{end}"
        if loc is None:
            add(f"{a}{h1}{null}{h2}{fn}{h3}{fo}{bare}{null}{tail}{mo}{last}")
            continue
        file, line, callers = loc
        file = text[file]
        if line is None:
            line = null
        if not callers:
            add(f"{a}{h1}{file}{h2}{fn}{h3}{fo}{bare}{line}{tail}{mo}{last}")
            continue
        # each caller's text but its address and module_offset, which are the row's:
        # they go in the text between callers
        levels = callers.levels if type(callers) is Callers else _levels(callers)
        if len(levels) == 1:  # half the rows with callers: no list to join
            cn, co, cf, cl = levels[0]
            inl = (f"{text[cf]}{c2}{text[cn]}{c3}{null if co is None else co}{c4}"
                   f"{null if cl is None else cl}")  # fmt: skip
        else:
            inl = f"{cm}{mo}{between}{a}{c1}".join([
                f"{text[cf]}{c2}{text[cn]}{c3}"
                f"{null if co is None else co}{c4}{null if cl is None else cl}"
                for cn, co, cf, cl in levels
            ])  # fmt: skip
        add(f"{a}{h1}{file}{h2}{fn}{h3}{fo}{opening}{a}{c1}{inl}{cm}{mo}{closing}{line}"
            f"{tail}{mo}{last}")  # fmt: skip
    ordered = _in_order(batch, rows)
    del rows
    joint = f",\n{h0}"
    for at in range(0, len(ordered), size):
        chunk = ordered[at : at + size]
        chunk[0] = f"{h0}{chunk[0]}"
        yield joint.join(chunk).encode()


class _Texts(dict[Any, str]):
    """Values -> their JSON text, each encoded on first use."""

    def __missing__(self, value: Any) -> str:
        text = self[value] = value_text(value)
        return text


def _by_row(n: int, values: dict[int, Any]) -> npt.NDArray[np.object_]:
    """``values`` (row -> value) as a column of ``n`` rows, None where there is none."""
    column = np.full(n, None, object)
    if values:
        rows = np.fromiter(values.keys(), np.int64, len(values))
        items = np.empty(len(values), object)
        items[:] = list(values.values())
        column[rows] = items
    return column


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
