"""Tables: Rich on a terminal, plain aligned columns when piped."""

from __future__ import annotations

import sys

from memlens.core.frozen import Frozen
from memlens.render.textout import escape_text

# not typing.TYPE_CHECKING, and no dataclasses: `memlens maps` and `procs` print
# through here and have a few ms of start-up to spare (see memlens/core/frozen.py)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

    from rich.console import RenderableType


class Column(Frozen):
    __slots__ = ("header", "align")  # noqa: RUF023 (Frozen: the fields' order)
    header: str
    align: str  # "left" or "right"

    def __init__(self, header: str, align: str = "left") -> None:
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "align", align)


class Table:
    """Columns, rows of cells, and an optional title and footer row."""

    __slots__ = ("columns", "footer", "rows", "title")

    def __init__(self, columns: Sequence[Column], rows: list[Sequence[str]] | None = None,
                 title: str | None = None,
                 footer: Sequence[str] | None = None) -> None:  # fmt: skip
        self.columns = columns
        self.rows: list[Sequence[str]] = [] if rows is None else rows
        self.title = title
        self.footer = footer

    def add(self, *cells: str) -> None:
        self.rows.append(cells)


def is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def render_plain(table: Table) -> str:
    rows = [[c.header for c in table.columns], *table.rows]
    if table.footer:
        rows.append(list(table.footer))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(table.columns))]
    lines = []
    if table.title:
        lines.append(table.title)
    for r in rows:
        cells = [
            str(cell).rjust(w) if col.align == "right" else str(cell).ljust(w)
            for cell, w, col in zip(r, widths, table.columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def print_table(table: Table, stream: TextIO | None = None) -> None:
    """Write ``table`` to ``stream`` (stdout): Rich on a terminal, plain columns otherwise."""
    out = stream or sys.stdout
    if not is_terminal(out):
        out.write(render_plain(table))
        return
    # imported here: rich costs ~40 ms of start-up that piped output never needs
    from rich.console import Console

    Console(file=out).print(rich_table(table))


def rich_table(table: Table) -> RenderableType:
    """``table`` as a Rich table.

    Every cell, header, title and footer is a :class:`rich.text.Text`, never
    markup: ``[heap]``, ``[stack]`` or a path with brackets print as they are
    (as markup Rich took them for style tags and dropped them); bytes that were
    not UTF-8 show as ``\\xff``.
    """
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    def Text(cell: object) -> RichText:
        return RichText(escape_text(str(cell)))

    rich = RichTable(title=Text(table.title) if table.title else None,
                     show_footer=bool(table.footer), box=None, pad_edge=False)  # fmt: skip
    for i, col in enumerate(table.columns):
        footer = Text(table.footer[i]) if table.footer else Text("")
        # fold, never truncate: a cut-off flag list or path loses the answer
        rich.add_column(Text(col.header), justify="right" if col.align == "right" else "left",
                        footer=footer, overflow="fold")  # fmt: skip
    for r in table.rows:
        rich.add_row(*[Text(c) for c in r])
    return rich
