"""``read_proc_bytes_unless_gone``: ``read_proc_bytes`` with None where that raises
ProcessGoneError for ESRCH (what ``memlens procs`` meets at every kernel thread)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from memlens.errors import ProcessGoneError, TargetError
from memlens.sources.live.procfs import read_proc_bytes, read_proc_bytes_unless_gone


def test_a_readable_file_reads_the_same() -> None:
    pid = os.getpid()
    assert read_proc_bytes_unless_gone(pid, "cmdline") == read_proc_bytes(pid, "cmdline")
    rollup = read_proc_bytes_unless_gone(pid, "smaps_rollup")
    assert rollup is not None and b"Rss:" in rollup


def test_a_zombie_is_none_where_read_proc_bytes_raises_gone() -> None:
    child = subprocess.Popen(["true"])
    try:
        for _ in range(200):  # until it is a zombie (not reaped: waited for below)
            with open(f"/proc/{child.pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    break
            time.sleep(0.01)
        else:
            pytest.fail("the child never became a zombie")
        with pytest.raises(ProcessGoneError, match="exited while being read"):
            read_proc_bytes(child.pid, "smaps_rollup")
        assert read_proc_bytes_unless_gone(child.pid, "smaps_rollup") is None
    finally:
        child.wait()


def test_other_failures_raise_as_read_proc_bytes() -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        missing = int(f.read()) + 1  # no process can have it
    for read in (read_proc_bytes, read_proc_bytes_unless_gone):
        with pytest.raises(ProcessGoneError, match="no such process"):
            read(missing, "smaps_rollup")
        with pytest.raises(TargetError, match="does not exist on this kernel") as info:
            read(os.getpid(), "no-such-file")
        assert not isinstance(info.value, ProcessGoneError)
