"""Which process a command line names, whether it runs, and what machine its program is for.

Kept apart from :mod:`memlens.sources.live.process` (the full reader, with the
snapshot model behind it) so that ``memlens maps PID`` can ask both without
importing that model (see memlens/core/frozen.py).
"""

from __future__ import annotations

import os

#: 32-bit programs a 64-bit kernel runs: (machine, ELF class 1 e_machine) -> arch name
_COMPAT = {("x86_64", 3): "i386", ("aarch64", 40): "arm", ("s390x", 22): "s390",
           ("ppc64le", 20): "ppc"}  # fmt: skip


def parse_pid(target: str | int) -> int | None:
    """The PID when ``target`` names a process (``1234`` or ``pid:1234``), else ``None``."""
    if isinstance(target, int):
        return target
    text = target[4:] if target.startswith("pid:") else target
    if text.isdigit() and not os.path.exists(target):
        return int(text)
    return None


def machine_of(pid: int) -> tuple[str, int, str]:
    """The process's machine as (name, word size, byte order): the kernel's, unless its
    program is a 32-bit ELF (an i386 program on x86_64), told by the ELF header of
    ``/proc/PID/exe``."""
    machine = os.uname().machine
    word = 8 if machine in ("x86_64", "aarch64", "ppc64le", "s390x", "riscv64") else 4
    order = "big" if machine == "s390x" else "little"
    try:
        with open(f"/proc/{pid}/exe", "rb") as f:
            head = f.read(20)
    except OSError:
        head = b""
    if word == 8 and head[:4] == b"\x7fELF" and head[4] == 1:
        e_machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
        return _COMPAT.get((machine, e_machine), f"{machine}-32"), 4, order
    return machine, word, order


def process_alive(pid: int) -> bool:
    """Whether ``pid`` still runs: a zombie has no memory left to read.

    (pagemap of a process whose mm is gone reads as end-of-file, exactly like
    a range above the task size, so the two are told apart here.)
    """
    try:
        # unbuffered: one read, no buffer object nor isatty/lseek calls (`procs` asks
        # this of every kernel thread)
        with open(f"/proc/{pid}/stat", "rb", buffering=0) as f:
            stat = f.readall()
    except OSError:
        return False
    # the state follows the last ')' (the command name may contain ')')
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X", b"x", b"")
