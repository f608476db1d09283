"""One spelling per option across verbs; filters that match nothing say so and fail."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from memlens.cli.main import add_verb_parser, load, main
from memlens.cli.verbs import VERBS
from memlens.heap.records import FLAG_INTERNAL
from memlens.heap.runner import RunOptions, run_under_shim
from memlens.targets import format_names
from tests.sources.live.pagetarget import start_sleeper

CORE64 = "elfcore/core_linux64.elf"
Capture = pytest.CaptureFixture[str]


def verb_parsers() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    sub = argparse.ArgumentParser(prog="memlens").add_subparsers()
    for verb in VERBS:
        yield verb.name, add_verb_parser(sub, verb, load(verb))


def test_every_verb_with_a_target_forces_a_reader_with_format() -> None:
    with_target = []
    for name, parser in verb_parsers():
        options = {s: a for a in parser._actions for s in a.option_strings}
        assert "--input-format" not in options, name
        if any(a.dest == "target" for a in parser._actions) and "--base" in options:
            with_target.append(name)
            reader = options["--format"]
            assert (reader.dest, list(reader.choices or ())) == ("format", format_names()), name
    assert {"info", "maps", "pages", "read", "find", "symbolize", "resident", "heap",
            "mpy"} <= set(with_target)  # fmt: skip


def test_heap_report_format_is_as_and_reader_is_format(tmp_path: Path) -> None:
    parser = dict(verb_parsers())["heap"]
    args = parser.parse_args(["x.mlheap", "--format", "elfcore", "--as", "json"])
    assert (args.format, args.output_format) == ("elfcore", "json")


@pytest.fixture
def sleeper() -> Iterator[int]:
    # started and waited for until it sleeps: Popen returns while exec still maps libc
    proc = start_sleeper()
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _libc_path(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        paths = {line.split()[-1] for line in f if "/libc.so" in line}
    assert len(paths) == 1
    return paths.pop()


def test_lib_matches_a_substring_like_areas(sleeper: int, capsys: Capture) -> None:
    libc = _libc_path(sleeper)
    for lib in ("libc", "libc.so.6", libc):
        assert main(["resident", str(sleeper), "--lib", lib, "--summary", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert libc in [lb["path"] for lb in doc["libraries"]]
        assert all(lib in lb["path"] for lb in doc["libraries"])


def test_lib_that_matches_nothing(sleeper: int, capsys: Capture) -> None:
    assert main(["resident", str(sleeper), "--lib", "libnosuch"]) == 2
    assert capsys.readouterr().err == (
        f"memlens: error: --lib libnosuch: no file mapped in {sleeper} has it in its path\n")


@pytest.mark.parametrize("verb", ["maps", "pages"])
def test_areas_that_match_nothing(sleeper: int, verb: str, capsys: Capture) -> None:
    assert main([verb, str(sleeper), "--areas", "nosuch,[heapx]"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == ("memlens: error: --areas nosuch,[heapx]: "
                       "no region's name contains any of these\n")


def test_areas_on_a_core(fixtures_dir: Path, capsys: Capture) -> None:
    core = str(fixtures_dir / CORE64)
    assert main(["maps", core, "--areas", "libc-2.23"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:-1]
    assert rows and all(r.endswith("libc-2.23.so") for r in rows)
    assert main(["maps", core, "--areas", "libc-9"]) == 1


def test_heap_filter_that_matches_nothing(tmp_path: Path, capsys: Capture) -> None:
    result = run_under_shim([sys.executable, "-c", "x = [bytearray(100) for _ in range(100)]"],
                            RunOptions(out_dir=str(tmp_path)))  # fmt: skip
    snap = result.snapshots[-1]
    # the blocks a report weighs: the program's, not the shim's own (INTERNAL)
    flags = snap.profile.blocks.flags
    blocks = int(((flags & np.uint64(FLAG_INTERNAL)) == 0).sum())
    assert blocks > 0
    assert main(["heap", snap.path, "--function", "no_such_function_xyz", "--no-symbols"]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (f"memlens: error: --function no_such_function_xyz: none of the {blocks} "
                       "blocks matches\n")  # fmt: skip
