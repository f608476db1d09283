"""``memlens info`` as text and JSON: the layout of a :class:`Summary`.

Text: target, format, arch, process, the crash (reason, address, sender), region
totals, threads (pc/sp; every register with ``verbose``), the crashed thread's
backtrace when the target crashed, modules, warnings and format-specific details.
"""

from __future__ import annotations

from typing import Any

from memlens.analyses.summary import Summary, plain
from memlens.core.snapshot import Snapshot
from memlens.render.table import Column, Table, print_table
from memlens.render.units import hex_address, human_size
from memlens.unwind.stackframe import ThreadStack

#: auxv keys shown by name in the text output
_AUXV = {3: "AT_PHDR", 6: "AT_PAGESZ", 7: "AT_BASE", 9: "AT_ENTRY", 31: "AT_EXECFN",
         33: "AT_SYSINFO_EHDR"}  # fmt: skip


def to_json(summary: Summary, backtrace: ThreadStack | None = None) -> dict[str, Any]:
    s = summary.snapshot
    t = summary.totals
    return {
        "target": s.source, "format": s.format,
        "arch": plain(s.arch) if s.arch else None,
        "page_size": s.page_size, "pid": s.pid, "command_line": s.command_line,
        "crash": plain(s.crash) if s.crash else None,
        "threads": [plain(th) for th in s.threads],
        "modules": [dict(plain(m), size=m.size) for m in s.modules],
        "regions": {"count": t.count, "mapped_bytes": t.mapped, "saved_bytes": t.saved,
                    "not_saved_bytes": t.not_saved, "resident_pages": t.resident_pages},
        "warnings": list(s.warnings),
        "extra": summary.extra,
        "backtrace": None if backtrace is None else [
            {"pc": f.pc, "sp": f.sp, "function": f.function, "module": f.module,
             "file": f.file, "line": f.line, "trust": f.trust.value}
            for f in backtrace.frames],
    }  # fmt: skip


def _line(key: str, value: object, width: int = 13) -> None:
    print(f"{key:<{max(width, len(key) + 1)}}{value}")


def print_text(summary: Summary, *, verbose: bool = False,
               backtrace: ThreadStack | None = None, registers: bool = False) -> None:
    s = summary.snapshot
    word = s.space.word_size
    _line("target", s.source)
    _line("format", s.format)
    if s.arch:
        _line("arch", f"{s.arch.name}, {s.arch.word_size * 8}-bit, {s.arch.byteorder}-endian")
    _line("page size", s.page_size)
    if s.pid is not None or s.command_line:
        _line("process", f"pid {s.pid if s.pid is not None else '?'}"
              + (f"  {s.command_line}" if s.command_line else ""))  # fmt: skip
    if s.crash:
        c = s.crash
        what = c.description or (f"signal {c.signal}" if c.signal is not None else "crash")
        where = f" at {c.address:#x}" if c.address is not None else ""
        tid = f"thread {c.thread_id}: " if c.thread_id is not None else ""
        sender = (f", sent by pid {c.sender_pid} (uid {c.sender_uid})"
                  if c.sender_pid is not None else "")  # fmt: skip
        _line("crash", f"{tid}{what}{where}{sender}")
    _print_totals(summary)
    _print_threads(s, word, verbose or registers)
    if backtrace is not None:
        _print_backtrace(backtrace, word)
    _print_modules(s, word)
    if s.warnings:
        print(f"\nwarnings ({len(s.warnings)})")
        for w in s.warnings:
            print(f"  {w}")
    _print_extra(summary.extra, verbose)


def _print_totals(summary: Summary) -> None:
    t = summary.totals
    parts = [f"{t.count} regions", f"{human_size(t.mapped)} mapped"]
    if t.saved is not None:
        parts.append(f"{human_size(t.saved)} saved")
    if t.not_saved:
        parts.append(f"{human_size(t.not_saved)} not saved")
    if t.resident_pages is not None:
        parts.append(f"{t.resident_pages} pages resident "
                     f"({human_size(t.resident_pages * summary.snapshot.page_size)})")  # fmt: skip
    _line("regions", ", ".join(parts))


