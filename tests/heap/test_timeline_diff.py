"""``memlens heap diff OUT --from A --to B``: the growth between two moments of a run is the
growth the program made then, with its stacks (the program writes down what it did)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from heap_helpers import build

from memlens.heap.moments import diff_moments, parse_moment, sample_at
from memlens.heap.stats_table import StatsTable, table_paths
from memlens.heap.timeline import Sample, StackChanges, Timeline

# Three steps 400 ms apart: 8 MiB in grow_a, then 2 x 4 MiB in grow_b, then the 8 MiB freed.
# After each step the program notes its name, bytes and CLOCK_MONOTONIC time.
STEPS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static long long now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
__attribute__((noinline)) void *grow_a(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
__attribute__((noinline)) void *grow_b(size_t n) { void *p = malloc(n); memset(p, 2, n); return p; }
int main(int argc, char **argv) {
    long long at[3];
    usleep(400000);
    void *a = grow_a(8 << 20);
    at[0] = now();
    usleep(400000);
    void *b1 = grow_b(4 << 20), *b2 = grow_b(4 << 20);
    at[1] = now();
    usleep(400000);
    free(a);
    at[2] = now();
    usleep(400000);
    FILE *f = argc > 1 ? fopen(argv[1], "w") : NULL;
    if (!f) return 2;
    fprintf(f, "grow_a %d %lld\ngrow_b %d %lld\nfree_a %d %lld\n",
            8 << 20, at[0], 2 * (4 << 20), at[1], -(8 << 20), at[2]);
    fclose(f);
    return b1 == b2;
}
"""

HALF_GAP = 0.2  # seconds: a moment halfway between two steps


def memlens(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memlens", *args], capture_output=True,
                          text=True)  # fmt: skip


def test_diff_between_two_moments_is_the_growth_the_program_made(tmp_path: Path) -> None:
    exe = build(STEPS, tmp_path / "steps", "-O1", "-g")
    out, notes = tmp_path / "o", tmp_path / "steps.txt"
    done = memlens("run", "-q", "--out", str(out), "--", str(exe), str(notes))
    assert done.returncode == 0, done.stderr
    with StatsTable(table_paths(str(out))[0]) as table:
        start = table.totals().start_ns
    steps = {}
    for line in notes.read_text().split("\n")[:3]:
        name, size, ns = line.split()
        steps[name] = (int(size), (int(ns) - start) / 1e9)

    # Between a moment after grow_a and one after grow_b: grow_b's two blocks, nothing else.
    frm, to = steps["grow_a"][1] + HALF_GAP, steps["grow_b"][1] + HALF_GAP
    frm_text, to_ms = f"{frm:.3f}", round(to * 1000)  # the moments as given, rounded
    done = memlens("heap", "diff", str(out), "--from", f"{frm_text}s", "--to",
                   f"{to_ms}ms", "--as", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["kind"] == "heap_moment_diff"
    assert d["from"]["seconds"] <= float(frm_text) and d["to"]["seconds"] <= to_ms / 1000
    assert d["to"]["live_bytes"] - d["from"]["live_bytes"] == steps["grow_b"][0]
    assert [(s["bytes_delta"], s["blocks_delta"]) for s in d["stacks"]] == [(4 << 20, 1)] * 2
    for s in d["stacks"]:
        names = [f["function"] for f in s["frames"]]
        assert names[:2] == ["grow_b", "main"], names
    assert sum(s["bytes_delta"] for s in d["stacks"]) == steps["grow_b"][0]

    # From the peak to the end: grow_a's block freed, as text.
    done = memlens("heap", "diff", str(out), "--from", "peak", "--to", "end")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(f": {steps['free_a'][0]:+d} bytes"), lines[0]
    freed = steps["free_a"][0]
    assert lines[1] == f"{freed:+d} bytes -1 blocks ({-freed} -> 0 bytes, 1 -> 0 blocks)"
    assert " grow_a+" in lines[2]


def test_a_moment_outside_the_run_is_one_clear_line(tmp_path: Path) -> None:
    exe = build(STEPS, tmp_path / "steps", "-O1")
    out = tmp_path / "o"
    ran = memlens("run", "-q", "--out", str(out), "--", str(exe), str(tmp_path / "n"))
    assert ran.returncode == 0, ran.stderr
    for moment, says in (("99s", "the run's timeline ends at"), ("soon", "not a moment"),
                         ("#100000", "the timeline has samples #0 to")):  # fmt: skip
        done = memlens("heap", "diff", str(out), "--from", moment)
        assert done.returncode != 0 and done.stdout == ""
        assert len(done.stderr.splitlines()) == 1 and says in done.stderr, done.stderr
    done = memlens("heap", "diff", str(tmp_path / "steps.c"), "--to", "end")
    assert done.returncode != 0 and len(done.stderr.splitlines()) == 1, done.stderr


def _sample(t: float, live: int, rows: list[tuple[int, int, int]], read: bool = True) -> Sample:
    a = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
    return Sample(t, live, None, 0, 0, changed=StackChanges(a[:, 0], a[:, 1], a[:, 2]),
                  stacks=read)  # fmt: skip


def test_moments_rebuild_each_stack_and_skip_samples_that_did_not_read_stacks() -> None:
    # Rows 1 and 2 are one stack (two threads); row 3 another.  Sample 2 read no stacks
    # (a long run past the budget): a moment there stands for sample 1.
    tl = Timeline(0.01, [
        _sample(0.00, 100, [(1, 100, 1)]),
        _sample(0.01, 400, [(2, 200, 2), (3, 100, 1)]),
        _sample(0.02, 900, [], read=False),
        _sample(0.03, 700, [(1, 0, 0), (3, 600, 3)]),
    ])  # fmt: skip
    live, blocks = tl.live_at(3)
    assert live.tolist() == [0, 0, 200, 600] and blocks.tolist() == [0, 0, 2, 3]
    assert sample_at(tl, parse_moment("25ms")) == 1
    assert sample_at(tl, parse_moment("#2")) == 1
    assert sample_at(tl, parse_moment("peak")) == 3  # sample 2 (900) read no stacks
    d = diff_moments(tl, {1: 1, 2: 1, 3: 3}, 1, 3)
    got = [(s.id, s.bytes_before, s.bytes_after, s.blocks_before, s.blocks_after)
           for s in d.stacks]  # fmt: skip
    assert got == [(3, 100, 600, 1, 3), (1, 300, 200, 3, 2)]
    tl.fill_tops()
    assert [s.top for s in tl.samples] == [((1, 100),), ((2, 200), (1, 100), (3, 100)),
                                           ((2, 200), (1, 100), (3, 100)), ((3, 600), (2, 200))]
