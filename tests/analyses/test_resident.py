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


# A library with symbols in every kind of section, a .bss that extends past the last
# file page (the kernel maps that part as anonymous memory), and a link warning in a
# section that is never loaded, as glibc's link_warning() makes them.
KINDS_LIB = r"""
int data_word = 7;
static int local_data = 8;
const char rodata_text[] = "read only";
int bss_small;
char bss_big[1 << 16];
int code(int x) { return x + ++local_data + rodata_text[0]; }
static int local_code(int x) { return x * 3; }
int (*keep)(int) = local_code;
__attribute__((weak)) int weak_code(int x) { return x - 1; }
/* as glibc's link_warning(): the section declared first without flags (not
 * allocated), the "# ..." comments out the flags gcc would add */
asm(".section .gnu.warning.code\n\t.previous");
static const char __evoke_link_warning_code[]
    __attribute__((used, section(".gnu.warning.code\n\t#"))) = "code is deprecated";
"""

KINDS_DRIVER = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    memset(dlsym(h, "bss_big"), 1, 1 << 16);
    printf("ready\n");
    fflush(stdout);
    getchar();
    return 0;
}
"""


@pytest.fixture
def kinds_lib(build_dir: Path, spawn: list) -> tuple[int, Path]:
    lib = build_dir / "libkinds.so"
    compile_c(KINDS_LIB, lib, "-O1", "-shared", "-fPIC")
    driver = compile_c(KINDS_DRIVER, build_dir / "kindsdriver", "-ldl")
    proc = subprocess.Popen([str(driver), str(lib)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)  # fmt: skip
    spawn.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc.pid, lib


def test_bss_past_the_file_mapping_is_resident(
    kinds_lib: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pid, lib = kinds_lib
    doc = _json(capsys, "resident", str(pid), "--lib", lib.name, "--json")
    got = {s["name"]: s for s in doc["libraries"][0]["symbols"]}
    # written in full by the driver: every byte resident, most of it in the anonymous
    # mapping that follows the library's last file page
    assert got["bss_big"]["fraction"] == 1.0 and got["bss_big"]["size"] == 1 << 16


def test_nm_letters_from_sections_and_no_unloaded_symbols(
    kinds_lib: tuple[int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pid, lib = kinds_lib
    nm = subprocess.run(["nm", str(lib)], check=True, capture_output=True, text=True).stdout
    letters = {}
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 3:
            letters[parts[2]] = parts[1]
    assert main(["resident", str(pid), "--lib", lib.name]) == 0
    ours = {p.split()[-1]: p.split()[1] for p in capsys.readouterr().out.splitlines()}
    assert main(["resident", str(pid), "--lib", lib.name, "--reverse"]) == 0
    ours |= {p.split()[-1]: p.split()[1] for p in capsys.readouterr().out.splitlines()}
    names = ("data_word", "local_data", "rodata_text", "bss_small", "bss_big", "code",
             "local_code", "keep", "weak_code")  # fmt: skip
    assert {n: ours[n] for n in names} == {n: letters[n] for n in names}
    # in a section that is never loaded: neither resident nor not resident
    assert "__evoke_link_warning_code" in letters
    assert "__evoke_link_warning_code" not in ours


def test_nm_file_without_sizes(fixtures_dir: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    memdump = fixtures_dir / "memdump" / "android_init.memdump"
    nm = tmp_path / "unsized.nm"
    nm.write_text("00008010 T first\n00009020 t second\n")  # plain nm: no sizes
    assert main(["resident", str(memdump), "--lib", "/init", "--nm", str(nm),
                 "--reverse"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    bits = _bits("v///fv0D", 2)
    # page 0 resident ("v" = 0b101111...): listed in the resident set, not the reverse
    assert bits[0] and "first" not in out


def test_memdump_without_symbols_says_what_to_pass(
    fixtures_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    memdump = fixtures_dir / "memdump" / "android_init.memdump"
    assert main(["resident", str(memdump), "--lib", "/init"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) <= 2 and "--nm FILE" in err[-1] and "--sysroot" in err[-1]
