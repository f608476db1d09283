"""A frame of a walked stack, and how it was found."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Trust(enum.Enum):
    """How a frame was found, from most to least reliable (Breakpad's FRAME_TRUST_*)."""

    CONTEXT = "context"
    INLINE = "inline"
    CFI = "cfi"
    FRAME_POINTER = "frame_pointer"
    CFI_SCAN = "cfi_scan"
    SCAN = "scan"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


#: the words minidump_stackwalk prints after "Found by:"
_DESCRIPTIONS = {
    Trust.CONTEXT: "given as instruction pointer in context",
    Trust.INLINE: "inlining",
    Trust.CFI: "call frame info",
    Trust.FRAME_POINTER: "previous frame's frame pointer",
    Trust.CFI_SCAN: "call frame info with scanning",
    Trust.SCAN: "stack scanning",
}


@dataclass(frozen=True, slots=True)
class StackFrame:
    """One frame: its pc (the return address, for callers), registers, and symbols.

    ``registers`` holds only the registers the unwinder recovered for this
    frame (all of them for the context frame).  Symbol fields stay ``None``
    when unknown.  ``function_base`` and ``line_base`` are absolute addresses.
    """

    pc: int
    sp: int | None
    trust: Trust
    registers: dict[str, int] = field(default_factory=dict)
    module: str | None = None
    module_base: int | None = None
    function: str | None = None
    function_base: int | None = None
    file: str | None = None
    line: int | None = None
    line_base: int | None = None
    #: a signal trampoline (``__restore_rt``): its caller is the interrupted code
    signal_frame: bool = False
    #: ``pc`` is where execution stopped, not a return address (the context frame,
    #: and the frame a signal interrupted)
    exact: bool = False

    @property
    def lookup_pc(self) -> int:
        """The address to symbolize: a return address points after its call, so one
        byte back is inside the calling instruction."""
        exact = self.exact or self.trust in (Trust.CONTEXT, Trust.INLINE)
        return self.pc if exact else self.pc - 1


@dataclass(frozen=True, slots=True)
class ThreadStack:
    tid: int
    name: str | None
    crashed: bool
    frames: list[StackFrame]
    #: why the walk stopped early, when it did not reach the outermost frame
    stopped: str | None = None
