"""Run a command under the allocation shim: follow its accounting tables, take heap snapshots.

Two channels, neither visible to the program:

* **Stats tables.** ``MEMLENS_STATS_DIR`` makes the shim keep its per-stack
  accounting in a file ``PID-K.mlstats`` there, mapped shared, its descriptor
  closed once mapped.  This parent maps the same files and reads the counters
  every ``interval`` (the timeline), so peak, totals and counts survive any
  end of the program (``_exit``, SIGKILL, the OOM killer).  Snapshot requests
  (``--every``) are a counter in the table the shim checks at its next
  allocation: no signal.
* **Snapshot pipes.** ``MEMLENS_FD=W,R,INODE_W,INODE_R`` names two pipes, duped
  to descriptors high above the program's range; the shim checks both inodes
  before each use, so a program that closed and reused those numbers never
  sees a byte.  At exit, on request and on a crash signal the shim writes
  ``snapshot PID TID REASON\\n`` to W and blocks reading one byte from R.
  Meanwhile this parent reads the process's memory through /proc (the
  requesting thread is held inside the shim), saves a ``.mlheap`` file (and
  with ``core`` an ELF core) and writes the byte.  If the parent dies, the pipe
  closes and the child continues (read returns 0).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import import_module, resources
from typing import TYPE_CHECKING

from memlens.errors import MemlensError, ToolMissingError
from memlens.heap.pyframes import CodeReader, PyFrame
from memlens.heap.stats_table import StatsTable, table_paths
from memlens.heap.timeline import RssReader, Sampler, Timeline

if TYPE_CHECKING:
    from memlens.core.snapshot import Snapshot
    from memlens.heap.model import HeapProfile
    from memlens.symbols.modmap import ModuleFile

#: What the watch and the exit snapshot need beyond the table reader: imported in a
#: thread while the program runs (on a second CPU), not before it starts.
WHILE_RUNNING = (
    "memlens.sources.live.process", "memlens.symbols.modmap", "memlens.heap.report",
    "memlens.heap.profile_file",
)  # fmt: skip

# Seconds before the first check of a process's module list; each later check waits
# twice as long as the one before.  The shim notes every object it sees loaded and
# the exit snapshot has the whole map: this only adds build ids for a long-running
# program killed later, so it runs rarely (building a module map takes some 80 ms
# of a core, taken from the program on a small machine: checks at 5, 15, 35 s ...
# cost it under 2% at any time).
MAPS_FIRST = 5.0
#: seconds between namings of the Python frames of new stacks (while the code objects live)
PYTHON_NAMES_EVERY = 0.02
DISCOVER_EVERY = 0.05  # seconds between looks for new tables (exec'd or forked images)
SIGINT_GRACE = 0.2  # a terminal's Ctrl-C reaches the program itself: forward only after this


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
    interval: float = 0.01  # timeline sampling period, seconds
    follow_exec: bool = True
    follow_fork: bool = False


@dataclass(slots=True)
class SnapshotTaken:
    path: str
    reason: str
    pid: int
    profile: HeapProfile


@dataclass(slots=True)
class Tracked:
    """One process image's stats table, its timeline and the modules seen in it."""

    path: str
    table: StatsTable
    pid: int
    exec_index: int
    timeline: Timeline
    sampler: Sampler
    rss: RssReader
    modules: dict[tuple[str, int], ModuleFile] = field(default_factory=dict)
    maps_text: bytes = b""
    maps_checked: float = 0.0
    maps_wait: float = MAPS_FIRST  # seconds from maps_checked to the next check
    done: bool = False
    requested_at: tuple[int, int] = (-1, -1)  # (calls, frees) at the last snapshot request
    #: Python frames of the table's stacks, named from the process while it ran (a code
    #: object may be gone by the end: a report made after the exit still names it)
    python: dict[tuple[int, int], PyFrame] = field(default_factory=dict)
    python_named: int = 0  # stacks of the table whose Python frames were looked at
    python_checked: float = 0.0

    @property
    def loaded(self) -> list[ModuleFile]:
        """Every module seen mapped (one unloaded later with dlclose included), by address."""
        return sorted(self.modules.values(), key=lambda m: m.module.base)


@dataclass(slots=True)
class RunResult:
    returncode: int
    snapshots: list[SnapshotTaken] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tracked: list[Tracked] = field(default_factory=list)
    runtime: float = 0.0
    interrupted: bool = False

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
    def main(self) -> Tracked | None:
        """The process image that did the work: the most allocation calls (a wrapper makes few)."""
        if not self.tracked:
            return None
        return max(reversed(self.tracked), key=lambda t: t.table.totals().allocs)

    @property
    def pids(self) -> list[int]:
        return sorted({s.pid for s in self.snapshots} | {t.pid for t in self.tracked})

    def close(self) -> None:
        for t in self.tracked:
            t.rss.close()
            t.table.close()


