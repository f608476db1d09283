"""Options that shape how a target is opened (format, raw-dump layout, limits)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OpenOptions:
    """How to open a target.

    Attributes:
        format: force a reader by name instead of probing the content.
        base: load address of a raw dump.
        word_size: 4 or 8 for raw dumps (pointer size of the target).
        endian: ``"little"`` or ``"big"`` for raw dumps.
        snapshot_size: bytes per snapshot when a raw file holds several.
        snapshot: which snapshot of a multi-snapshot raw file (index, ``"last"``).
        pieces: extra ``(address, path)`` raw pieces to combine into one space.
        freeze: SIGSTOP a live process while reading it (always resumed).
        pid: which PID of a multi-process text dump (memdump) to use.
        extra: reader-specific settings (e.g. minidump limits).
    """

    format: str | None = None
    base: int | None = None
    word_size: int | None = None
    endian: str | None = None
    snapshot_size: int | None = None
    snapshot: int | str | None = None
    pieces: tuple[tuple[int, str], ...] = ()
    freeze: bool = False
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
