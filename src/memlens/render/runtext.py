"""``memlens run``'s report as text: the summary, the timeline sparkline, then the sections.

::

    memlens run: ./prog (pid 4242): exit status 0 after 0.41 s
      peak heap     50.0M (52429824 bytes) in 2 blocks, at 0.12 s
      peak RSS      53.2M
      calls         100002 allocations, 100001 frees, 100001 temporary; 53.1M allocated
      leaked        1024 bytes (1.0K) in 1 block at exit
      heap          ▁▁█▁▁▁▁▁  0-0.41 s, max 50.0M

    peak contributors (live bytes at the heap peak)
      50.0M  52428800 bytes in 1 block
          spike  spike.c:4  (prog)
          main  spike.c:7  (prog)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from memlens.heap.run_report import SECTIONS, RunReport, StackStats
from memlens.heap.timeline import sparkline
from memlens.render.units import human_size
from memlens.symbols.frame import Frame


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_lines(r: RunReport) -> list[str]:
    t = r.totals
    procs = f", {r.processes} processes" if r.processes > 1 else ""
    lines = [f"memlens run: {r.command_text} (pid {r.pid}{procs}): {r.status_text} "
             f"after {r.runtime:.2f} s"]  # fmt: skip
    # Sampled: the blocks at the peak are known for sampled blocks only.
    blocks = "" if r.sampled else f" in {_plural(t.peak_blocks, 'block')}"
    lines.append(f"  peak heap     {human_size(t.peak_bytes)} ({t.peak_bytes} bytes){blocks}, "
                 f"at {t.peak_after:.3f} s")  # fmt: skip
    if r.peak_rss:  # none when the program ended before the first sample
        lines.append(f"  peak RSS      {human_size(r.peak_rss)} (sampled)")
    pct = 100.0 * t.temps / t.allocs if t.allocs else 0.0
    lines.append(f"  calls         {t.allocs} allocations, {t.frees} frees, {t.temps} temporary "
                 f"({pct:.0f}%); {human_size(t.bytes)} allocated in total")  # fmt: skip
    lines.append(f"  leaked        {t.live_bytes} bytes ({human_size(t.live_bytes)}) in "
                 f"{_plural(t.live_blocks, 'block')} at exit")  # fmt: skip
    if r.sampled:
        lines.append(f"  sampled       one stack per {t.sample_period} bytes on average: per-stack "
                     "figures are estimates (a sampled block of size s stands for 1/P blocks, "
                     "P = 1 - exp(-s/period)); the totals above count every block")  # fmt: skip
    if t.dropped:
        lines.append(f"  warning       {t.dropped} allocations found the stack table full "
                     "(counted under 'no stack'; MEMLENS_STACKS raises it)")  # fmt: skip
    if r.timeline and len(r.timeline.samples) > 1:
        samples = r.timeline.samples
        live = [s.live_bytes for s in samples]
        lines.append(f"  heap          {sparkline(live)}  0-{samples[-1].t:.2f} s, "
                     f"max {human_size(max(live))}")  # fmt: skip
        rss = [s.rss or 0 for s in samples]
        if any(rss):
            lines.append(f"  RSS           {sparkline(rss)}  max {human_size(max(rss))}")
    return lines


def figures(name: str, s: StackStats) -> str:
    """The row's leading figures for one section."""
    if name == "peak":
        return (f"{human_size(s.peak_bytes):>6}  {s.peak_bytes} bytes in "
                f"{_plural(s.peak_blocks, 'block')} at the peak")  # fmt: skip
    if name == "leaks":
        return (f"{human_size(s.live_bytes):>6}  {s.live_bytes} bytes in "
                f"{_plural(s.live_blocks, 'block')} not freed")  # fmt: skip
    if name == "calls":
        return f"{s.allocs:>6}  calls, {s.frees} frees, {human_size(s.bytes)} allocated"
    if name == "temporary":
        pct = 100.0 * s.temps / s.allocs if s.allocs else 0.0
        return f"{s.temps:>6}  temporary of {s.allocs} calls ({pct:.0f}%)"
    return f"{human_size(s.bytes):>6}  {s.bytes} bytes in {_plural(s.allocs, 'call')}"


def frame_text(f: Frame) -> list[str]:
    """``function  file:line  (module)``; an address in inlined code gives one line per
    function, innermost first, each but the last (the real function) marked ``(inlined)``."""
    mod = f.module.rsplit("/", 1)[-1] if f.module else None
    name = f.function or (f"{mod}+{f.module_offset:#x}" if mod and f.module_offset is not None
                          else f"{f.address:#x}")  # fmt: skip
    chain = [(name, f.file, f.line)] + [(c.function or "??", c.file, c.line) for c in f.inlined_by]
    lines = []
    for k, (fn, file, line) in enumerate(chain):
        where = f"  {file}:{line}" if file and line else f"  {file}" if file else ""
        tag = "  (inlined)" if k < len(chain) - 1 else (f"  ({mod})" if mod else "")
        lines.append(f"{fn}{where}{tag}")
    return lines


def write_stack(frames: Sequence[Frame], out: TextIO, limit: int = 12) -> None:
    """The frames up to ``main`` (the C runtime's start-up frames below it say nothing)."""
    if not frames:
        out.write("      (no stack: MEMLENS_UNWIND=none, or the stack table was full)\n")
        return
    names = [f.function for f in frames]
    if "main" in names:
        frames = frames[: names.index("main") + 1]
    lines = [line for f in frames for line in frame_text(f)]
    for line in lines[:limit]:
        out.write(f"      {line}\n")
    if len(lines) > limit:
        out.write(f"      … {len(lines) - limit} more frames\n")


def write(r: RunReport, out: TextIO, top: int = 10) -> None:
    out.write("\n".join(summary_lines(r)) + "\n")
    for name, (_column, title) in SECTIONS.items():
        rows = r.section(name, top)
        if not rows:
            continue
        out.write(f"\n{title}\n")
        for s in rows:
            out.write(f"  {figures(name, s)}\n")
            write_stack(s.frames, out)