def _high_fd(fd: int) -> int:
    """``fd`` moved far above the descriptors a program normally uses."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    base = max(10, min(soft if soft > 0 else 1024, 1024) - 40)
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, base)
    os.close(fd)
    return high


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
    env["MEMLENS_STATS_DIR"] = os.path.abspath(opts.out_dir)
    env["MEMLENS_FOLLOW_EXEC"] = "1" if opts.follow_exec else "0"
    env["MEMLENS_FOLLOW_FORK"] = "1" if opts.follow_fork else "0"
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


class _Watch:
    """The parent's side while the program runs: tables, timeline, modules, requests."""

    def __init__(self, opts: RunOptions, result: RunResult) -> None:
        self.opts = opts
        self.result = result
        # Tables of an earlier run into the same --out are not this run's.
        self.known: set[str] = set(table_paths(opts.out_dir))
        self.next_every = time.monotonic() + opts.every if opts.every else None
        self.snapshot_cost = 0.0
        self.discovered = 0.0

    def discover(self, force: bool = False) -> None:
        now = time.monotonic()
        # Every tick until the program's table shows up (a short program may be
        # gone 50 ms later), then every DISCOVER_EVERY.
        if not force and self.result.tracked and now - self.discovered < DISCOVER_EVERY:
            return
        self.discovered = now
        for path in table_paths(self.opts.out_dir):
            if path in self.known:
                continue
            try:
                table = StatsTable(path)
            except MemlensError:
                continue  # not written yet (or an image that is not followed)
            self.known.add(path)
            t = table.totals()
            for older in self.result.tracked:
                if older.pid == t.pid:
                    older.done = True  # the pid exec'd a new image
            tracked = Tracked(path, table, t.pid, t.exec_index, Timeline(self.opts.interval),
                              Sampler(table), RssReader(t.pid))  # fmt: skip
            tracked.maps_checked = now
            self.result.tracked.append(tracked)

    def check_modules(self, tr: Tracked, force: bool = False) -> None:
        now = time.monotonic()
        if tr.done or (not force and now - tr.maps_checked < tr.maps_wait):
            return
        tr.maps_checked = now
        tr.maps_wait *= 2
        try:
            with open(f"/proc/{tr.pid}/maps", "rb") as f:
                text = f.read()
        except OSError:
            return
        # Only file mappings make modules: the heap growing changes nothing here.
        files = b"\n".join(line for line in text.split(b"\n") if b" /" in line)
        if files == tr.maps_text:
            return
        tr.maps_text = files
        from memlens.sources.live.process import open_process
        from memlens.sources.options import OpenOptions
        from memlens.symbols.modmap import build_module_map

        try:
            with open_process(tr.pid, OpenOptions()) as snap:
                for m in build_module_map(snap):
                    tr.modules.setdefault((m.module.path, m.module.base), m)
        except MemlensError:
            return

    def tick(self) -> None:
        self.discover()
        now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for tr in self.result.tracked:
            if tr.done:
                continue
            rss = tr.rss.read()
            tr.timeline.samples.append(tr.sampler.take(now_ns, rss))
            if rss is None or tr.table.exited():
                tr.done = True
                tr.rss.close()
                continue
            self.check_modules(tr)
            self.name_python_frames(tr)
        self.maybe_request()

    def name_python_frames(self, tr: Tracked) -> None:
        """Name the Python frames of stacks new since the last look, reading the code
        objects from the running process (read-only; they may be freed before the end)."""
        now = time.monotonic()
        if now - tr.python_checked < PYTHON_NAMES_EVERY:
            return
        tr.python_checked = now
        if tr.table.stack_count() <= tr.python_named:
            return  # no new stack
        entries, rows = tr.table.python_entries(tr.python_named)  # rows new since the last look
        tr.python_named += rows
        todo = [e for e in entries if e not in tr.python]
        if not todo:
            return
        from memlens.sources.live.process import open_process
        from memlens.sources.options import OpenOptions

        try:
            with open_process(tr.pid, OpenOptions()) as snap:
                reader = CodeReader(snap.space)
                for entry in todo:
                    frame = reader.frame(*entry)
                    if frame.function is not None:
                        tr.python[entry] = frame
        except MemlensError:
            return

    def maybe_request(self) -> None:
        """``--every``: ask each running image for a snapshot, at most 10% of the time taken."""
        if self.next_every is None or time.monotonic() < self.next_every:
            return
        for tr in self.result.tracked:
            if tr.done:
                continue
            # Nothing allocated or freed since the last request: the same snapshot.
            c = tr.table.quick_counts()
            if (c.allocs, c.frees) == tr.requested_at:
                continue
            tr.requested_at = (c.allocs, c.frees)
            tr.table.request_snapshot()
        every = self.opts.every or 0.0
        self.next_every = time.monotonic() + max(every, 9 * self.snapshot_cost)

    def finish(self) -> None:
        """One last sample of every table: the figures at the end."""
        self.discover(force=True)
        now_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for tr in self.result.tracked:
            t = tr.table.totals()
            end = t.exit_ns or now_ns
            tr.timeline.samples.append(tr.sampler.take(end, None, last=True))
            tr.timeline.fill_tops()
            tr.done = True
            tr.rss.close()


