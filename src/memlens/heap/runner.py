"""Run a command under the allocation shim and take heap snapshots of it.

Protocol (robust because the child never writes files and never needs memlens
inside it): the child gets ``LD_PRELOAD=libmemlens_shim.so`` and
``MEMLENS_FD=W,R,INODE_W,INODE_R`` (the fds are inherited by every process of
the tree it starts; the inodes let one that reused those numbers tell).  At
exit, on SIGUSR2 and on a crash signal the shim writes
``snapshot PID TID REASON\\n`` to fd W and blocks reading one byte from fd R.
Meanwhile this parent reads the child's memory through /proc (the child is
held inside the shim, so the heap does not change under the scan, except in
other threads), saves a ``.mlheap`` file (and with ``core`` an ELF core of the whole process)
and writes the byte.  ``--every``
sends SIGUSR2 on a timer.  If the parent dies, the pipe closes and the child
continues (read returns 0).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

from memlens.core.snapshot import Snapshot
from memlens.errors import MemlensError, ToolMissingError
from memlens.heap import profile_file
from memlens.heap.model import HeapProfile
from memlens.heap.report import profile_from_snapshot
from memlens.sources.live.coredump import snapshot_process
from memlens.sources.live.process import open_process
from memlens.sources.options import OpenOptions


def shim_path() -> str:
    """Path of the built shim library.

    Raises:
        ToolMissingError: the package was installed without its build step.
    """
    path = str(resources.files("memlens.shim").joinpath("libmemlens_shim.so"))
    if not os.path.exists(path):
        raise ToolMissingError("libmemlens_shim.so", "reinstall memlens: pip install .")
    return path


@dataclass(frozen=True, slots=True)
class RunOptions:
    out_dir: str
    every: float | None = None
    sample: int = 0
    #: words of stack per block; None: the shim's default (16, or 64 inside CPython)
    frames: int | None = None
    unwind: str = "auto"
    crash: bool = True
    core: bool = False  # also write an ELF core of the process at each snapshot
    #: Python: keep pymalloc (its arenas are heap blocks); False runs with PYTHONMALLOC=malloc
    pymalloc: bool = True
    #: Python: also record the native frames above the innermost Python frame
    native: bool = False


@dataclass(slots=True)
class SnapshotTaken:
    path: str
    reason: str
    pid: int
    profile: HeapProfile


@dataclass(slots=True)
class RunResult:
    returncode: int
    snapshots: list[SnapshotTaken] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def final(self) -> SnapshotTaken | None:
        """The snapshot to report: each process's last one, the largest heap of those.

        Every process of the tree (a shell wrapper and what it starts) takes
        snapshots; helpers have small heaps, the program of interest the largest.
        """
        last: dict[int, SnapshotTaken] = {}
        for s in self.snapshots:
            last[s.pid] = s
        if not last:
            return None
        return max(reversed(list(last.values())), key=lambda s: s.profile.blocks.total_bytes)

    @property
    def pids(self) -> list[int]:
        return sorted({s.pid for s in self.snapshots})


def child_env(opts: RunOptions, fds: tuple[int, int]) -> dict[str, str]:
    env = dict(os.environ)
    preload = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = shim_path() + (" " + preload if preload else "")
    # The inodes let a descendant that reused fd numbers tell they are not ours.
    ino = [os.fstat(fd).st_ino for fd in fds]
    env["MEMLENS_FD"] = f"{fds[0]},{fds[1]},{ino[0]},{ino[1]}"
    if opts.frames is not None:
        env["MEMLENS_FRAMES"] = str(opts.frames)
    env["MEMLENS_CRASH"] = "1" if opts.crash else "0"
    if opts.sample:
        env["MEMLENS_SAMPLE"] = str(opts.sample)
    if opts.native:
        env["MEMLENS_NATIVE"] = "1"
    if not opts.pymalloc:
        env["PYTHONMALLOC"] = "malloc"  # every Python object a block with its own stack
    if opts.unwind != "auto":
        env["MEMLENS_UNWIND"] = opts.unwind
    # libstdc++ pools (GLIBCXX_FORCE_NEW) hide allocations from any malloc shim.
    env.setdefault("GLIBCXX_FORCE_NEW", "1")
    return env


def run_under_shim(
    argv: Sequence[str],
    opts: RunOptions,
    on_snapshot: Callable[[SnapshotTaken, Snapshot], None] | None = None,
) -> RunResult:
    """Run ``argv`` to completion, snapshotting its heap on every request."""
    os.makedirs(opts.out_dir, exist_ok=True)
    notify_r, notify_w = os.pipe()
    ack_r, ack_w = os.pipe()
    try:
        proc = subprocess.Popen(
            list(argv), env=child_env(opts, (notify_w, ack_r)), pass_fds=(notify_w, ack_r)
        )
    except OSError as e:
        for fd in (notify_r, notify_w, ack_r, ack_w):
            os.close(fd)
        raise MemlensError(f"cannot run {argv[0]}: {e.strerror}") from None
    os.close(notify_w)
    os.close(ack_r)
    result = RunResult(returncode=0)
    buf = b""
    ticks = 0
    next_tick = time.monotonic() + opts.every if opts.every else None
    try:
        while True:
            timeout = 0.2
            if next_tick is not None:
                timeout = max(0.0, min(timeout, next_tick - time.monotonic()))
            ready, _, _ = select.select([notify_r], [], [], timeout)
            if ready:
                chunk = os.read(notify_r, 4096)
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    parts = line.decode("ascii", "replace").split(" ", 3)
                    if ticks and parts[1:2] == [str(proc.pid)] and parts[3:] == ["signal"]:
                        ticks -= 1  # the SIGUSR2 our timer sent
                        parts[3] = "every"
                    _serve(" ".join(parts), opts, result, on_snapshot)
                    os.write(ack_w, b"k")
                if not chunk and proc.poll() is not None:
                    break
            elif proc.poll() is not None:
                break
            if next_tick is not None and time.monotonic() >= next_tick:
                next_tick += opts.every or 0
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGUSR2)
                    ticks += 1
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
    finally:
        os.close(notify_r)
        os.close(ack_w)
        result.returncode = proc.wait()
    return result


def _serve(
    line: str,
    opts: RunOptions,
    result: RunResult,
    on_snapshot: Callable[[SnapshotTaken, Snapshot], None] | None,
) -> None:
    parts = line.split(" ", 3)
    if len(parts) != 4 or parts[0] != "snapshot" or not parts[1].isdigit():
        result.errors.append(f"unexpected message from the shim: {line!r}")
        return
    pid, reason = int(parts[1]), parts[3]
    try:
        with open_process(pid, OpenOptions()) as snap:
            profile = profile_from_snapshot(snap, reason)
            name = f"{len(result.snapshots):03d}-{pid}-{reason.replace(':', '-')}.mlheap"
            path = os.path.join(opts.out_dir, name)
            profile_file.write(profile, path)
            if opts.core:
                # The whole process, for gdb or 'memlens heap CORE' later.
                snapshot_process(pid, path[: -len(".mlheap")] + ".core")
            taken = SnapshotTaken(path, reason, pid, profile)
            result.snapshots.append(taken)
            if on_snapshot is not None:
                on_snapshot(taken, snap)
    except MemlensError as e:
        result.errors.append(f"snapshot of {pid} at {reason} failed: {e}")
        print(f"memlens: {result.errors[-1]}", file=sys.stderr)
