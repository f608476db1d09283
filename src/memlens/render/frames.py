"""One symbolized frame as text or JSON (``memlens symbolize``, heap reports)."""

from __future__ import annotations

from typing import Any

from memlens.symbols.frame import Frame


def frame_json(f: Frame, *, inlined: bool = True) -> dict[str, Any]:
    """The frame's fields; with ``inlined``, also its inline callers (``inlined_by``)."""
    out: dict[str, Any] = {
        "address": f.address, "module": f.module, "module_offset": f.module_offset,
        "function": f.function, "function_offset": f.function_offset,
        "file": f.file, "line": f.line,
    }  # fmt: skip
    if inlined:
        out["inlined_by"] = [frame_json(i) for i in f.inlined_by]
    return out


def _where(f: Frame) -> str:
    return f" at {f.file}:{f.line}" if f.file and f.line else f" at {f.file}" if f.file else ""


def format_frame(f: Frame) -> str:
    """``0xADDR function+0xOFF at file:line (module+0xOFF)``, then one line per inline caller."""
    mod = f.module.rsplit("/", 1)[-1] if f.module else None
    where = f" ({mod}+{f.module_offset:#x})" if mod and f.module_offset is not None else ""
    name = f.function or "??"
    if f.function and f.function_offset is not None:
        name += f"+{f.function_offset:#x}"
    lines = [f"{f.address:#x} {name}{_where(f)}{where}"]
    for caller in f.inlined_by:
        off = f"+{caller.function_offset:#x}" if caller.function_offset is not None else ""
        lines.append(f"    inlined into {caller.function}{off}{_where(caller)}")
    return "\n".join(lines)
