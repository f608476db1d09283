"""--freeze always resumes the target; a process that exits mid-scan gives a partial result."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest
from tests.conftest import ROOT
from tests.sources.live.pagetarget import wait_for

from memlens.cli.main import main
from memlens.errors import TargetError
from memlens.sources.live import pagemap
from memlens.sources.live.freeze import Freezer, task_states

EXITED = "the process exited during the scan"


def stopped(pid: int) -> bool:
    states = task_states(pid)
    return bool(states) and all(s in "Tt" for s in states.values())


def running(pid: int) -> bool:
    states = task_states(pid)
    return bool(states) and not any(s in "Tt" for s in states.values())


def hook_reads(monkeypatch: pytest.MonkeyPatch, after: int, action: Callable[[], None]) -> None:
    """Run ``action`` once, after the ``after``-th region's pagemap read."""
    real = pagemap.read_entries
    calls = [0]

    def reading(*args: Any) -> Any:
        result = real(*args)
        calls[0] += 1
        if calls[0] == after:
            action()
        return result

    monkeypatch.setattr(pagemap, "read_entries", reading)


# -- a process that exits during the scan ----------------------------------


@pytest.mark.parametrize("reaped", [False, True], ids=["zombie", "reaped"])
def test_exit_mid_scan_is_a_partial_result(
    sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], reaped: bool,
) -> None:  # fmt: skip
    def kill() -> None:
        sleeper.kill()
        if reaped:
            sleeper.wait()
        else:
            assert wait_for(lambda: task_states(sleeper.pid).get(sleeper.pid) == "Z")

    hook_reads(monkeypatch, 3, kill)
    code = main(["pages", str(sleeper.pid)])
    out, err = capsys.readouterr()
    assert code == 3
    assert err == f"memlens: partial result: {EXITED}\n"
    marks: list[bool] = []  # per region header: is it marked partial?
    for line in out.splitlines():
        if re.match(r"[0-9a-f]{16}-[0-9a-f]{16} ", line):
            marks.append(False)
        elif line.startswith(f"  (partial: {EXITED}; 0 of "):
            marks[-1] = True
    assert len(marks) > 3 and marks == [False] * 3 + [True] * (len(marks) - 3)


def test_exit_mid_scan_in_maps(
    sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def kill() -> None:
        sleeper.kill()
        sleeper.wait()

    hook_reads(monkeypatch, 2, kill)
    code = main(["maps", str(sleeper.pid), "--json"])
    out, err = capsys.readouterr()
    assert code == 3 and err == f"memlens: partial result: {EXITED}\n"
    import json

    regions = json.loads(out)["regions"]
    assert [r["partial"] for r in regions[:2]] == [None, None]
    assert {r["partial"] for r in regions[2:] if r["name"] != "[vsyscall]"} == {EXITED}


def test_no_such_process(capsys: pytest.CaptureFixture[str]) -> None:
    p = subprocess.Popen(["true"])
    p.wait()
    code = main(["pages", str(p.pid)])
    _, err = capsys.readouterr()
    assert code == 1 and err == f"memlens: error: process {p.pid}: no such process\n"


# -- --freeze ---------------------------------------------------------------


def test_freezer_stops_and_resumes(sleeper: subprocess.Popen[bytes]) -> None:
    f = Freezer(sleeper.pid)
    f.stop()
    assert f.frozen and stopped(sleeper.pid)
    f.resume()
    assert not f.frozen and wait_for(lambda: running(sleeper.pid))
    f.resume()  # idempotent
    assert running(sleeper.pid)


def test_freeze_stops_during_the_scan_and_resumes_after(
    sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    seen: list[bool] = []
    hook_reads(monkeypatch, 1, lambda: seen.append(stopped(sleeper.pid)))
    assert main(["pages", str(sleeper.pid), "--freeze", "--summary"]) == 0
    capsys.readouterr()
    assert seen == [True]
    assert wait_for(lambda: running(sleeper.pid))


@pytest.mark.parametrize("exc", [TargetError(1, "boom"), KeyboardInterrupt()],
                         ids=["error", "ctrl-c"])  # fmt: skip
def test_freeze_resumes_on_error_and_ctrl_c(
    sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], exc: BaseException,
) -> None:  # fmt: skip
    def fail() -> None:
        assert stopped(sleeper.pid)
        raise exc

    hook_reads(monkeypatch, 2, fail)
    code = main(["pages", str(sleeper.pid), "--freeze"])
    capsys.readouterr()
    assert code == (130 if isinstance(exc, KeyboardInterrupt) else 1)
    assert wait_for(lambda: running(sleeper.pid))


HOLDER = textwrap.dedent("""
    import sys, time
    from memlens.sources.live.freeze import Freezer
    f = Freezer(int(sys.argv[1]))
    try:
        f.stop()
        print("frozen", flush=True)
        time.sleep(60)
    except KeyboardInterrupt as e:
        print("interrupted", type(e).__name__, flush=True)
    finally:
        f.resume()
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=["sigterm", "sighup", "sigkill"])  # fmt: skip
def test_freeze_resumes_when_memlens_is_killed(
    sleeper: subprocess.Popen[bytes], sig: signal.Signals
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(sleeper.pid)],
                              stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "frozen"
    assert stopped(sleeper.pid)
    holder.send_signal(sig)
    rest = holder.stdout.read()
    holder.wait()
    if sig != signal.SIGKILL:
        assert rest.strip() == "interrupted Interrupted"
    # SIGKILL: only the watchdog can resume it
    assert wait_for(lambda: running(sleeper.pid))


def test_already_stopped_target_is_left_as_it_was(
    sleeper: subprocess.Popen[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    os.kill(sleeper.pid, signal.SIGSTOP)
    assert wait_for(lambda: stopped(sleeper.pid))
    try:
        assert main(["maps", str(sleeper.pid), "--freeze"]) == 0
        _, err = capsys.readouterr()
        assert err == "memlens: warning: --freeze: already stopped: left as it was\n"
        time.sleep(0.05)
        assert stopped(sleeper.pid)
    finally:
        os.kill(sleeper.pid, signal.SIGCONT)
