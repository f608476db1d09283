"""``memlens run``'s report from the shim's accounting table: peak, churn, leaks, any exit.

Programs are compiled here; heaptrack (where installed) is the oracle for the
per-function counts: ``heaptrack -o F prog``, then ``heaptrack_print F -F
stacks --flamegraph-cost-type TYPE`` gives each stack's exact figure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import heap_programs as progs
import pytest
from heap_helpers import build, need_tool

from memlens.cli.main import main

MB50 = 50 << 20

# keep() leaves 1 KiB live; spike() allocates and frees 50 MiB; churn() makes
# 100000 malloc/free pairs.  Then: exit normally, _exit(3), or print "ready"
# and wait to be killed.
SPIKE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
__attribute__((noinline)) void keep(void) { char *volatile p = malloc(1024); p[0] = 1; }
__attribute__((noinline)) void spike(void) {
    char *volatile p = malloc(50 << 20);
    memset(p, 1, 4096);
    free(p);
}
__attribute__((noinline)) void churn(void) {
    for (int i = 0; i < 100000; ++i) { char *volatile p = malloc(32); p[0] = 1; free(p); }
}
int main(int argc, char **argv) {
    keep();
    spike();
    churn();
    if (argc > 1 && argv[1][0] == 'x') _exit(3);
    if (argc > 1 && argv[1][0] == 'w') {
        printf("ready %d\n", getpid());
        fflush(stdout);
        pause();
    }
    return 0;
}
"""


