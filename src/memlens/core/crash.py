"""Why a target stopped, as a crash dump records it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CrashInfo:
    """Why the process stopped: signal or exception, and the faulting address."""

    thread_id: int | None
    signal: int | None = None
    code: int | None = None
    address: int | None = None
    description: str | None = None
