"""Start tests/sources/live/pagetarget.c: a process with known page states."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import compile_c

from memlens.sources.live.freeze import task_states

HERE = Path(__file__).resolve().parent
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Target:
    proc: subprocess.Popen[str]
    addr: dict[str, int]
    dir: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def command(self, word: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()


def start_target(build: Path, workdir: Path) -> Target:
    exe = build / "pagetarget"
    if not exe.exists():
        compile_c((HERE / "pagetarget.c").read_text(), exe)
    proc = subprocess.Popen([str(exe), str(workdir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    addr: dict[str, int] = {}
    for line in proc.stdout:
        word, _, value = line.strip().partition(" ")
        if word == "ready":
            break
        addr[word] = int(value, 16) if word != "child" else int(value)
    # the child's last writes (its stack, on the way to pause()) end copy-on-write
    # sharing: wait for them, so the parent's pages hold still
    assert wait_for(lambda: asleep(addr["child"]) and asleep(proc.pid))
    return Target(proc, addr, workdir)




def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.005)
    return check()


def asleep(pid: int) -> bool:
    """Every thread of ``pid`` is in state S.

    Popen returns while exec is still mapping the new image; 'S' means the
    program reached its sleep, so every mapping exists.
    """
    return set(task_states(pid).values()) == {"S"}


def start_sleeper() -> subprocess.Popen[bytes]:
    p = subprocess.Popen(["sleep", "600"])
    assert wait_for(lambda: asleep(p.pid))
    return p