def run_json(out: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((out / "report.json").read_text())
    return doc


def innermost(doc: dict[str, Any], function: str) -> dict[str, Any]:
    """The one stack whose innermost frame is ``function``."""
    found = [s for s in doc["stacks"] if s["frames"] and s["frames"][0]["function"] == function]
    assert len(found) == 1, [s["frames"][:1] for s in doc["stacks"]]
    return found[0]


def first_of(doc: dict[str, Any], section: str) -> str:
    by_id = {s["id"]: s for s in doc["stacks"]}
    name: str = by_id[doc["sections"][section][0]]["frames"][0]["function"]
    return name


def test_peak_is_the_spike_and_the_live_remainder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    assert main(["run", "--out", str(out), "--top", "3", "--", str(exe)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # the report is on stderr: stdout is the program's
    doc = run_json(out)
    s = doc["summary"]
    assert s["peak_bytes"] == MB50 + 1024 and s["peak_blocks"] == 2
    assert s["leaked_bytes"] == 1024 and s["leaked_blocks"] == 1
    assert s["allocations"] == 100002 and s["frees"] == 100001
    assert first_of(doc, "peak") == "spike" and first_of(doc, "leaks") == "keep"
    assert first_of(doc, "calls") == "churn" and first_of(doc, "temporary") == "churn"
    assert first_of(doc, "allocated") == "spike"
    assert innermost(doc, "spike")["peak_bytes"] == MB50
    assert innermost(doc, "keep")["live_bytes"] == 1024
    churn = innermost(doc, "churn")
    assert (churn["allocs"], churn["frees"], churn["temps"]) == (100000, 100000, 100000)
    assert "peak heap     50M (52429824 bytes) in 2 blocks" in captured.err
    assert "exit status 0" in captured.err
    html = (out / "report.html").read_text()
    assert "spike" in html and '"samples"' in html


def test_exit_status_of_underscore_exit_and_a_full_report(tmp_path: Path) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "--out", str(out), "--",
                           str(exe), "x"], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "exit status 3" in done.stderr and "Traceback" not in done.stderr
    doc = run_json(out)
    assert doc["status"] == 3
    assert doc["summary"]["peak_bytes"] == MB50 + 1024
    assert doc["summary"]["allocations"] == 100002
    assert innermost(doc, "churn")["temps"] == 100000


def test_kill_9_mid_run_still_reports_peak_and_counts(tmp_path: Path) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "memlens", "run", "--out", str(out), "--",
                             str(exe), "w"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ready "), line
    os.kill(int(line.split()[1]), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert "killed by signal 9" in err
    doc = run_json(out)
    assert doc["summary"]["peak_bytes"] == MB50 + 1024
    # One more allocation than at _exit: printf's stdout buffer, still live.
    assert (doc["summary"]["allocations"], doc["summary"]["frees"]) == (100003, 100001)
    assert first_of(doc, "peak") == "spike"
    assert innermost(doc, "keep")["live_bytes"] == 1024


def _heaptrack_costs(exe: Path, tmp: Path) -> dict[str, dict[str, int]]:
    """Per innermost function, heaptrack's figure for each cost type (from its folded stacks)."""
    need_tool("heaptrack")
    need_tool("heaptrack_print")
    data = tmp / "ht"
    subprocess.run(["heaptrack", "-o", str(data), str(exe)], check=True, capture_output=True)
    files = list(tmp.glob("ht*"))
    assert files, "heaptrack wrote no data file"
    costs: dict[str, dict[str, int]] = {}
    for cost in ("allocations", "temporary", "leaked", "peak"):
        folded = tmp / f"{cost}.txt"
        argv = ["heaptrack_print", "-f", str(files[0]), "-F", str(folded),
                "--flamegraph-cost-type", cost]  # fmt: skip
        subprocess.run(argv, check=True, capture_output=True)
        for line in folded.read_text().splitlines():
            stack, _, value = line.rpartition(" ")
            leaf = [f for f in stack.split(";") if f][-1].split(" (")[0]
            costs.setdefault(leaf, {}).setdefault(cost, 0)
            costs[leaf][cost] += int(value)
    return costs


def _by_leaf(doc: dict[str, Any], exe: Path) -> dict[str, dict[str, int]]:
    """Our figures per innermost function of the program itself (summed over its stacks)."""
    out: dict[str, dict[str, int]] = {}
    for s in doc["stacks"]:
        f = s["frames"][0] if s["frames"] else None
        if f is None or f["module"] != str(exe) or not f["function"]:
            continue
        acc = out.setdefault(f["function"], dict.fromkeys(("allocations", "temporary",
                                                            "leaked", "peak"), 0))  # fmt: skip
        acc["allocations"] += s["allocs"]
        acc["temporary"] += s["temps"]
        acc["leaked"] += s["live_bytes"]
        acc["peak"] += s["peak_bytes"]
    return out


DEMO = (Path(__file__).resolve().parents[2] / "src" / "memlens" / "shim" / "demo.c").read_text()


PROGRAMS = {"spike": SPIKE, "demo": DEMO, "seed": progs.SEED}


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_per_function_figures_equal_heaptrack(tmp_path: Path, program: str) -> None:
    """heaptrack 1.4 on SPIKE: churn 100000 calls / 100000 temporary, spike 1 / 1 and
    52428800 bytes at the peak, keep 1024 bytes leaked; on the demo and the seed's
    program, every function of the program (calls, temporary, leaked, peak) as
    heaptrack_print counts them."""
    # -O0 for the seed's program: -O1 drops its mallocs whose blocks are never read.
    exe = build(PROGRAMS[program], tmp_path / program, "-O0" if program == "seed" else "-O1")
    theirs = _heaptrack_costs(exe, tmp_path)
    out = tmp_path / "o"
    assert main(["run", "-q", "--out", str(out), "--", str(exe)]) == 0
    ours = _by_leaf(run_json(out), exe)
    assert len(ours) >= 2, ours
    for function, mine in ours.items():
        assert mine == {k: theirs[function].get(k, 0) for k in mine}, function
    if program == "spike":
        assert ours["churn"]["temporary"] == 100000


def test_gzip_output_stays_the_programs(tmp_path: Path) -> None:
    gzip = need_tool("gzip")
    data = tmp_path / "data.txt"
    data.write_bytes(b"".join(b"line %d of memlens test data\n" % i for i in range(50000)))
    target = tmp_path / "data.txt.gz"
    with open(target, "wb") as f:
        done = subprocess.run([sys.executable, "-m", "memlens", "run", "--out",
                               str(tmp_path / "o"), "--", gzip, "-c", str(data)], stdout=f,
                              stderr=subprocess.PIPE)  # fmt: skip
    assert done.returncode == 0, done.stderr
    import gzip as gz

    assert gz.decompress(target.read_bytes()) == data.read_bytes()


def test_sort_output_equals_plain_sort(tmp_path: Path) -> None:
    sort = need_tool("sort")
    data = tmp_path / "words.txt"
    data.write_text("".join(f"{(i * 7919) % 10007} w{i}\n" for i in range(20000)))
    plain = subprocess.run([sort, str(data)], capture_output=True, check=True).stdout
    done = subprocess.run([sys.executable, "-m", "memlens", "run", "--out", str(tmp_path / "o"),
                           "--", sort, str(data)], capture_output=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == plain
    assert b"memlens run: " in done.stderr


@pytest.mark.parametrize("flags", [["--every", "-1"], ["--every", "0"], ["--sample", "0"],
                                   ["--interval", "nan"]])  # fmt: skip
def test_bad_values_are_refused_in_one_line(tmp_path: Path, flags: list[str]) -> None:
    argv = [sys.executable, "-m", "memlens", "run", *flags, "--out", str(tmp_path), "--", "true"]
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert flags[0] in done.stderr


def _pprof_samples(path: Path) -> dict[str, dict[str, int]]:
    """``go tool pprof -raw``: each sample's values by type, keyed by its leaf function."""
    go = need_tool("go")
    text = subprocess.run([go, "tool", "pprof", "-raw", str(path)], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    lines = text.splitlines()
    types = [t.split("/")[0] for t in lines[lines.index("Samples:") + 1].split()]
    functions: dict[str, str] = {}
    for line in lines[lines.index("Locations") + 1 :]:
        if line == "Mappings":
            break
        fields = line.split()
        functions[fields[0].rstrip(":")] = fields[3]
    out: dict[str, dict[str, int]] = {}
    for line in lines[lines.index("Samples:") + 2 : lines.index("Locations")]:
        values, _, locs = line.partition(":")
        out[functions[locs.split()[0]]] = dict(
            zip(types, (int(v) for v in values.split()), strict=True)
        )
    return out


def test_pprof_carries_every_sample_type(tmp_path: Path) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    assert main(["run", "-q", "--out", str(out), "--", str(exe)]) == 0
    samples = _pprof_samples(out / "heap.pb.gz")
    assert samples["spike"] == {
        "alloc_objects": 1, "alloc_space": MB50, "inuse_objects": 0, "inuse_space": 0,
        "peak_objects": 1, "peak_space": MB50, "temporary_objects": 1,
    }  # fmt: skip
    assert samples["keep"]["inuse_space"] == 1024 and samples["keep"]["peak_space"] == 1024
    assert samples["churn"]["temporary_objects"] == 100000
    assert samples["churn"]["alloc_space"] == 100000 * 32


# work(int) allocates every map node through std::map code inlined into it.
INLINED = r"""
#include <cstdio>
#include <map>
static std::map<int, long> *table;
__attribute__((noinline)) void work(int n) {
    for (int i = 0; i < n; ++i) (*table)[i] = i;
}
int main() {
    table = new std::map<int, long>;
    work(20000);
    std::printf("%zu\n", table->size());
    return 0;
}
"""


def test_inlined_std_map_code_is_attributed_to_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exe = build(INLINED, tmp_path / "work", "-O2", cxx=True)
    out = tmp_path / "o"
    assert main(["run", "--out", str(out), "--top", "1", "--", str(exe)]) == 0
    doc = run_json(out)
    by_id = {s["id"]: s for s in doc["stacks"]}
    top = by_id[doc["sections"]["peak"][0]]
    assert top["peak_bytes"] == 20000 * 48 and top["peak_blocks"] == 20000  # one node each
    frame = next(f for f in top["frames"] if f["inlined_by"])
    assert frame["function"].startswith("std::")
    assert frame["inlined_by"][-1]["function"] == "work(int)"
    # In the text, work(int) is the real function of that frame (its module named).
    err = capsys.readouterr().err
    assert f"work(int)  {tmp_path / 'work.cc'}:6  (work)" in err


LIBLEAK = r"""
#include <stdlib.h>
__attribute__((noinline)) void *leak_from_lib(int i) {
    char *volatile p = malloc(4096 + i);
    return p;
}
void leak_many(void) { for (int i = 0; i < 10; ++i) leak_from_lib(i); }
"""

# Loads the library, lets it allocate, unloads it, exits at once (memlens polls
# /proc/PID/maps only every 100 ms: it never sees the library mapped).
DLCLOSE = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    void (*leak_many)(void) = (void (*)(void))dlsym(lib, "leak_many");
    if (!leak_many) return 3;
    leak_many();
    return dlclose(lib);
}
"""


def test_frames_of_a_dlclosed_library_are_named(tmp_path: Path) -> None:
    lib = build(LIBLEAK, tmp_path / "libleak.so", "-O1", "-shared", "-fPIC")
    exe = build(DLCLOSE, tmp_path / "dlclose", "-O1", "-ldl")
    out = tmp_path / "o"
    assert main(["run", "-q", "--out", str(out), "--", str(exe), str(lib)]) == 0
    doc = run_json(out)
    leak = innermost(doc, "leak_from_lib")
    assert (leak["live_blocks"], leak["live_bytes"]) == (10, 10 * 4096 + 45)
    assert leak["frames"][0]["module"] == str(lib)
    assert leak["frames"][1]["function"] == "leak_many"


def test_through_a_shell_wrapper_the_report_is_the_programs(tmp_path: Path) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    # "; true" makes the shell fork the program rather than exec it.
    assert main(["run", "-q", "--out", str(out), "--", "/bin/sh", "-c", f"{exe}; true"]) == 0
    doc = run_json(out)
    assert doc["processes"] >= 2  # the shell and the program, each with its own table
    assert doc["summary"]["peak_bytes"] == MB50 + 1024
    assert first_of(doc, "peak") == "spike"


FORKER = r"""
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
__attribute__((noinline)) void parent_work(void) { char *volatile p = malloc(1000); p[0] = 1; }
__attribute__((noinline)) void child_work(void) {
    for (int i = 0; i < 5000; ++i) { char *volatile p = malloc(100); p[0] = 1; }
}
int main(void) {
    parent_work();
    pid_t pid = fork();
    if (pid == 0) { child_work(); _exit(0); }
    int status;
    waitpid(pid, &status, 0);
    return WEXITSTATUS(status);
}
"""


def test_follow_fork_gives_a_forked_child_its_own_table(tmp_path: Path) -> None:
    exe = build(FORKER, tmp_path / "forker", "-O1")
    plain = tmp_path / "plain"
    assert main(["run", "-q", "--out", str(plain), "--", str(exe)]) == 0
    assert len(list(plain.glob("*.mlstats"))) == 1  # the child is not followed
    doc = run_json(plain)
    assert innermost(doc, "parent_work")["live_bytes"] == 1000
    assert not [s for s in doc["stacks"] if s["frames"] and s["frames"][0]["function"] ==
                "child_work"]  # fmt: skip
    followed = tmp_path / "followed"
    assert main(["run", "-q", "--follow-fork", "--out", str(followed), "--", str(exe)]) == 0
    assert len(list(followed.glob("*.mlstats"))) == 2
    doc = run_json(followed)  # the child made the most calls: its report
    assert innermost(doc, "child_work")["live_blocks"] == 5000
    # Its table started as a copy of the parent's: parent_work's block is in it too.
    assert innermost(doc, "parent_work")["live_bytes"] == 1000


def test_the_table_file_reports_the_run_after_the_fact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    assert main(["run", "-q", "--out", str(out), "--", str(exe), "x"]) == 3
    (table,) = out.glob("*.mlstats")
    capsys.readouterr()
    assert main(["heap", str(table), "--as", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "run" and doc["summary"]["peak_bytes"] == MB50 + 1024
    assert first_of(doc, "peak") == "spike"  # symbolized from the modules the shim noted
    assert innermost(doc, "churn")["temps"] == 100000


@pytest.mark.parametrize("follow", [True, False])
def test_an_exec_d_program_is_followed_unless_told_not_to(tmp_path: Path, follow: bool) -> None:
    exe = build(SPIKE, tmp_path / "spike", "-O1")
    out = tmp_path / "o"
    flag = "--follow-exec" if follow else "--no-follow-exec"
    assert main(["run", "-q", flag, "--out", str(out), "--", "/bin/sh", "-c", f"exec {exe}"]) == 0
    tables = sorted(p.name.split("-")[1] for p in out.glob("*.mlstats"))
    doc = run_json(out)
    if follow:  # the shell's image, then the program's (same pid, next index)
        assert tables == ["0.mlstats", "1.mlstats"]
        assert doc["summary"]["peak_bytes"] == MB50 + 1024
    else:  # only the shell's
        assert tables == ["0.mlstats"]
        assert doc["summary"]["peak_bytes"] < MB50


# 200000 blocks of 1000 bytes, each freed at once, from one stack.
SAMPLED_CHURN = r"""
#include <stdlib.h>
__attribute__((noinline)) void churn(void) {
    for (int i = 0; i < 200000; ++i) { char *volatile p = malloc(1000); p[0] = 1; free(p); }
}
int main(void) { churn(); return 0; }
"""


def test_sampled_per_stack_figures_are_unbiased_estimates(tmp_path: Path) -> None:
    exe = build(SAMPLED_CHURN, tmp_path / "churn", "-O1")
    out = tmp_path / "o"
    assert main(["run", "-q", "--sample", "65536", "--out", str(out), "--", str(exe)]) == 0
    doc = run_json(out)
    assert doc["sampled"] and doc["summary"]["allocations"] >= 200000  # totals: every block
    churn = innermost(doc, "churn")
    # ~3050 samples: the estimates are within 10% (5 standard errors) of the truth.
    assert abs(churn["allocs"] - 200000) < 20000, churn["allocs"]
    assert abs(churn["bytes"] - 200000 * 1000) < 20000 * 1000, churn["bytes"]
    assert churn["allocs"] == churn["frees"] and churn["live_bytes"] == 0


def test_a_second_run_into_the_same_out_reports_its_own_program(tmp_path: Path) -> None:
    big = build(SPIKE, tmp_path / "spike", "-O1")
    small = build(SAMPLED_CHURN.replace("200000", "10"), tmp_path / "small", "-O1")
    out = tmp_path / "o"
    assert main(["run", "-q", "--out", str(out), "--", str(big)]) == 0
    assert main(["run", "-q", "--out", str(out), "--", str(small)]) == 0
    doc = run_json(out)
    assert doc["command"] == [str(small)] and doc["summary"]["allocations"] < 1000


@pytest.mark.parametrize("flags", [["--report", "/nonexistent/dir/r.txt"], ["--out", "/proc/x"]])
def test_unwritable_outputs_are_refused_before_the_run(tmp_path: Path, flags: list[str]) -> None:
    marker = tmp_path / "ran"
    argv = [sys.executable, "-m", "memlens", "run", "--out", str(tmp_path / "o"), *flags, "--",
            "/bin/sh", "-c", f"touch {marker}"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True)
    # an output that cannot be written is an OutputError (exit 1) on every verb
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot " in done.stderr and flags[1] in done.stderr and not marker.exists()
