"""MicroPython's own unix port (64-bit PIE, stripped, 32-bit i386): every way of
dumping a running interpreter, with and without its ELF or map, must give back
what ``micropython.mem_info(1)`` printed at that moment, character for character."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.mpy.memory import analyse_any_word, prepare
from memlens.mpy.objects import objects
from memlens.mpy.symbols import from_elf
from memlens.sources.options import OpenOptions
from memlens.targets import open_target

from ..conftest import need_tool, not_applicable
from .unixport import Interpreter, running

# (build, workload, heap size): heap sizes from 64 KiB to 1 MiB, every workload on each build
CASES = [
    ("x86_64-pie", "mixed", 256 << 10), ("x86_64-pie", "fragmented", 64 << 10),
    ("x86_64-pie", "garbage", 1 << 20), ("x86_64-stripped", "mixed", 64 << 10),
    ("x86_64-stripped", "garbage", 256 << 10), ("i386", "mixed", 256 << 10),
    ("i386", "fragmented", 64 << 10), ("i386", "garbage", 1 << 20),
]  # fmt: skip


@dataclass
class Dumps:
    interp: Interpreter
    truth: str  # from the "GC:" line to the end of the table
    truth_case: tuple[str, str, int]
    live: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # symbols -> result
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> target arguments


def symbol_args(interp: Interpreter) -> dict[str, list[str]]:
    out = {"none": [], "elf": ["--elf", str(interp.binary)]}
    if interp.map is not None:
        out["map"] = ["--map", str(interp.map)]
    if interp.map is not None and "pie" not in interp.build:
        # linked at fixed addresses: the image from the map's first section, like a flash
        image = interp.binary.with_suffix(".bin")
        if not image.exists():
            subprocess.run([need_tool("objcopy"), "-O", "binary", str(interp.binary),
                            str(image)], check=True)  # fmt: skip
        out["map+bin"] = ["--map", str(interp.map), "--bin", str(image)]
    return out


def _regions(pid: int) -> list[tuple[int, int, str, str]]:
    out = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(None, 5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        out.append((lo, hi, parts[1], parts[5] if len(parts) > 5 else ""))
    return out


def raw_pieces(pid: int, binary: Path, out: Path, *, flash: bool) -> list[str]:
    """Regions read from /proc/PID/mem into files: RAM only (anonymous, heap, stack and
    the interpreter's writable data), or with ``flash`` its read-only file pages too."""
    pieces: list[tuple[int, Path]] = []
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for lo, hi, perms, name in _regions(pid):
            mine = name == str(binary)
            ram = (not name or name in ("[heap]", "[stack]")) and "w" in perms
            if not (ram or (mine and ("w" in perms or flash))):
                continue
            mem.seek(lo)
            path = out / f"piece-{'f' if flash else 'r'}-{lo:x}.bin"
            path.write_bytes(mem.read(hi - lo))
            pieces.append((lo, path))
    first, *rest = pieces
    args = [str(first[1]), "--format", "raw", "--base", f"{first[0]:x}"]
    for lo, path in rest:
        args += ["--piece", f"{lo:x}:{path}"]
    return args


def heap_only(pid: int, heapsize: int, out: Path) -> list[str]:
    """Just the interpreter's heap memory (``heapsize`` bytes from the allocation table,
    which gdb reads from ``mp_state_ctx``), as a raw file with ``--heap`` bounds."""
    expr = "p/x mp_state_ctx.mem.area.gc_alloc_table_start"
    proc = subprocess.run([need_tool("gdb"), "-batch", "-nx", "-p", str(pid), "-ex", expr],
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    start = int(proc.stdout.split("= ")[-1].split()[0], 16)
    path = out / "heap-only.bin"
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        mem.seek(start)
        path.write_bytes(mem.read(heapsize))
    return [str(path), "--format", "raw", "--base", f"{start:x}",
            "--heap", f"{start:x}:{start + heapsize:x}"]  # fmt: skip


def _cli(argv: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "memlens", *argv], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}-{c[2] >> 10}k")
def dumps(
    request: pytest.FixtureRequest,
    interpreters: dict[str, Interpreter],
    tmp_path_factory: pytest.TempPathFactory,
) -> Dumps:
    build, workload, heapsize = request.param
    interp = interpreters[build]
    tmp = tmp_path_factory.mktemp(f"{build}-{workload}")
    with running(interp, workload, heapsize, tmp) as run:
        truth = run.meminfo[run.meminfo.index("GC: total:") :]
        d = Dumps(interp, truth, request.param)
        for name, extra in symbol_args(interp).items():
            d.live[name] = _cli(["mpy", str(run.pid), "--table", *extra])
        gcore = tmp / "gcore"
        subprocess.run([need_tool("gcore"), "-o", str(gcore), str(run.pid)],
                       capture_output=True, check=True, timeout=120)  # fmt: skip
        d.files["gcore"] = [str(gcore) + f".{run.pid}"]
        snap = tmp / "snapshot.core"  # an ELF32 core for the i386 build
        rc, _, err = _cli(["snapshot", str(run.pid), "-o", str(snap)])
        assert rc == 0, err
        d.files["snapshot"] = [str(snap)]
        d.files["raw+flash"] = raw_pieces(run.pid, interp.binary, tmp, flash=True)
        d.files["raw"] = raw_pieces(run.pid, interp.binary, tmp, flash=False)
        if "stripped" not in build:
            d.files["heap-only"] = heap_only(run.pid, heapsize, tmp)
        d.files["kernel"] = [str(run.kernel_core())]
    return d


def _table(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    rc = main(["mpy", *argv, "--table"])
    out, err = capsys.readouterr()
    return rc, out, err


def test_live_matches_mem_info(dumps: Dumps) -> None:
    for name, (rc, out, err) in dumps.live.items():
        assert (name, rc, err.count("Traceback")) == (name, 0, 0), err
        assert out == dumps.truth, name


@pytest.mark.parametrize("kind", ["gcore", "kernel", "snapshot", "raw+flash"])
def test_core_matches_mem_info(
    dumps: Dumps, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kind in dumps.files
    for name, extra in symbol_args(dumps.interp).items():
        rc, out, err = _table(capsys, [*dumps.files[kind], *extra])
        assert (name, rc) == (name, 0), err
        assert out == dumps.truth, name


def test_ram_only_with_symbols_matches_mem_info(
    dumps: Dumps, capsys: pytest.CaptureFixture[str]
) -> None:
    """No file pages at all: the ELF (or map) supplies types, qstrs and the load bias."""
    if "stripped" in dumps.interp.build:
        not_applicable("a stripped ELF names neither mp_state_ctx nor the types: nothing to place")
    for name, extra in symbol_args(dumps.interp).items():
        if name == "none" or (name == "map" and "pie" in dumps.interp.build):
            continue
        rc, out, err = _table(capsys, [*dumps.files["raw"], *extra])
        assert (name, rc) == (name, 0), err
        assert out == dumps.truth, name


@pytest.mark.parametrize("kind", ["raw", "heap-only"])
def test_without_types_warns_once(
    dumps: Dumps, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No type objects in the dump and nothing to read them from (RAM pieces, or the heap
    alone with its bounds and nothing else): the numbers and the table's shape are still
    exact, the letters are not, and memlens says so (once)."""
    if kind not in dumps.files:
        not_applicable("a stripped build: gdb cannot read mp_state_ctx to give the bounds")
    rc, out, err = _table(capsys, dumps.files[kind])
    warnings = [ln for ln in err.splitlines() if ln.startswith("memlens: warning:")]
    assert rc == 3 and len(warnings) == 1 and "--elf" in warnings[0], err
    assert "type objects" in warnings[0]
    unlettered = dumps.truth.translate(str.maketrans("TLDSAFBM", "hhhhhhhh"))
    head, table = dumps.truth.split("GC memory layout", 1)
    assert out == head + "GC memory layout" + table.translate(str.maketrans("TLDSAFBM", "h" * 8))
    assert out.splitlines()[:2] == unlettered.splitlines()[:2]


def _types(core: str, elf: Path | None) -> dict[str, int]:
    """Allocations per type name in a core, as the library reports them."""
    with open_target(core, OpenOptions()) as snap:
        mem = prepare(snap, from_elf(str(elf)) if elf else None)
        heap = analyse_any_word(mem.space, core, mem.symbols, False)
        counts: dict[str, int] = {}
        for o in objects(heap):
            counts[o.type] = counts.get(o.type, 0) + 1
    return counts


def test_objects_by_type_match_the_workload(dumps: Dumps) -> None:
    """What the mixed workload made, counted by type, with and without the ELF: 40
    Points, 60 + 30 floats, 30 bytes, 20 closures, 150 + 60 strings, one bytearray."""
    if "mixed" not in str(dumps.truth_case):
        not_applicable("counts are written down for the mixed workload")
    plain = _types(dumps.files["gcore"][0], None)
    with_elf = _types(dumps.files["gcore"][0], dumps.interp.binary)
    assert plain["instance of Point"] == 40
    assert plain["closure"] == 20
    assert plain["float"] >= 90 and plain["bytes"] >= 30 and plain["str"] >= 210
    assert plain["bytearray"] == 1 and plain["tuple"] >= 1 and plain["dict"] >= 1
    # the same names with and without symbols (the ELF only names types with no name)
    named = {k: v for k, v in with_elf.items() if not k.startswith("(data")}
    assert {k: v for k, v in named.items() if k != "cell"} == {
        k: v for k, v in plain.items() if not k.startswith("(data")}


def test_pruned_graph_keeps_connected_nodes_and_breaks_labels(
    dumps: Dumps, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--graph-nodes 60`` keeps 60 allocations that are all joined to a root or to
    each other, and labels break into lines (no literal backslash-n drawn)."""
    if "mixed" not in dumps.truth_case[1]:
        not_applicable("one workload is enough for the picture")
    dot = tmp_path / "g.dot"
    assert main(["mpy", *dumps.files["gcore"], "--graph", str(dot), "--graph-nodes", "60"]) == 0
    capsys.readouterr()
    text = dot.read_text()
    nodes = set(re.findall(r"^  (n[0-9a-f]+) \[label=", text, re.M))
    arrows = re.findall(r"^  ([rn][0-9a-f]+) -> (n[0-9a-f]+)[ ;]", text, re.M)
    linked = {b for _, b in arrows} | {a for a, _ in arrows if a.startswith("n")}
    assert len(nodes) == 60 and nodes <= linked
    svg = subprocess.run([need_tool("dot"), "-Tsvg", str(dot)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    drawn = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert drawn and not any("\\n" in t for t in drawn)
    assert any(t.startswith("instance of Point") or t.startswith("list ") for t in drawn)
    # edges are labelled at their tail with the offset of the word holding the pointer
    assert any(re.fullmatch(r"\+0x[0-9a-f]+", t) for t in drawn)


def test_roots_named_by_dwarf_and_regions(
    dumps: Dumps, capsys: pytest.CaptureFixture[str]
) -> None:
    """Roots are named by the mp_state_ctx field that holds them (DWARF), or by their
    region: the workload's globals hang from ``mp_state_ctx.vm.dict_main``, and the
    interpreter's C stack holds pointers into the heap."""
    if "mixed" not in dumps.truth_case[1] or "stripped" in dumps.interp.build:
        not_applicable("one workload, on the builds with DWARF")
    assert main(["mpy", *dumps.files["gcore"], "--elf", str(dumps.interp.binary),
                 "--json"]) == 0  # fmt: skip
    names = set(json.loads(capsys.readouterr().out)["graph"]["root_names"])
    assert "mp_state_ctx.vm.dict_main.map.table" in names
    assert "mp_state_ctx.vm.mp_loaded_modules_dict.map.table" in names
    assert any(n.startswith("[stack") for n in names if n)


def test_uncollected_garbage_is_unreachable(
    dumps: Dumps, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the collector off, the workload leaves 299 ``[i, str(i), i * 1.5]`` lists
    (the 300th is still the global ``x``): each list, str and float is unreachable --
    unless a stale word on the C stack still points at it, which keeps it alive for
    MicroPython's conservative collector too (seen: one float on i386)."""
    if dumps.truth_case[1] != "garbage":
        not_applicable("the garbage workload")
    assert main(["mpy", *dumps.files["gcore"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    type_at = {o["address"]: o["type"] for o in doc["objects"]}
    lost: dict[str, int] = {}
    for a in doc["graph"]["unreachable"]:
        lost[type_at[a]] = lost.get(type_at[a], 0) + 1
    for kind in ("list", "str", "float"):
        assert 296 <= lost.get(kind, 0) <= 299, (kind, lost)


def test_heap_only_prints_what_it_inferred(
    dumps: Dumps, capsys: pytest.CaptureFixture[str]
) -> None:
    """The heap alone, given by its bounds: the layout (the unix port keeps a finaliser
    table and the gap byte) and the block size (four words) are inferred and said."""
    if "heap-only" not in dumps.files:
        not_applicable("a stripped build: gdb cannot read mp_state_ctx to give the bounds")
    assert main(["mpy", *dumps.files["heap-only"]]) == 3  # types unknown: partial
    first = capsys.readouterr().out.splitlines()[0]
    block = 4 * dumps.interp.word_size
    assert f"layout finaliser+gap, {block}-byte blocks inferred" in first, first
    assert f"{dumps.interp.word_size * 8}-bit little-endian words" in first


def test_ram_only_with_map_names_types_like_the_interpreter(
    dumps: Dumps, capsys: pytest.CaptureFixture[str]
) -> None:
    """RAM pieces and a linker map, nothing else: mp_type_type from the map lets the
    classes defined in Python (their type objects are on the heap) be recognised, and
    the static types are named as Python names them (``function``, not ``fun_bc``)."""
    if dumps.interp.build != "i386" or "mixed" not in dumps.truth_case[1]:
        not_applicable("the build linked at fixed addresses, with its map; one workload")
    assert dumps.interp.map is not None
    main(["mpy", *dumps.files["raw"], "--map", str(dumps.interp.map), "--json"])
    types = {t["type"]: t["count"] for t in json.loads(capsys.readouterr().out)["types"]}
    assert types["instance of Point"] == 40 and types["closure"] == 20
    assert types["function"] >= 20 and "fun_bc" not in types
