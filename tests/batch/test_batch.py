"""``memlens batch``: the same tables from the local scheduler and a real dask.distributed
LocalCluster, resumable runs, a worker killed mid-run, and a 1000-input fleet."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from distributed import Client, LocalCluster

from memlens.batch.aggregate import fleet_report
from memlens.batch.scheduler import run_batch
from memlens.batch.store import read_table
from memlens.batch.tables import COLUMNS
from memlens.cli.main import main

#: a run's own timing differs between runs; every other column must be equal
VOLATILE = {"seconds"}


def _sorted(table: pa.Table) -> list[dict[str, object]]:
    rows = [{k: v for k, v in r.items() if k not in VOLATILE} for r in table.to_pylist()]
    return sorted(rows, key=lambda r: [str(r[k]) for k in sorted(r)])


def _tables(out: Path) -> dict[str, list[dict[str, object]]]:
    return {name: _sorted(read_table(str(out), name)) for name in COLUMNS}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    # distributed sets MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS... in this process's own
    # environment for its workers; programs later tests start must not inherit them
    saved = dict(os.environ)
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as c:  # fmt: skip
            yield c
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_local_scheduler_and_local_cluster_give_the_same_tables(
    fleet_inputs: Path, tmp_path: Path, cluster: LocalCluster
) -> None:
    local = run_batch("info", [str(fleet_inputs)], str(tmp_path / "local"), workers=2, chunk_size=3)
    with Client(cluster) as client:
        dist = run_batch("info", [str(fleet_inputs)], str(tmp_path / "dist"), client=client,
                         chunk_size=2)  # fmt: skip
    assert (local.inputs, local.analysed, local.errors) == (11, 11, 2)
    assert (dist.inputs, dist.analysed, dist.errors) == (11, 11, 2)
    a, b = _tables(tmp_path / "local"), _tables(tmp_path / "dist")
    for name in COLUMNS:
        assert a[name] == b[name], name
    # every readable input is one dump row; each broken one is one errors row naming it
    assert len(a["dumps"]) == 9
    assert sorted(Path(str(e["path"])).name for e in a["errors"]) == ["bad.dmp.bz2", "noise.bin"]
    by_name = {Path(str(d["path"])).name: d for d in a["dumps"]}
    # a minidump cut after its header is read in part, and says so
    assert by_name["truncated.dmp"]["warnings"] > 0  # type: ignore[operator]
    reasons = {Path(str(e["path"])).name: str(e["reason"]) for e in a["errors"]}
    assert "cannot decompress" in reasons["bad.dmp.bz2"]
    assert "not a known snapshot format" in reasons["noise.bin"]
    # the compressed copies were read without unpacking to disk: same answers as the originals
    assert by_name["again.dmp.gz"]["crash_reason"] == "EXCEPTION_ACCESS_VIOLATION_WRITE"
    assert by_name["again.dmp.gz"]["crash_address"] == 0x45  # Breakpad's stackwalk says 0x45
    assert by_name["again.elf.zst"]["pid"] == by_name["core_linux64.elf"]["pid"] == 23395
    assert by_name["x86_64.core.bz2"]["arch"] == "x86_64"


def test_a_second_run_does_no_work(fleet_inputs: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    first = run_batch("info", [str(fleet_inputs)], out, workers=1)
    before = _tables(tmp_path / "out")
    again = run_batch("info", [str(fleet_inputs)], out, workers=1)
    assert (first.analysed, again.analysed, again.skipped, again.chunks) == (11, 0, 11, [])
    assert _tables(tmp_path / "out") == before
    # a copy under another name has a known content key: scheduled, not analysed again
    shutil.copy(fleet_inputs / "minidump2.dmp", tmp_path / "copy.dmp")
    third = run_batch("info", [str(fleet_inputs), str(tmp_path / "copy.dmp")], out, workers=1)
    assert (third.inputs, third.skipped, third.analysed) == (12, 11, 0)
    assert _tables(tmp_path / "out") == before


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    fleet_inputs: Path, tmp_path: Path, cluster: LocalCluster
) -> None:
    reference = tmp_path / "reference"
    run_batch("info", [str(fleet_inputs)], str(reference), workers=1)
    killed: list[int] = []
    with Client(cluster) as client:
        pids = sorted(client.run(os.getpid).values())

        def progress(done: int, total: int) -> None:
            if done == 2 and not killed:  # tasks remain, some on the worker being killed
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        result = run_batch("info", [str(fleet_inputs)], str(tmp_path / "out"), client=client,
                           chunk_size=1, progress=progress)  # fmt: skip
        client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next test
    assert killed and result.analysed == 11
    assert _tables(tmp_path / "out") == _tables(reference)
    assert run_batch("info", [str(fleet_inputs)], str(tmp_path / "out"), workers=1).analysed == 0


def test_a_thousand_inputs_give_the_expected_errors_and_signature_counts(
    fleet_inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    originals = sorted(p for p in fleet_inputs.iterdir() if p.suffix in (".dmp", ".elf")
                       and p.name != "truncated.dmp")  # fmt: skip
    assert len(originals) == 5
    made = {p.name: 0 for p in originals}
    corrupt = 0
    for i in range(1000):
        src = originals[i % len(originals)]
        data = src.read_bytes()
        if i % 10 == 9:  # every tenth input is cut short inside its headers (own content)
            (folder / f"{i:04}-{src.name}").write_bytes(data[:24] + i.to_bytes(4, "little"))
            corrupt += 1
        else:  # a trailing word makes each copy its own content
            (folder / f"{i:04}-{src.name}").write_bytes(data + i.to_bytes(4, "little"))
            made[src.name] += 1
    result = run_batch("info", [str(folder)], str(tmp_path / "out"), workers=2, chunk_size=25)
    assert (result.inputs, result.analysed, result.errors) == (1000, 1000, corrupt)
    assert read_table(str(tmp_path / "out"), "errors").num_rows == corrupt == 100
    dumps = read_table(str(tmp_path / "out"), "dumps").to_pylist()
    assert len(dumps) == 900
    report = fleet_report(str(tmp_path / "out"), top=50)
    # each original crashes in one place: one signature per original, counted once per copy
    by_source: dict[str, set[str]] = {}
    for d in dumps:
        by_source.setdefault(Path(str(d["path"])).name[5:], set()).add(str(d["signature"]))
    assert all(len(s) == 1 for s in by_source.values()), by_source
    expected = sorted((made[name], next(iter(sigs))) for name, sigs in by_source.items())
    assert sorted((s.count, s.signature) for s in report.signatures) == expected
    assert main(["batch", "report", str(tmp_path / "out"), "--json"]) == 0
    assert '"kind": "batch-report"' in capsys.readouterr().out


def test_duckdb_reads_the_tables(fleet_inputs: Path, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is a test extra (pip install .[test])")
    out = tmp_path / "out"
    run_batch("info", [str(fleet_inputs)], str(out), workers=1)
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT crash_reason, count(*) FROM '{out}/dumps/*.parquet' "
        "WHERE crash_reason IS NOT NULL GROUP BY 1"
    ).fetchall()
    counted: dict[str, int] = {}
    for d in read_table(str(out), "dumps").to_pylist():
        if d["crash_reason"] is not None:
            counted[str(d["crash_reason"])] = counted.get(str(d["crash_reason"]), 0) + 1
    assert dict(rows) == counted
    assert counted["EXCEPTION_ACCESS_VIOLATION_WRITE"] == 2  # minidump2.dmp and its gz copy


def test_bad_arguments_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["batch", "info", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["batch", "info", str(tmp_path)]) == 2
    assert "needs -o OUT" in capsys.readouterr().err


def test_first_and_last_seen_come_from_the_dumps_own_time(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copy(Path(__file__).parent.parent / "data/minidump/minidump2.dmp", tmp_path / "a.dmp")
    run_batch("info", [str(tmp_path / "a.dmp")], str(out), workers=1)
    (sig,) = fleet_report(str(out)).signatures
    # minidump_dump prints the header's time_date_stamp 0x45d35f73: 2007-02-14 19:13:55 UTC
    assert sig.first_seen == sig.last_seen == 0x45D35F73


def test_signatures_skip_the_frames_that_lead_into_a_crash() -> None:
    from memlens.batch.signature import signature
    from memlens.symbols.frame import Frame

    frames = [Frame(1, function="__kernel_vsyscall"), Frame(2, function="raise"),
              Frame(3, function="abort"), Frame(4, function="parse_header(char const*)"),
              Frame(5, function="main")]  # fmt: skip
    assert signature(frames) == "__kernel_vsyscall | raise | abort | parse_header(char const*)"
    unnamed = [Frame(0x7F0000001234, module="/lib/libfoo.so.1", module_offset=0x1234)]
    assert signature(unnamed) == "libfoo.so.1@0x1234"
    assert signature([Frame(9, function="_start")]) == ""


def test_stack_signature_of_minidump2_names_breakpads_crashing_function(tmp_path: Path) -> None:
    data = Path(__file__).parent.parent / "data/minidump"
    out = tmp_path / "out"
    run_batch("info", [str(data / "minidump2.dmp")], str(out), workers=1,
              symbol_dirs=[str(data / "symbols")])  # fmt: skip
    (dump,) = read_table(str(out), "dumps").to_pylist()
    # minidump2.stackwalk.out: frame 0 is test_app.exe!`anonymous namespace'::CrashFunction
    assert dump["signature"] == "`anonymous namespace'::CrashFunction"
    frames = read_table(str(out), "frames").to_pylist()
    assert [f["function"] for f in sorted(frames, key=lambda f: f["index"])][:2] == [
        "`anonymous namespace'::CrashFunction", "main"]
