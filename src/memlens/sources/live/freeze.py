"""``--freeze``: SIGSTOP a process for a consistent view, and always resume it.

A target left stopped is the one unforgivable outcome, so resuming is
guarded three ways:

1. :meth:`Freezer.resume` runs from ``finally``/``close`` on every normal exit
   and on every exception, ``KeyboardInterrupt`` (Ctrl-C) included;
2. while the target is frozen, SIGTERM, SIGHUP and SIGQUIT raise
   :class:`Interrupted` in memlens so the same unwinding runs (by default they
   would end Python without any cleanup);
3. a watchdog (``/bin/sh`` in its own session, so Ctrl-C on the terminal does
   not reach it) holds the read end of a pipe; if memlens dies without saying
   "resumed" (SIGKILL, a crash), the pipe reaches end-of-file and the watchdog
   sends SIGCONT itself.

A process that was already stopped (job control, a debugger) is left exactly
as it was found: memlens neither stops nor continues it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from memlens.errors import ProcessGoneError, TargetError

if TYPE_CHECKING:
    import subprocess

#: how long to wait for every thread of the target to reach the stopped state
STOP_TIMEOUT = 2.0
_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

# The watchdog's script: "r" on stdin means memlens resumed the target itself.
_WATCHDOG = 'trap "" INT TERM HUP QUIT; read -r word; [ "$word" = r ] || kill -CONT "$1"'


class Interrupted(KeyboardInterrupt):
    """A termination signal arrived while the target was frozen."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"signal {signal.Signals(signum).name}")


def task_states(pid: int) -> dict[int, str]:
    """State letter (``R``, ``S``, ``T``, ``t``, ``Z``...) of every thread of ``pid``."""
    states = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        close = stat.rfind(b")")
        states[int(tid)] = stat[close + 2 : close + 3].decode("ascii", "replace")
    return states


def _tracer(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("TracerPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Freezer:
    """Stops ``pid`` on :meth:`stop`, resumes it on :meth:`resume` (idempotent).

    Attributes:
        note: why the target was not frozen (already stopped, traced), if so.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.note: str | None = None
        self._stopped = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._old_handlers: dict[int, object] = {}

    @property
    def frozen(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """SIGSTOP the target and wait until all its threads are stopped.

        Raises:
            ProcessGoneError: the process does not exist (any more).
            TargetError: no permission to signal it.
        """
        states = task_states(self.pid)
        if not states:
            raise ProcessGoneError(self.pid, "no such process")
        if all(s in "Tt" for s in states.values()):
            self.note = "already stopped: left as it was"
            return
        if _tracer(self.pid):
            self.note = "traced by a debugger: not frozen (a SIGSTOP would go to the tracer)"
            return
        self._start_watchdog()
        self._trap_signals()
        # marked before the signal: an interruption right after it must still resume
        self._stopped = True
        try:
            os.kill(self.pid, signal.SIGSTOP)
        except ProcessLookupError:
            self._stopped = False
            self.resume()
            raise ProcessGoneError(self.pid, "no such process") from None
        except PermissionError:
            self._stopped = False
            self.resume()
            raise TargetError(self.pid, "no permission to send SIGSTOP") from None
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            states = task_states(self.pid)
            if all(s in "TtZX" for s in states.values()):
                return
            time.sleep(0.001)
        self.note = "not every thread stopped in time; the view may not be consistent"

    def resume(self) -> None:
        """SIGCONT the target if memlens stopped it; restore signal handlers."""
        try:
            if self._stopped:
                self._stopped = False
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGCONT)
            self._stop_watchdog()
        finally:
            self._restore_signals()

    # -- safety nets ------------------------------------------------------

    def _start_watchdog(self) -> None:
        import subprocess  # here: ~15 ms of start-up that only --freeze needs

        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "memlens-freeze-watchdog", str(self.pid)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _stop_watchdog(self) -> None:
        dog, self._watchdog = self._watchdog, None
        if dog is None:
            return
        assert dog.stdin is not None
        try:
            dog.stdin.write(b"r\n")
            dog.stdin.close()
        except OSError:
            pass
        import subprocess

        try:
            dog.wait(timeout=5)
        except subprocess.TimeoutExpired:
            dog.kill()
            dog.wait()

    def _trap_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum: int, frame: FrameType | None) -> None:
            raise Interrupted(signum)

        for sig in _FORWARDED:
            self._old_handlers[sig] = signal.signal(sig, interrupt)

    def _restore_signals(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old_handlers.clear()
