"""Seed inputs and per-parser harnesses for benchmarks/fuzz_readers.py.

A harness writes the input to ``path`` and does with it what the CLI does with
such a file; it lets every exception through (the driver sorts them).  Seeds
are the real files of ``tests/data/``; ``.mlheap`` and ``mem_info(1)`` seeds
are written at start-up by the real writers (memlens's shim, MicroPython).
"""

from __future__ import annotations

import bz2
import io
import json
import lzma
import random
import struct
import subprocess
import sys
from pathlib import Path

import fuzz_readers_mutate as mut
from memlens.analyses.minidump_streams import all_blocks
from memlens.analyses.summary import summarize
from memlens.core.snapshot import Snapshot
from memlens.heap import profile_file
from memlens.heap.report import build_report
from memlens.mpy import meminfo_text
from memlens.render.minidump_text import blocks_json, write_text
from memlens.render.mpy_meminfo import alloc_table
from memlens.sources.minidump.dumpfile import MinidumpFile
from memlens.sources.options import OpenOptions
from memlens.targets import open_target

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
#: bytes read per region while exercising a snapshot
READ_LIMIT = 1 << 14


def _exercise(snap: Snapshot) -> None:
    """What ``info``, ``maps`` and ``read`` touch: summary, regions, threads, modules."""
    with snap:
        summarize(snap)
        space = snap.space
        for region in snap.regions[:64]:
            space.read(region.start, min(region.size, READ_LIMIT), pad=True)
            if region.size:
                space.read_masked(max(region.end - 8, region.start), 16)
        for start, end, _ in list(space.saved_ranges())[:64]:
            space.read(start, min(end - start, READ_LIMIT))
        for thread in snap.threads:
            _ = thread.pc, thread.sp, thread.stack_start, thread.stack_end
        for module in snap.modules:
            _ = module.size, module.build_id, module.debug_id


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# -- minidump ---------------------------------------------------------------------


def minidump_seeds(work: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((DATA / "minidump").glob("*.dmp"))]


def run_minidump(path: str, data: bytes) -> None:
    """``memlens minidump FILE`` (text and --json), then ``memlens info FILE``."""
    _write(path, data)
    dump = MinidumpFile(path)
    try:
        blocks = all_blocks(dump)
        blocks_json(blocks)
        write_text(blocks, io.StringIO())
    finally:
        dump.close()
    _exercise(open_target(path, OpenOptions(format="minidump")))


# -- ELF cores ----------------------------------------------------------------------

#: the multiarch cores under 1 MiB (the 8 MiB ones would make every input slow)
SMALL_CORES = ("testcore-rtlib.bz2", "testfile-m68k-core.bz2", "testfile-riscv64-core.bz2")


def elfcore_seeds(work: Path) -> list[bytes]:
    seeds = [p.read_bytes() for p in sorted((DATA / "elfcore").glob("*.elf"))]
    seeds += [bz2.decompress((DATA / "elfcore" / "multiarch" / n).read_bytes())
              for n in SMALL_CORES]  # fmt: skip
    return seeds


def run_elfcore(path: str, data: bytes) -> None:
    _write(path, data)
    _exercise(open_target(path, OpenOptions(format="elfcore")))


# -- Chromium memdump text ------------------------------------------------------------


def memdump_seeds(work: Path) -> list[bytes]:
    return [(DATA / "memdump" / "android_init.memdump").read_bytes()]


def run_memdump(path: str, data: bytes) -> None:
    _write(path, data)
    snap = open_target(path, OpenOptions(format="memdump"))
    with snap:
        for _, table in snap.iter_page_tables(list(snap.regions), kpage=False):
            if table is not None:
                _ = table.present.sum(), len(table)
    _exercise(open_target(path, OpenOptions(format="memdump")))


# -- raw pieces -------------------------------------------------------------------------
# The input is a 64-byte option block, then the bytes of up to four pieces:
#   u64 base, u64 snapshot size (0: none), i64 snapshot index (-1: "last"),
#   u8 word size, u8 big-endian, u8 extra pieces (0-3), u8 no --base, 4 bytes pad,
#   3 x (u64 base of an extra piece, ...) packed as u64 base + u32 length + u32 pad = 16 bytes
_RAW_HEAD = struct.Struct("<QQqBBBB4x")  # 32 bytes
_RAW_PIECE = struct.Struct("<QI4x")  # 16 bytes x 2 (the block is 64 bytes)


def raw_seeds(work: Path) -> list[bytes]:
    payload = (DATA / "elfcore" / "esp32.core.elf").read_bytes()[:8192]
    seeds = []
    for base, snap_size, index, extra in ((0x1000, 0, 0, 0), (0x3FFB0000, 4096, -1, 1),
                                          (0, 2048, 1, 2), (0x7FFFFFFF0000, 0, 0, 2)):
        head = _RAW_HEAD.pack(base, snap_size, index, 8 if extra != 1 else 4, extra == 1,
                              extra, 0)  # fmt: skip
        pieces = b"".join(_RAW_PIECE.pack(base + 0x100000 * (i + 1), 1024 * (i + 1))
                          for i in range(2))  # fmt: skip
        seeds.append(head + pieces + payload)
    return seeds


