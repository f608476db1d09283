"""The heap report's free lists add up to mallinfo2's, and malloc_trim's effect shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.glibc.leakreport import leak_report
from memlens.glibc.usage import heap_usage
from memlens.glibc.walk import walk_heap
from memlens.render.leaks_heap import usage_payload
from memlens.render.leaks_json import payload
from memlens.targets import open_target
from tests.glibc.programs import build, gcore, parse_figures, running


@pytest.fixture(scope="module")
def arenas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("arenas", tmp_path_factory.mktemp("glibc"))


@pytest.mark.parametrize("modes", ["fb", "fbt"])
def test_free_lists_add_up(arenas: Path, tmp_path: Path, modes: str) -> None:
    with running(arenas, "1", modes) as (proc, line):
        core = gcore(proc.pid, tmp_path / "core")
    mi = parse_figures(line)
    with open_target(str(core)) as snap:
        usage = heap_usage(walk_heap(snap))
    lists = {name: (n, size) for name, n, size in usage.by_list}
    assert sum(size for name, (_, size) in lists.items() if name != "tcache") == mi["fordblks"]
    assert lists["fastbin"][0] == mi["smblks"]
    assert lists["top"][1] == mi["keepcost"]
    if usage.tunables:  # mallopt(3)'s defaults: M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD
        assert usage.tunables == {"trim_threshold": 128 << 10, "top_pad": 128 << 10,
                                  "mmap_threshold": 128 << 10}  # fmt: skip
    (main_arena,) = usage.arenas
    assert main_arena.free == mi["fordblks"] + lists["tcache"][1]
    assert 0 <= main_arena.fragmentation < 1
    if "t" in modes:
        # after malloc_trim(0) the top is below a page: nothing of it is left to trim,
        # and no fastbin chunk is left (trim consolidates them)
        assert main_arena.top < 4096 + 32 and lists["fastbin"][0] == 0
    else:
        assert main_arena.trimmable >= (main_arena.top - 4096 - 32) // 4096 * 4096 > 0


def test_cli_heap_section(arenas: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running(arenas, "8", "fbm") as (proc, line):
        core = gcore(proc.pid, tmp_path / "core")
    mi = parse_figures(line)
    assert main(["leaks", str(core), "--heap"]) == 0
    out = capsys.readouterr().out
    assert f"mallinfo2: arena={mi['arena']} " in out
    assert out.count(" thread ") == 7 and out.count(" main ") == 1
    assert "malloc_trim(0) could give back up to" in out
    # the JSON payload (built as the verb builds it, whatever the flag spelling)
    with open_target(str(core)) as snap:
        report = leak_report(snap)
    heap = usage_payload(heap_usage(report.walk))
    doc = json.loads(json.dumps({**payload(report), "heap": heap}))
    assert doc["mallinfo2"] == mi and len(doc["heap"]["arenas"]) == 8
    lists = {row["list"]: row["bytes"] for row in doc["heap"]["free_by_list"]}
    assert sum(v for k, v in lists.items() if k != "tcache") == mi["fordblks"]