def _print_threads(s: Snapshot, word: int, verbose: bool) -> None:
    if not s.threads:
        return
    print(f"\nthreads ({len(s.threads)})")
    table = Table([Column("tid", "right"), Column("name"), Column("pc"), Column("sp"),
                   Column("")])  # fmt: skip
    for th in s.threads:
        pc = hex_address(th.pc, word) if th.pc is not None else "-"
        sp = hex_address(th.sp, word) if th.sp is not None else "-"
        table.add(str(th.tid), th.name or "", pc, sp, "crashed" if th.crashed else "")
    print_table(table)
    if not verbose:
        return
    fp_all = s.extra.get("fp_registers")
    for th in s.threads:
        fp = fp_all.get(th.tid, {}) if isinstance(fp_all, dict) else {}
        if not th.registers and not fp:
            continue
        print(f"  registers of {th.tid}:")
        _cells([f"{k}={v:#x}" for k, v in th.registers.items()], 6)
        if fp:
            # vector and x87 registers are wide: fewer per line
            _cells([f"{k}={v:#x}" for k, v in fp.items()], 3)


def _cells(cells: list[str], per_line: int) -> None:
    for i in range(0, len(cells), per_line):
        print("    " + "  ".join(cells[i : i + per_line]))


def _print_backtrace(t: ThreadStack, word: int) -> None:
    """The crashed thread's frames, one line each: pc, function (module+offset), file:line,
    how the frame was found."""
    print(f"\nbacktrace of thread {t.tid} ({len(t.frames)} frames)")
    for k, f in enumerate(t.frames):
        mod = f.module.replace("\\", "/").rsplit("/", 1)[-1] if f.module else None
        what = f.function or (f"{mod}+{f.pc - (f.module_base or 0):#x}" if mod else "??")
        loc = f"  {f.file}:{f.line}" if f.file and f.line is not None else ""
        print(f"  #{k:<2} {hex_address(f.pc, word)}  {what}{loc}  [{f.trust.value}]")
    if t.stopped:
        print(f"  (walk stopped: {t.stopped})")


def _print_modules(s: Snapshot, word: int) -> None:
    if not s.modules:
        return
    print(f"\nmodules ({len(s.modules)})")
    table = Table([Column("base"), Column("end"), Column("size", "right"), Column("build id"),
                   Column("path")])  # fmt: skip
    for m in s.modules:
        bid = m.build_id.hex() if m.build_id else (m.debug_id or "-")
        table.add(hex_address(m.base, word), hex_address(m.end, word), human_size(m.size),
                  bid, m.path)  # fmt: skip
    print_table(table)


def _print_extra(extra: dict[str, Any], verbose: bool) -> None:
    """Format-specific facts: scalars always; lists and tables with --verbose."""
    if not extra:
        return
    print("\ndetails")
    width = 3 + max(len(str(k)) for k in extra)
    for key in sorted(extra):
        value = extra[key]
        if key == "auxv" and isinstance(value, dict):
            named = {_AUXV.get(int(k), f"AT_{k}"): v for k, v in value.items()
                     if verbose or int(k) in _AUXV}  # fmt: skip
            _line(f"  {key}", width=width, value="  ".join(f"{k}={v:#x}" for k, v in named.items()))
        elif isinstance(value, (dict, list)):
            if not verbose:
                _line(f"  {key}", width=width, value=f"{len(value)} entries (--verbose lists them)")
                continue
            print(f"  {key}:")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(v, dict):
                    v = "  ".join(f"{a}={b}" for a, b in v.items())
                print(f"    {k}: {v}")
        else:
            _line(f"  {key}", width=width, value=value)
