"""Stacks as engineers know them: ``minidump_stackwalk``'s text and machine-readable
shapes, and a gdb-like ``bt``.

The Breakpad text: a header (OS, CPU, crash reason, address, parameters,
uptime), then each thread (the crashed one first) as numbered frames --
``module!function [file : line + 0xoffset-from-line]`` or ``module!function +
0xoffset`` or ``module + 0xoffset`` -- with the registers the unwinder
recovered (`` %5s = 0x%08x`` per register, wrapped at 80 columns) and "Found
by:", then the loaded modules.
"""

from __future__ import annotations

from typing import Any

from memlens.analyses.stack import StackReport
from memlens.unwind.stackframe import StackFrame, ThreadStack

#: register display order and the names Breakpad prints, per arch
_SHOWN: dict[str, tuple[tuple[str, str], ...]] = {
    "i386": (("eip", "eip"), ("esp", "esp"), ("ebp", "ebp"), ("ebx", "ebx"), ("esi", "esi"),
             ("edi", "edi"), ("eax", "eax"), ("ecx", "ecx"), ("edx", "edx"),
             ("eflags", "efl")),
    "x86_64": tuple((r, r) for r in ("rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                                     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
                                     "rip")),
    "aarch64": (*((f"x{i}", f"x{i}") for i in range(29)), ("x29", "fp"), ("x30", "lr"),
                ("sp", "sp"), ("pc", "pc")),
}  # fmt: skip
_MAX_WIDTH = 80


