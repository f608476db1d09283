"""CPU contexts (register sets) of threads and of the exception, as data.

A context's layout is chosen by the CPU bit in ``context_flags`` (Breakpad's
``MD_CONTEXT_*``), confirmed by its size.  Contexts may be *larger* than the
base struct -- Windows appends XSTATE (AVX, CET) after the CONTEXT -- so a size
at least the base size is accepted and the rest is skipped, as Breakpad does.
"""

from __future__ import annotations

from dataclasses import dataclass

from memlens.sources.minidump.structs import ByteOrder, Layout, Record, f

CONTEXT_X86 = Layout("MDRawContextX86", [
    f("context_flags", "I"), f("dr0", "I"), f("dr1", "I"), f("dr2", "I"), f("dr3", "I"),
    f("dr6", "I"), f("dr7", "I"), f("float_save.control_word", "I"),
    f("float_save.status_word", "I"), f("float_save.tag_word", "I"),
    f("float_save.error_offset", "I"), f("float_save.error_selector", "I"),
    f("float_save.data_offset", "I"), f("float_save.data_selector", "I"),
    f("float_save.register_area[80]", "80s", "bytes"), f("float_save.cr0_npx_state", "I"),
    f("gs", "I"), f("fs", "I"), f("es", "I"), f("ds", "I"), f("edi", "I"), f("esi", "I"),
    f("ebx", "I"), f("edx", "I"), f("ecx", "I"), f("eax", "I"), f("ebp", "I"), f("eip", "I"),
    f("cs", "I"), f("eflags", "I"), f("esp", "I"), f("ss", "I"),
    f("extended_registers[512]", "512s", "bytes"),
])  # fmt: skip

CONTEXT_AMD64 = Layout("MDRawContextAMD64", [
    *(f(f"p{i}_home", "Q", "hidden") for i in range(1, 7)),
    f("context_flags", "I"), f("mx_csr", "I"), f("cs", "H"), f("ds", "H"), f("es", "H"),
    f("fs", "H"), f("gs", "H"), f("ss", "H"), f("eflags", "I"),
    f("dr0", "Q"), f("dr1", "Q"), f("dr2", "Q"), f("dr3", "Q"), f("dr6", "Q"), f("dr7", "Q"),
    *(f(r, "Q") for r in ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi")),
    *(f(f"r{i}", "Q") for i in range(8, 16)),
    f("rip", "Q"), f("flt_save[512]", "512s", "bytes"),
    f("vector_register[416]", "416s", "bytes"), f("vector_control", "Q"),
    f("debug_control", "Q"), f("last_branch_to_rip", "Q"), f("last_branch_from_rip", "Q"),
    f("last_exception_to_rip", "Q"), f("last_exception_from_rip", "Q"),
])  # fmt: skip

CONTEXT_ARM = Layout("MDRawContextARM", [
    f("context_flags", "I"), f("iregs", "I", "x", 16), f("cpsr", "I"),
    f("float_save.fpscr", "Q"), f("float_save.regs", "Q", "x", 32),
    f("float_save.extra", "I", "x", 8),
])  # fmt: skip

CONTEXT_ARM64 = Layout("MDRawContextARM64", [
    f("context_flags", "I"), f("cpsr", "I"), f("iregs", "Q", "x", 33),
    f("float_save.fpsr", "I"), f("float_save.fpcr", "I"),
    f("float_save.regs[512]", "512s", "bytes"), f("bcr", "I", "x", 8), f("bvr", "Q", "x", 8),
    f("wcr", "I", "x", 2), f("wvr", "Q", "x", 2),
])  # fmt: skip

# Breakpad before 2018 wrote a different arm64 context (flags bit 0x80000000).
CONTEXT_ARM64_OLD = Layout("MDRawContextARM64_Old", [
    f("context_flags", "Q"), f("iregs", "Q", "x", 32), f("pc", "Q"), f("cpsr", "I"),
    f("float_save.fpsr", "I"), f("float_save.fpcr", "I"),
    f("float_save.regs[512]", "512s", "bytes"),
])  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContextKind:
    """One CPU's context: its flag bit, layout, and how to name its registers."""

    cpu: str
    flag: int
    layout: Layout
    #: register names for the elements of the ``iregs`` array field, if any
    iregs: tuple[str, ...] = ()
    #: named scalar fields that are registers
    scalars: tuple[str, ...] = ()
    #: the program counter, stack pointer and frame pointer among them
    pc: str = "pc"
    sp: str = "sp"
    fp: str | None = None


_X86_REGS = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "eip", "eflags",
             "cs", "ds", "es", "fs", "gs", "ss")  # fmt: skip