def run_under_shim(
    argv: Sequence[str],
    opts: RunOptions,
    on_snapshot: Callable[[SnapshotTaken, Snapshot], None] | None = None,
    preload: Sequence[str] = (),
) -> RunResult:
    """Run ``argv`` to completion: follow its tables, snapshot its heap on every request.

    Ctrl-C (SIGINT to this process) is forwarded to the program, which is
    then waited for; the result is complete either way.  The modules named in
    ``preload`` (what the caller needs once the program ended) are imported while
    it runs.
    """
    os.makedirs(opts.out_dir, exist_ok=True)
    notify_r, notify_w = os.pipe()
    ack_r, ack_w = os.pipe()
    notify_w, ack_r = _high_fd(notify_w), _high_fd(ack_r)
    result = RunResult(returncode=0)
    watch = _Watch(opts, result)  # before the start: tables already there are not this run's
    start = time.monotonic()
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
    threading.Thread(target=_import_all, args=((*WHILE_RUNNING, *preload),), daemon=True,
                     name="memlens-preload").start()  # fmt: skip
    interrupted: list[float] = []
    restore = _on_sigint(lambda: interrupted.append(time.monotonic()))
    buf = b""
    forwarded = False
    next_tick = time.monotonic()
    try:
        while True:
            timeout = max(0.0, next_tick - time.monotonic())
            ready, _, _ = select.select([notify_r], [], [], timeout)
            if ready:
                chunk = os.read(notify_r, 4096)
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    t0 = time.monotonic()
                    _serve(line.decode("ascii", "replace"), opts, result, on_snapshot)
                    watch.snapshot_cost = time.monotonic() - t0
                    os.write(ack_w, b"k")
                if not chunk and proc.poll() is not None:
                    break
            elif proc.poll() is not None:
                break
            if time.monotonic() >= next_tick:
                watch.tick()
                next_tick = max(next_tick + opts.interval, time.monotonic() + opts.interval / 4)
            if interrupted and not forwarded and time.monotonic() - interrupted[0] > SIGINT_GRACE:
                forwarded = True
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
    finally:
        os.close(notify_r)
        os.close(ack_w)
        result.returncode = _wait(proc)
        restore()
    result.interrupted = bool(interrupted)
    result.runtime = time.monotonic() - start
    watch.finish()
    return result


def _import_all(names: Sequence[str]) -> None:
    """Import ``names`` (a failure shows again, with its context, where the module is used)."""
    for name in names:
        with contextlib.suppress(Exception):
            import_module(name)


def _wait(proc: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)


def _on_sigint(note: Callable[[], None]) -> Callable[[], None]:
    """Record SIGINT instead of raising KeyboardInterrupt; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.signal(signal.SIGINT, lambda _sig, _frame: note())

    def undo() -> None:
        signal.signal(signal.SIGINT, old)

    return undo


def _serve(
    line: str,
    opts: RunOptions,
    result: RunResult,
    on_snapshot: Callable[[SnapshotTaken, Snapshot], None] | None,
) -> None:
    from memlens.heap import profile_file
    from memlens.heap.report import profile_from_snapshot
    from memlens.sources.live.process import open_process
    from memlens.sources.options import OpenOptions

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
                from memlens.sources.live.coredump import snapshot_process

                snapshot_process(pid, path[: -len(".mlheap")] + ".core")
            taken = SnapshotTaken(path, reason, pid, profile)
            result.snapshots.append(taken)
            if on_snapshot is not None:
                on_snapshot(taken, snap)
    except MemlensError as e:
        result.errors.append(f"snapshot of {pid} at {reason} failed: {e}")
        print(f"memlens: {result.errors[-1]}", file=sys.stderr)