def _strip(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def frame_header(index: int, f: StackFrame) -> str:
    """`` 0  test_app.exe!main [test_app.cc : 65 + 0x5]`` (Breakpad's frame line)."""
    out = f"{index:2d}  "
    if f.module is None:
        return out + f"{f.pc:#x}"
    out += _strip(f.module)
    if f.function:
        out += f"!{f.function}"
        if f.file and f.line is not None and f.line_base is not None:
            return out + f" [{_strip(f.file)} : {f.line} + {f.pc - f.line_base:#x}]"
        if f.file and f.line is not None:
            return out + f" [{_strip(f.file)} : {f.line}]"
        if f.function_base is not None:
            return out + f" + {f.pc - f.function_base:#x}"
        return out
    return out + f" + {f.pc - (f.module_base or 0):#x}"


def _registers(arch: str, f: StackFrame, word: int) -> list[str]:
    shown = _SHOWN.get(arch, tuple((r, r) for r in f.registers))
    digits = 2 * word
    lines: list[str] = []
    line = ""
    for key, label in shown:
        if key not in f.registers:
            continue
        cell = f" {label:>5} = 0x{f.registers[key]:0{digits}x}"
        if len(line) + len(cell) > _MAX_WIDTH:
            lines.append(" " + line)
            line = ""
        line += cell
    if line:
        lines.append(" " + line)
    return lines


def thread_lines(report: StackReport, index: int, t: ThreadStack) -> list[str]:
    arch = report.snapshot.arch.name if report.snapshot.arch else ""
    word = 4 if arch == "i386" else 8
    out = [f"Thread {index}" + (" (crashed)" if t.crashed else "")]
    for k, f in enumerate(t.frames):
        out.append(frame_header(k, f))
        out += _registers(arch, f, word)
        out.append(f"    Found by: {f.trust.description}")
    if t.stopped:
        out.append(f"    (walk stopped: {t.stopped})")
    return out


def breakpad_text(report: StackReport, *, all_threads: bool = True) -> list[str]:
    """The whole report as ``minidump_stackwalk`` prints it."""
    s, sysf = report.snapshot, report.system
    out = [f"Operating system: {sysf.os or 'unknown'}",
           f"                  {sysf.os_version or ''}".rstrip(),
           f"CPU: {sysf.cpu or 'unknown'}"]  # fmt: skip
    if sysf.cpu_info:
        out.append(f"     {sysf.cpu_info}")
    if sysf.cpu_count is not None:
        out.append(f"     {sysf.cpu_count} CPU" + ("s" if sysf.cpu_count != 1 else ""))
    out += ["", "GPU: UNKNOWN", ""]
    c = s.crash
    if c is not None:
        out.append(f"Crash reason:  {c.description}")
        if c.address is not None:
            out.append(f"Crash address: {c.address:#x}")
        elif c.sender_pid is not None:
            out.append(f"Crash address: none (sent by pid {c.sender_pid}, uid {c.sender_uid})")
        else:
            out.append("Crash address: none")
        if c.parameters:
            out.append("Crash parameters:")
            out += [f"    value: 0x{p:016x}  description: " for p in c.parameters]
    else:
        out.append("No crash")
    out.append(f"Process uptime: {sysf.uptime} seconds" if sysf.uptime is not None
               else "Process uptime: not available")  # fmt: skip
    out.append("")
    order = sorted(range(len(report.threads)), key=lambda i: not report.threads[i].crashed)
    for i in order if all_threads else order[:1]:
        out += thread_lines(report, i, report.threads[i])
        out.append("")
    out.append("Loaded modules:")
    main = report.main_module
    for m in report.modules:
        version = m.version or "???"
        tag = "  (main)" if main is not None and m.base == main.base else ""
        out.append(f"0x{m.base:08x} - 0x{m.end - 1:08x}  {m.name}  {version}{tag}")
    return out


def bt_lines(report: StackReport) -> list[str]:
    """gdb's ``thread apply all bt``: ``#0  0x... in function () at file:line``; like gdb
    (``backtrace past-main off``) a thread's frames end at ``main``."""
    out: list[str] = []
    width = 2 * (report.snapshot.arch.word_size if report.snapshot.arch else 8)
    for i, t in enumerate(report.threads):
        name = f' "{t.name}"' if t.name else ""
        out.append(f"Thread {i + 1} (LWP {t.tid}){name}" + (" [crashed]" if t.crashed else ""))
        for k, f in enumerate(t.frames):
            if f.signal_frame:
                out.append(f"#{k:<2} <signal handler called>")
                continue
            where = f" in {f.function} ()" if f.function else (
                f" in ?? () from {f.module}" if f.module else " in ?? ()")
            loc = f" at {f.file}:{f.line}" if f.file and f.line is not None else ""
            pc = "" if f.trust.value == "inline" else f"0x{f.pc:0{width}x}"
            out.append(f"#{k:<2} {pc}{where}{loc}" if pc else f"#{k:<2}{where}{loc}")
            if f.function == "main":
                break
        if t.stopped:
            out.append(f"Backtrace stopped: {t.stopped}")
        out.append("")
    return out


def machine_readable(report: StackReport) -> dict[str, Any]:
    """``minidump_stackwalk -m`` as JSON: os, cpu, crash, modules, and per thread its frames
    ``{module, function, file, line, offset}`` (offset from the line, else the function,
    else the module), plus what memlens adds (pc, sp, trust, registers)."""
    s, sysf = report.snapshot, report.system
    c = s.crash
    crashed = next((i for i, t in enumerate(report.threads) if t.crashed), None)
    return {
        "os": {"name": sysf.os, "version": sysf.os_version},
        "cpu": {"arch": sysf.cpu, "info": sysf.cpu_info, "count": sysf.cpu_count},
        "crash": None if c is None else {
            "reason": c.description, "address": c.address, "thread": crashed,
            "thread_id": c.thread_id},
        "modules": [{"file": m.name, "version": m.version,
                     "debug_file": _strip(m.debug_file) if m.debug_file else None,
                     "debug_id": m.debug_id, "base": m.base, "end": m.end - 1,
                     "main": report.main_module is not None
                     and m.base == report.main_module.base} for m in report.modules],
        "threads": [{"index": i, "tid": t.tid, "name": t.name, "crashed": t.crashed,
                     "stopped": t.stopped,
                     "frames": [_frame_json(k, f) for k, f in enumerate(t.frames)]}
                    for i, t in enumerate(report.threads)],
        "warnings": report.warnings,
    }  # fmt: skip


def _frame_json(index: int, f: StackFrame) -> dict[str, Any]:
    if f.file and f.line_base is not None:
        offset = f.pc - f.line_base
    elif f.function_base is not None:
        offset = f.pc - f.function_base
    else:
        offset = f.pc - (f.module_base or 0)
    return {"frame": index, "module": _strip(f.module) if f.module else None,
            "function": f.function, "file": f.file, "line": f.line, "offset": offset,
            "pc": f.pc, "sp": f.sp, "trust": f.trust.value, "signal_frame": f.signal_frame,
            "registers": dict(f.registers)}  # fmt: skip
