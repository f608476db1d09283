"""What a terminal shows: bracketed names in Rich tables, bytes that are not UTF-8 escaped."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.render.table import Column, Table, print_table

ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: maps a file whose name holds the byte 0xff, then waits for stdin to close
CHILD = r"""
import mmap, sys
f = open(sys.argv[1].encode("utf-8", "surrogateescape"), "rb")
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print("ready", flush=True)
sys.stdin.read()
"""


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stdout is in an interactive shell."""

    def isatty(self) -> bool:
        return True


def on_terminal(table: Table, columns: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(columns))
    out = Terminal()
    print_table(table, out)
    return [ANSI.sub("", line).rstrip() for line in out.getvalue().splitlines()]


def test_bracketed_names_survive_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    table = Table([Column("size", "right"), Column("name")], title="[regions]")
    for name in ("[heap]", "[stack]", "[vdso]", "[anon:memlens-demo]", "/lib/[x]/libc.so.6"):
        table.add("4K", name)
    table.footer = ["[total]", "5 regions"]
    lines = on_terminal(table, 80, monkeypatch)
    assert [line.split() for line in lines] == [
        ["[regions]"], ["size", "name"], ["4K", "[heap]"], ["4K", "[stack]"], ["4K", "[vdso]"],
        ["4K", "[anon:memlens-demo]"], ["4K", "/lib/[x]/libc.so.6"], ["[total]", "5", "regions"]]
    assert lines[2].index("4K") == lines[1].index("size") + 2  # the size column is right-aligned


@pytest.fixture
def child(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A process mapping ``data-\\xff.bin``; yields its pid and the name as text shows it."""
    raw = os.fsencode(tmp_path) + b"/data-\xff.bin"
    with open(raw, "wb") as f:
        f.write(b"x" * 8192)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, os.fsdecode(raw)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    try:
        yield proc.pid, f"{tmp_path}/data-\\xff.bin"
    finally:
        proc.kill()
        proc.wait()


def _bracketed(pid: int) -> set[str]:
    with open(f"/proc/{pid}/maps", errors="surrogateescape") as f:
        names = {line.split(maxsplit=5)[5].strip() for line in f if len(line.split()) == 6}
    return {n for n in names if n.startswith("[")}


def test_maps_on_a_terminal_shows_every_bracketed_name(
    child: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, shown = child
    expected = _bracketed(pid)
    assert {"[heap]", "[stack]", "[vdso]"} <= expected
    monkeypatch.setenv("COLUMNS", "240")  # every name on one line
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["maps", str(pid)]) == 0
    names = {ANSI.sub("", line).rstrip().rsplit("  ", 1)[-1].strip()
             for line in out.getvalue().splitlines()}  # fmt: skip
    assert expected <= names
    assert shown in names


def test_text_and_json_escape_bytes_that_are_not_utf8(
    child: tuple[int, str], capsys: pytest.CaptureFixture[str]
) -> None:
    pid, shown = child
    assert main(["maps", str(pid), "--areas", "data-"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith(f"  {shown}")
    assert main(["maps", str(pid), "--areas", "data-", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in doc["regions"]] == [shown]


def test_pages_text_escapes_bytes_that_are_not_utf8(
    child: tuple[int, str], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    pid, shown = child
    assert main(["pages", str(pid), "--areas", "data-"]) == 0
    out = capsysbinary.readouterr().out.decode("utf-8", "strict")
    assert next(line for line in out.splitlines() if "data-" in line).endswith(shown)
