"""``memlens demo``: start a small process with known memory, show it, stop it."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile

from memlens.errors import TargetError
from memlens.render import jsonout

NAME = "demo"
HELP = "start a demo process with known memory and show 'maps' and 'pages --summary' for it"
DESCRIPTION = """\
Starts a child process that maps 64 MiB of anonymous memory (every other
page written, the second half then dropped with MADV_DONTNEED, the first
page mlocked) and a 1 MiB file (4 pages read; the kernel may map more of
it: fault-around, large folios), then runs 'memlens maps' and
'memlens pages --summary' on it.  The child is always killed afterwards.
"""
EXAMPLES = (
    "memlens demo",
    "memlens demo --json | head -1 | jq '.regions | max_by(.size) | {size, resident_pages}'",
)

# The demo process: plain Python, so it runs wherever memlens does.
CHILD = r"""
import ctypes, mmap, os, sys
PAGE = mmap.PAGESIZE
libc = ctypes.CDLL(None, use_errno=True)
anon = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
base = ctypes.addressof(ctypes.c_char.from_buffer(anon))
# name the mapping [anon:memlens-demo] (Linux 5.17+, CONFIG_ANON_VMA_NAME)
libc.prctl(0x53564d41, 0, ctypes.c_ulong(base), ctypes.c_ulong(64 << 20),
           ctypes.c_char_p(b"memlens-demo"))
for off in range(0, 64 << 20, 2 * PAGE):
    anon[off] = 1
anon.madvise(mmap.MADV_DONTNEED, 32 << 20, 32 << 20)
libc.mlock(ctypes.c_void_p(base), ctypes.c_size_t(PAGE))
path = sys.argv[1]
with open(path, "wb") as f:
    f.write(os.urandom(1 << 20))
with open(path, "rb") as f:
    data = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
data.madvise(mmap.MADV_RANDOM)
for page in range(4):
    data[page * 16 * PAGE]
print("ready", flush=True)
sys.stdin.read()
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="machine-readable output: one JSON document per line (maps, pages)")


def _json_lines(commands: list[list[str]]) -> int:
    """Each command's JSON document on one line (NDJSON): ``| head -1`` is a whole document."""
    from memlens.cli.main import run_verb

    code = 0
    for argv in commands:
        raw = io.BytesIO()
        out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
        with contextlib.redirect_stdout(out):
            code = max(code, run_verb([*argv, "--json"]))
        out.flush()
        jsonout.write_lines([json.loads(raw.getvalue())])
    return code


def run(args: argparse.Namespace) -> int:
    from memlens.cli.main import run_verb

    with tempfile.TemporaryDirectory(prefix="memlens-demo-") as tmp:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, os.path.join(tmp, "demo data.bin")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise TargetError(child.pid, "the demo process failed to start")
            pid = str(child.pid)
            if args.json:
                return _json_lines([["maps", pid], ["pages", pid, "--summary"]])
            print(f"demo process {pid}\n\n$ memlens maps {pid}", flush=True)
            code = run_verb(["maps", pid])
            print(f"\n$ memlens pages {pid} --summary", flush=True)
            code = max(code, run_verb(["pages", pid, "--summary"]))
        finally:
            child.kill()
            child.wait()
    return code
