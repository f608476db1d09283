"""``memlens resident``: exact resident symbol sets in a live process; the memdump fixture."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from memlens.cli.main import main
from tests.conftest import compile_c

FUNCS = [f"f{i}" for i in range(8)]
CALLED = {"f1", "f4", "f6"}

LIB = "\n".join(
    f"__attribute__((aligned(4096), noinline)) int {name}(int x) {{ return x * {i + 2} + 1; }}"
    for i, name in enumerate(FUNCS)
) + "\n"

# Loads the library, calls the functions named "+f", then drops the pages of
# those named "-f" from its page table (MADV_DONTNEED unmaps file pages of a
# private mapping; the kernel's fault-around may have mapped them with their
# neighbours): exactly the called functions' pages are present.
DRIVER = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/mman.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    for (int i = 2; i < argc; i++)
        if (argv[i][0] == '+') ((int (*)(int))dlsym(h, argv[i] + 1))(i);
    for (int i = 2; i < argc; i++)
        if (argv[i][0] == '-') {
            uintptr_t page = (uintptr_t)dlsym(h, argv[i] + 1) & ~(uintptr_t)4095;
            if (madvise((void *)page, 4096, MADV_DONTNEED)) { perror("madvise"); return 1; }
        }
    printf("ready\n");
    fflush(stdout);
    getchar();
    return 0;
}
"""


@pytest.fixture
def live_lib(build_dir: Path, spawn: list) -> tuple[int, Path]:
    lib = build_dir / "libpages.so"
    compile_c(LIB, lib, "-O2", "-shared", "-fPIC")
    driver = compile_c(DRIVER, build_dir / "pagedriver", "-ldl")
    moves = [("+" if f in CALLED else "-") + f for f in FUNCS]
    proc = subprocess.Popen([str(driver), str(lib), *moves], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)  # fmt: skip
    spawn.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc.pid, lib


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_resident_exact_sets_in_live_process(
    live_lib: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pid, lib = live_lib
    doc = _json(capsys, "resident", str(pid), "--lib", lib.name, "--json")
    (entry,) = doc["libraries"]
    resident = {s["name"] for s in entry["symbols"] if s["name"] in FUNCS}
    assert resident == CALLED
    for s in entry["symbols"]:
        if s["name"] in CALLED:
            # a whole function is on its page: all of its bytes are resident
            assert s["fraction"] == 1.0 and s["resident_bytes"] == s["size"]
    doc = _json(capsys, "resident", str(pid), "--lib", lib.name, "--json", "--reverse")
    (entry,) = doc["libraries"]
    assert {s["name"] for s in entry["symbols"] if s["name"] in FUNCS} == set(FUNCS) - CALLED
    assert all(s["fraction"] == 0.0 for s in entry["symbols"] if s["name"] in FUNCS)


def test_resident_default_output_is_nm_lines(
    live_lib: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pid, lib = live_lib
    nm = subprocess.run(["nm", str(lib)], check=True, capture_output=True, text=True).stdout
    nm_file = lib.with_suffix(".nm")
    nm_file.write_text(nm)
    assert main(["resident", str(pid), "--lib", lib.name, "--nm", str(nm_file)]) == 0
    printed = capsys.readouterr().out.splitlines()
    wanted = [line for line in nm.splitlines() if line.split()[-1] in CALLED]
    # the seed's shape: the nm lines themselves, unchanged
    assert [p for p in printed if p.split()[-1] in FUNCS] == wanted


def _bits(b64: str, pages: int) -> list[bool]:
    raw = base64.b64decode(b64)
    return [i // 8 < len(raw) and bool(raw[i // 8] >> (i % 8) & 1) for i in range(pages)]


def test_memdump_fixture_with_synthetic_nm(
    fixtures_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """android_init: /init mapped at 0x8000 (offset 0), r-x, 43 pages, bitmap v///fv0D."""
    memdump = fixtures_dir / "memdump" / "android_init.memdump"
    bits = _bits("v///fv0D", (0x33000 - 0x8000) // 4096)
    # one symbol per page of the text mapping, plus one spanning pages 5-7 and one
    # of unknown size; a non-PIE executable linked at 0x8000 (bias 0)
    lines = [f"{0x8000 + 4096 * p + 0x10:08x} {0x100:08x} T page{p}" for p in range(len(bits))]
    lines.append(f"{0x8000 + 4096 * 5 + 0x800:08x} {2 * 4096:08x} T span5to7")
    lines.append(f"{0x8000 + 4096 * 24:08x} t nosize24")
    nm = tmp_path / "init.nm"
    nm.write_text("\n".join(lines) + "\n")
    doc = _json(capsys, "resident", str(memdump), "--lib", "/init", "--nm", str(nm), "--json")
    (entry,) = doc["libraries"]
    got = {s["name"]: s for s in entry["symbols"]}
    expected = {f"page{p}" for p, b in enumerate(bits) if b}
    assert {n for n in got if n.startswith("page")} == expected
    # pages 5, 6, 7: bits 1, 0, 1 -> 0x800 + 0 + 0x800 of 0x2000 bytes
    assert bits[5:8] == [True, False, True]
    assert got["span5to7"]["resident_bytes"] == 0x1000 and got["span5to7"]["fraction"] == 0.5
    assert bits[24] is False and "nosize24" not in got
    assert main(["resident", str(memdump), "--lib", "/init", "--nm", str(nm), "--reverse"]) == 0
    out = capsys.readouterr().out.splitlines()
    wanted = {f"page{p}" for p, b in enumerate(bits) if not b} | {"nosize24"}
    # the nm lines themselves, in address order (as nm sorts them)
    assert out == sorted((line for line in lines if line.split()[-1] in wanted),
                         key=lambda line: int(line.split()[0], 16))  # fmt: skip


def test_resident_on_a_memlens_snapshot_equals_the_live_process(
    live_lib: tuple[int, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``memlens snapshot PID -o FILE`` records residency: the same answers from the file."""
    pid, lib = live_lib
    core = tmp_path / "snap.core"
    live = _json(capsys, "resident", str(pid), "--lib", lib.name, "--json")
    live_summary = _json(capsys, "resident", str(pid), "--summary", "--json")
    assert main(["snapshot", str(pid), "-o", str(core)]) == 0
    capsys.readouterr()
    snap = _json(capsys, "resident", str(core), "--lib", lib.name, "--json")
    snap_summary = _json(capsys, "resident", str(core), "--summary", "--json")
    (a,), (b,) = live["libraries"], snap["libraries"]
    assert {s["name"] for s in a["symbols"] if s["name"] in FUNCS} == CALLED
    assert b["symbols"] == a["symbols"]
    assert b["path"] == a["path"] and b["load_bias"] == a["load_bias"]

    def per_library(doc: dict) -> dict:
        # the other libraries of the process: their pages may be faulted in or
        # reclaimed between two reads; ours is held fixed by the driver
        return {x["path"]: x for x in doc["libraries"]}

    assert per_library(snap_summary)[str(lib)] == per_library(live_summary)[str(lib)]
    assert set(per_library(snap_summary)) == set(per_library(live_summary))
