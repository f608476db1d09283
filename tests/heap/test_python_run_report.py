"""``memlens run`` on a Python script: the run's report (peak contributors, temporary
allocations) names the script's functions at their lines, from the accounting table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """\
def build_table():
    return {i: str(i) for i in range(300000)}  # TABLE


def parse():
    n = 0
    for i in range(100000):
        n += len([i, i + 1, i + 2])  # TEMP
    return n


table = build_table()  # CALL-TABLE
parse()
# memlens names a stack's Python frames while the program runs (its code objects
# are freed by the interpreter's exit): give the last stacks a moment to be named
import time
time.sleep(0.3)
"""


def _line(marker: str) -> int:
    return next(i for i, text in enumerate(SCRIPT.splitlines(), 1) if f"# {marker}" in text)


def _python_frames(stack: dict[str, object], script: Path) -> list[tuple[object, object]]:
    frames = stack["frames"]
    assert isinstance(frames, list)
    return [(f["function"], f["line"]) for f in frames if f["file"] == str(script)]


def _run(tmp_path: Path, *flags: str) -> tuple[Path, dict[str, object]]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"out{len(flags)}"
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "-q", *flags, "--out",
                           str(out), "--", sys.executable, str(script)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return script, json.loads((out / "report.json").read_text())


def _top(report: dict[str, object], section: str) -> dict[str, object]:
    stacks = {s["id"]: s for s in report["stacks"]}  # type: ignore[attr-defined]
    return stacks[report["sections"][section][0]]  # type: ignore[index,no-any-return]


def test_peak_contributor_is_the_python_line(tmp_path: Path) -> None:
    script, report = _run(tmp_path)
    assert _python_frames(_top(report, "peak"), script) == [
        ("build_table.<locals>.<dictcomp>", _line("TABLE")), ("build_table", _line("TABLE")),
        ("<module>", _line("CALL-TABLE"))]


def test_parse_churn_is_counted_at_its_line_when_every_object_is_a_block(
    tmp_path: Path,
) -> None:
    # pymalloc serves the small lists from its arenas without calling malloc: with
    # --no-pymalloc (PYTHONMALLOC=malloc) every object is an allocation of its own
    script, report = _run(tmp_path, "--no-pymalloc")
    calls = frees = 0
    for stack in report["stacks"]:  # type: ignore[attr-defined]
        python = _python_frames(stack, script)
        if python and python[0] == ("parse", _line("TEMP")):
            calls, frees = calls + stack["allocs"], frees + stack["frees"]
    # 100 000 lists, each an object and its item array, plus the ints: all freed.
    # (Not heaptrack "temporaries": each list's object is followed by its array's
    # allocation before it is freed.)
    assert calls >= 200_000 and frees == calls
    assert _python_frames(_top(report, "peak"), script)[1] == ("build_table", _line("TABLE"))


def _cached(value: int) -> bool:
    """Whether CPython hands out one shared object for this int (its small-int cache)."""
    return int(str(value)) is value


def test_parse_lists_are_temporary_only_when_no_item_is_freed_first(tmp_path: Path) -> None:
    """Why parse() does not lead the temporaries (freed before the thread's next
    allocation, heaptrack's definition): CPython frees a list's items before its item
    array, so the array is the thread's last allocation at its free only when no item
    was freed first -- when all three items are cached small ints.  With pymalloc the
    lists make no allocation call at all (pymalloc serves them from its arenas)."""
    script, report = _run(tmp_path, "--no-pymalloc")
    temps = sum(
        s["temps"] for s in report["stacks"]  # type: ignore[attr-defined]
        if _python_frames(s, script)[:1] == [("parse", _line("TEMP"))]
    )  # fmt: skip
    arrays_alone = sum(all(_cached(v) for v in (i, i + 1, i + 2)) for i in range(100_000))
    assert 0 < arrays_alone < 1000
    assert temps == arrays_alone

    script, report = _run(tmp_path)
    in_parse = [s for s in report["stacks"]  # type: ignore[attr-defined]
                if ("parse", _line("TEMP")) in _python_frames(s, script)]  # fmt: skip
    assert sum(s["temps"] for s in in_parse) == 0


IMPORTS = """\
import json, email.parser, decimal, argparse, logging.handlers
import time
time.sleep(0.3)
"""


def _code_lines(path: str) -> dict[str, set[int]]:
    """Every code object's qualified name in the file at ``path`` -> the lines it covers."""
    out: dict[str, set[int]] = {}
    todo = [compile(Path(path).read_text(), path, "exec")]
    while todo:
        code = todo.pop()
        out.setdefault(code.co_qualname, set()).update(
            line for _, _, line in code.co_lines() if line is not None)  # fmt: skip
        todo.extend(c for c in code.co_consts if isinstance(c, type(code)))
    return out


def test_python_frames_of_imports_are_named_right_or_not_at_all(tmp_path: Path) -> None:
    """A module's body is freed as soon as its import ends: a frame of it is named only
    from the live code object, never from the freed one's stale fields (the name and line
    of every named frame are a code object's of that file, compiled here)."""
    script = tmp_path / "imports.py"
    script.write_text(IMPORTS)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "-q", "--out", str(out),
                           "--", sys.executable, str(script)], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    files: dict[str, dict[str, set[int]]] = {}
    checked = 0
    for stack in report["stacks"]:
        for f in stack["frames"]:
            if f["module"] is not None or not f["function"] or not str(f["file"]).endswith(".py"):
                continue  # native, unnamed, or frozen
            if f["file"] not in files:
                files[f["file"]] = _code_lines(f["file"])
            code = files[f["file"]]
            assert f["function"] in code, (f["function"], f["file"])
            assert f["line"] is None or f["line"] in code[f["function"]], f
            checked += 1
    assert checked > 1000


def test_python_entries_of_the_table_are_its_stacks_split(tmp_path: Path) -> None:
    """The table's vectorized search for Python frames finds exactly the (tag, offset)
    pairs that splitting each stack word by word finds."""
    from memlens.heap.pyframes import split_stack
    from memlens.heap.stats_table import StatsTable, table_paths

    _run(tmp_path)
    (path,) = table_paths(str(tmp_path / "out0"))
    table = StatsTable(path)
    try:
        stacks = table.stacks()
        split = {e for s in stacks for e in split_stack(s) if isinstance(e, tuple)}
        assert len(split) > 100
        assert table.python_entries(0) == (split, len(stacks))
        assert table.python_entries(len(stacks) // 2)[0] == {
            e for s in stacks[len(stacks) // 2 :] for e in split_stack(s) if isinstance(e, tuple)
        }
    finally:
        table.close()