_AMD64_REGS = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
               *(f"r{i}" for i in range(8, 16)), "rip", "eflags",
               "cs", "ds", "es", "fs", "gs", "ss")  # fmt: skip
_ARM64_NAMES = (*(f"x{i}" for i in range(29)), "fp", "lr", "sp", "pc")

CONTEXT_KINDS: tuple[ContextKind, ...] = (
    ContextKind("x86", 0x00010000, CONTEXT_X86, scalars=_X86_REGS, pc="eip", sp="esp",
                fp="ebp"),
    ContextKind("amd64", 0x00100000, CONTEXT_AMD64, scalars=_AMD64_REGS, pc="rip", sp="rsp",
                fp="rbp"),
    ContextKind("arm", 0x40000000, CONTEXT_ARM,
                iregs=(*(f"r{i}" for i in range(13)), "sp", "lr", "pc"), scalars=("cpsr",),
                fp="r11"),
    ContextKind("arm64", 0x00400000, CONTEXT_ARM64, iregs=_ARM64_NAMES, scalars=("cpsr",),
                fp="fp"),
    ContextKind("arm64", 0x80000000, CONTEXT_ARM64_OLD, iregs=_ARM64_NAMES[:32],
                scalars=("pc", "cpsr"), fp="fp"),
)  # fmt: skip

#: SystemInfo cpu name -> the context kinds it may use
CPU_CONTEXTS = {kind.cpu for kind in CONTEXT_KINDS}

assert [k.layout.size for k in CONTEXT_KINDS] == [716, 1232, 368, 912, 796]


def parse_context(buffer: bytes | memoryview, offset: int, size: int, order: ByteOrder,
                  cpu: str | None) -> Context | None:  # fmt: skip
    """Decode the context of ``size`` bytes at ``offset``, or ``None`` when no kind fits.

    Each kind's ``context_flags`` sits where its own layout puts it (offset 48
    on amd64, after the home slots), so every candidate is decoded and its own
    flags checked.  When SystemInfo names a CPU with a context kind, only that
    CPU's kinds are tried: a flag bit alone is ambiguous in a corrupt file.
    The caller has checked that the ``size`` bytes exist.
    """
    candidates = [k for k in CONTEXT_KINDS if cpu is None or cpu not in CPU_CONTEXTS
                  or k.cpu == cpu]  # fmt: skip
    fitting = [k for k in candidates if size >= k.layout.size]
    for kind in fitting:
        raw = kind.layout.unpack(buffer, offset, order)
        if raw["context_flags"] & kind.flag:
            return Context(kind, raw, size - kind.layout.size)
    # Flags with no CPU bit (some old writers): accept only an exact base size.
    for kind in fitting:
        if size == kind.layout.size:
            return Context(kind, kind.layout.unpack(buffer, offset, order), 0)
    return None


@dataclass(frozen=True, slots=True)
class Context:
    """A decoded context: the raw record, its kind, and its registers by name."""

    kind: ContextKind
    raw: Record
    #: bytes after the base struct (XSTATE); skipped, but counted
    extra_bytes: int

    @property
    def registers(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name in self.kind.scalars:
            out[name] = self.raw[name]
        if self.kind.iregs:
            values = self.raw.get("iregs")
            assert isinstance(values, tuple)
            out.update(zip(self.kind.iregs, values, strict=False))
        return out