def run_raw(path: str, data: bytes) -> None:
    head = data[:64].ljust(64, b"\0")
    base, snap_size, index, word, big, extra, no_base = _RAW_HEAD.unpack_from(head)
    body = data[64:]
    _write(path, body)
    pieces = []
    at = 0
    for i in range(min(extra, 2)):
        p_base, p_len = _RAW_PIECE.unpack_from(head, 32 + 16 * i)
        p_len = min(p_len, 1 << 16)
        piece_path = f"{path}.piece{i}"
        _write(piece_path, body[at : at + p_len])
        at += p_len
        pieces.append((p_base, piece_path))
    options = OpenOptions(
        format="raw",
        base=None if no_base & 1 else base,
        word_size=word,
        endian="big" if big & 1 else "little",
        snapshot_size=snap_size or None,
        snapshot="last" if index == -1 else index,
        pieces=tuple(pieces),
    )
    snap = open_target(path, options)
    with snap:
        space = snap.space
        for start, array in space.saved_pieces():
            space.read(start, min(len(array), 64))
            space.read_masked(start + len(array) - 4, 8)
        space.find(b"\x7fELF")
    _exercise(open_target(path, options))


# -- MicroPython mem_info(1) text -------------------------------------------------------

_MPY_SCRIPTS = (
    "import micropython\nmicropython.mem_info(1)\n",
    "import micropython, gc\na = [bytearray(i % 50) for i in range(300)]\n"
    "for i in range(0, 300, 2):\n    a[i] = None\ngc.collect()\nmicropython.mem_info(1)\n",
    "import micropython\nd = {str(i): [i] * (i % 9) for i in range(200)}\n"
    "micropython.mem_info(1)\n",
)


def meminfo_seeds(work: Path) -> list[bytes]:
    """What MicroPython's unix port prints, for a few heaps and workloads."""
    exe = work / "micropython"
    exe.write_bytes(lzma.decompress((DATA / "mpy-unix" / "micropython-x86_64-pie.xz").read_bytes()))
    exe.chmod(0o755)
    seeds = []
    for heap in ("32768", "65536", "262144"):
        for script in _MPY_SCRIPTS:
            out = subprocess.run([str(exe), "-X", f"heapsize={heap}", "-c", script],
                                 capture_output=True, timeout=60, check=False)  # fmt: skip
            if out.returncode == 0 and b"GC memory layout" in out.stdout:
                seeds.append(out.stdout)
            else:
                # (the dict workload does not fit the 32 KiB heap: a MemoryError, on stdout)
                tail = (out.stderr or out.stdout)[-120:]
                print(f"meminfo seed skipped (heap {heap}): {tail!r}", file=sys.stderr)
    return seeds


def run_meminfo(path: str, data: bytes) -> None:
    parsed = meminfo_text.parse(data.decode("utf-8", "replace"))
    parsed.derived()
    parsed.letter_counts()
    if parsed.block_size:
        alloc_table([(a.pool_start, a.chars) for a in parsed.areas], parsed.block_size,
                    offset_width=parsed.offset_width)  # fmt: skip
    _write(path, data)
    _exercise(open_target(path, OpenOptions(format="meminfo")))


# -- memlens heap snapshots (.mlheap) -----------------------------------------------------


def mlheap_seeds(work: Path) -> list[bytes]:
    """Snapshots the shim writes for two small real programs."""
    seeds = []
    for i, cmd in enumerate((["/bin/echo", "hi"], ["/bin/ls", "/"])):
        out = work / f"run{i}"
        proc = subprocess.run([sys.executable, "-m", "memlens", "run", "--out", str(out),
                               "--top", "1", "--", *cmd], capture_output=True, timeout=120,
                              check=False)  # fmt: skip
        found = sorted(out.glob("*.mlheap"))
        if proc.returncode != 0 or not found:
            print(f"mlheap seed failed: {proc.stderr[-300:]!r}", file=sys.stderr)
        seeds += [p.read_bytes() for p in found]
    return seeds


def mlheap_header(data: bytes, rng: random.Random) -> bytes:
    """Change the JSON header (counts, modules, types), keeping or breaking its length field."""
    if len(data) < 16:
        return data
    hlen = struct.unpack_from("<I", data, 12)[0]
    header = data[16 : 16 + hlen]
    try:
        obj = json.loads(header)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and obj and rng.random() < 0.6:
        key = rng.choice(sorted(obj))
        obj[key] = rng.choice((-1, 0, 1, 2**63, 2**64, 10**400, 1e308, "x", None, [], {},
                               [{"path": 1}], [{}], len(data), obj[key]))  # fmt: skip
        new = json.dumps(obj).encode()
    else:
        new = mut.text_numbers(header, rng)
    if rng.random() < 0.8:
        return data[:12] + struct.pack("<I", len(new)) + new + data[16 + hlen :]
    return data[:16] + new + data[16 + hlen :]


def run_mlheap(path: str, data: bytes) -> None:
    """``memlens heap FILE``: load, group and report; then ``memlens info FILE``."""
    profile = profile_file.loads(data, path)
    build_report(profile)
    _write(path, data)
    _exercise(open_target(path, OpenOptions(format="mlheap")))
