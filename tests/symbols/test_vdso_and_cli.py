"""The vdso from the target's own memory; symbolize's messages (padding, outside, errors)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memlens.symbols.chain import symbolizer_for
from memlens.targets import open_target
from tests.conftest import need_tool
from tests.symbols.progs import build_generated, functions_of


def _vdso_range(pid: int) -> tuple[int, int]:
    for _ in range(200):  # until the child has exec'd sleep
        maps = Path(f"/proc/{pid}/maps").read_text()
        if "/sleep" in maps:
            break
        time.sleep(0.01)
    for line in maps.splitlines():
        if line.endswith("[vdso]"):
            lo, hi = line.split()[0].split("-")
            return int(lo, 16), int(hi, 16)
    pytest.skip("the kernel maps no [vdso]")


@pytest.mark.parametrize("kind", ["live", "gcore"])
def test_vdso_symbols_from_target_memory(spawn: list, tmp_path: Path, kind: str) -> None:
    proc = subprocess.Popen(["sleep", "30"])
    spawn.append(proc)
    lo, hi = _vdso_range(proc.pid)
    # the oracle: nm on the image copied out of the process by the test itself
    with open(f"/proc/{proc.pid}/mem", "rb") as mem:
        mem.seek(lo)
        image = mem.read(hi - lo)
    (tmp_path / "vdso.so").write_bytes(image)
    out = subprocess.run([need_tool("nm"), "-D", "-S", "--defined-only", str(tmp_path / "vdso.so")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    funcs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "TtWw" and int(parts[1], 16) > 1:
            funcs.setdefault(int(parts[0], 16), set()).add(parts[3].split("@")[0])
    assert funcs
    target: int | str = proc.pid
    if kind == "gcore":  # a core names no segment: the vdso is found through AT_SYSINFO_EHDR
        core = tmp_path / "sleep.core"
        subprocess.run([need_tool("gdb"), "-q", "-batch", "-p", str(proc.pid), "-ex",
                        f"gcore {core}"], capture_output=True, check=True, timeout=120)
        target = str(core)
    with open_target(target) as snap:
        sym = symbolizer_for(snap)
        frames = sym.symbolize([lo + a + 1 for a in sorted(funcs)])
    # a live process names it as /proc/PID/maps does; a core by its DT_SONAME, as
    # eu-unstrip and Breakpad do (the core reader lists it as a module)
    name = "[vdso]" if kind != "gcore" else "linux-vdso.so.1"
    for a, f in zip(sorted(funcs), frames, strict=True):
        assert f.module == name and f.module_offset == a + 1
        assert f.function in funcs[a] and f.function_offset == 1


def _memlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memlens", "symbolize", *args],
                          capture_output=True, text=True)  # fmt: skip


def test_text_messages(build_dir: Path) -> None:
    exe = build_generated(build_dir / "cli_msgs", "-fPIE", "-pie")
    funcs = sorted(functions_of(exe), key=lambda f: f[1])
    # padding: a gap between a function's end and the next function's start (nm -S)
    gap = next(((n, s + z) for (n, s, z), (_m, t, _y) in itertools.pairwise(funcs)
                if t > s + z), None)  # fmt: skip
    assert gap is not None
    r = _memlens(str(exe), hex(gap[1]), "0xffffffffff00")
    assert r.returncode == 0
    first, second = r.stdout.splitlines()
    assert f"(padding after {gap[0]})" in first
    assert second == "0xffffffffff00 ??"
    # warnings once, after the output, on stderr, with a count and the module's range
    assert r.stderr.splitlines()[0] == "memlens symbolize: 1 warning:"
    assert "1 address outside every module; modules: cli_msgs 0x0-0x" in r.stderr


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notelf").write_bytes(b"hello")
    for args in (["/nonexistent/file", "0x10"], [str(tmp_path / "notelf"), "0x10"],
                 ["/bin/true", "0xzz"]):  # fmt: skip
        r = _memlens(*args)
        assert r.returncode != 0, args
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_column_text_equals_frame_text(build_dir: Path) -> None:
    """symbolize prints from the batch's columns; the same text as from its frames."""
    from memlens.render import jsonout
    from memlens.render.symbolize_out import (
        batch_json,
        batch_json_chunks,
        batch_text,
        json_rows,
        text_lines,
    )
    from memlens.symbols.chain import symbolizer_for_file

    exe = build_generated(build_dir / "cols", "-fPIE", "-pie")
    funcs = functions_of(exe)
    addrs = [a for _n, s, z in funcs for a in range(s - 3, s + z + 3, 3)]
    addrs += [*addrs[:50], 0xFFFF_FFFF_0000, 1]  # repeats, outside, unnamed
    batch = symbolizer_for_file(str(exe)).resolve(addrs)
    assert batch_text(batch) == list(text_lines(batch.frames()))
    assert batch_json(batch) == json_rows(batch.frames())
    encoded = b",\n".join(batch_json_chunks(batch, 64))
    assert encoded == b",\n".join(jsonout.encode_row(r) for r in batch_json(batch))
    assert any("inlined into" in t for t in batch_text(batch))
