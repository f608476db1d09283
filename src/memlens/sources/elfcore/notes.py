"""ELF notes of a core: iteration and decoders dispatched on (owner, type).

Note types are namespaced by the owner name ("CORE", "LINUX", "GNU",
"ESP_CORE_DUMP_INFO"...): a type number means nothing without its owner, so
decoders are looked up by the pair and unknown pairs are kept raw.  Each note
is ``u32 namesz, descsz, type``, then name and desc, each padded to the
note alignment (4, or 8 when the PT_NOTE has ``p_align == 8``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

NT_PRSTATUS = 1
NT_FPREGSET = 2
NT_PRPSINFO = 3
NT_AUXV = 6
NT_SIGINFO = 0x53494749
NT_FILE = 0x46494C45
NT_X86_XSTATE = 0x202
NT_GNU_BUILD_ID = 3

#: (owner, type) -> display name, for the notes listing (readelf's names)
NOTE_NAMES: dict[tuple[str, int], str] = {
    ("CORE", NT_PRSTATUS): "NT_PRSTATUS",
    ("CORE", NT_FPREGSET): "NT_FPREGSET",
    ("CORE", NT_PRPSINFO): "NT_PRPSINFO",
    ("CORE", NT_AUXV): "NT_AUXV",
    ("CORE", NT_SIGINFO): "NT_SIGINFO",
    ("CORE", NT_FILE): "NT_FILE",
    ("LINUX", NT_X86_XSTATE): "NT_X86_XSTATE",
    ("GNU", NT_GNU_BUILD_ID): "NT_GNU_BUILD_ID",
}

#: auxv keys shown by name
AUXV_NAMES: dict[int, str] = {
    3: "AT_PHDR", 4: "AT_PHENT", 5: "AT_PHNUM", 6: "AT_PAGESZ", 7: "AT_BASE", 9: "AT_ENTRY",
    16: "AT_HWCAP", 25: "AT_RANDOM", 26: "AT_HWCAP2", 31: "AT_EXECFN", 33: "AT_SYSINFO_EHDR",
}  # fmt: skip


#: descriptions up to this size are copied to ``bytes``; bigger ones (a memlens snapshot's
#: page tables) stay views of the mapped file, so opening does not touch their pages
COPY_LIMIT = 64 << 10


@dataclass(frozen=True, slots=True)
class Note:
    owner: str
    type: int
    desc: bytes | memoryview
    offset: int  # file offset of the note header

    @property
    def type_name(self) -> str:
        return NOTE_NAMES.get((self.owner, self.type), f"{self.type:#x}")


def iter_notes(
    data: bytes | memoryview, file_offset: int, align: int, prefix: str, warnings: list[str]
) -> list[Note]:
    """Notes in one PT_NOTE segment's bytes; a malformed note ends the segment with a warning."""
    notes = []
    pos = 0
    hdr = struct.Struct(prefix + "III")
    while pos + hdr.size <= len(data):
        namesz, descsz, ntype = hdr.unpack_from(data, pos)
        name_at = pos + hdr.size
        desc_at = name_at + _pad(namesz, align)
        end = desc_at + _pad(descsz, align)
        # The last note's desc padding may be missing; its bytes must not be.
        if desc_at + descsz > len(data):
            warnings.append(
                f"note at file offset {file_offset + pos:#x} claims {namesz}+{descsz} bytes, "
                f"only {len(data) - name_at} remain in its PT_NOTE; later notes ignored"
            )
            break
        owner = bytes(data[name_at : name_at + namesz]).split(b"\0", 1)[0].decode("latin-1")
        desc = data[desc_at : desc_at + descsz]
        if descsz <= COPY_LIMIT:
            desc = bytes(desc)
        notes.append(Note(owner, ntype, desc, file_offset + pos))
        pos = end
    return notes


def gnu_build_id(data: bytes | memoryview, prefix: str) -> bytes | None:
    """The NT_GNU_BUILD_ID in one PT_NOTE segment's bytes (4-byte aligned notes), or None."""
    for note in iter_notes(data, 0, 4, prefix, []):
        if note.owner == "GNU" and note.type == NT_GNU_BUILD_ID and len(note.desc):
            return bytes(note.desc)
    return None


def _pad(n: int, align: int) -> int:
    return (n + align - 1) // align * align


# -- decoders ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrStatus:
    pid: int
    ppid: int
    cursig: int
    registers: dict[str, int]


def parse_prstatus(desc: bytes | memoryview, word: int, prefix: str, arch: str) -> PrStatus | None:
    """NT_PRSTATUS: ``pr_cursig`` (a short at 12), ``pr_pid``/``pr_ppid`` and ``pr_reg``."""
    # imported here: the symbolizer reads build ids with this module, never registers
    from memlens.sources.elfcore.registers import decode_registers, prstatus_offsets, regset

    pid_at, reg_at = prstatus_offsets(arch, word)
    if len(desc) < reg_at:
        return None
    cursig = struct.unpack_from(prefix + "h", desc, 12)[0]
    pid, ppid = struct.unpack_from(prefix + "ii", desc, pid_at)
    known = regset(arch)
    # pr_reg runs to pr_fpvalid (an int, padded to the word) at the end.
    end = reg_at + known.size if known is not None else len(desc) - (4 if word == 4 else 8)
    reg_bytes = bytes(desc[reg_at:end])
    return PrStatus(pid, ppid, cursig, decode_registers(arch, reg_bytes, word, prefix))


@dataclass(frozen=True, slots=True)
class PrPsInfo:
    pid: int
    ppid: int
    pgrp: int
    sid: int
    uid: int
    gid: int
    state: int
    fname: str
    psargs: str


#: elf_prpsinfo layouts keyed by (word size, desc size): (uid/gid format, offset of uid,
#: offset of pid, offset of fname).  fname is 16 bytes, psargs 80 right after it.
_PRPSINFO = {
    (8, 136): ("II", 16, 24, 40),
    (4, 124): ("HH", 8, 12, 28),  # i386, arm: 16-bit __kernel_uid_t
    (4, 128): ("II", 8, 16, 32),  # 32-bit targets with 32-bit uid_t
}


def parse_prpsinfo(desc: bytes | memoryview, word: int, prefix: str) -> PrPsInfo | None:
    layout = _PRPSINFO.get((word, len(desc)))
    if layout is None:
        return None
    ids, uid_at, pid_at, fname_at = layout
    uid, gid = struct.unpack_from(prefix + ids, desc, uid_at)
    pid, ppid, pgrp, sid = struct.unpack_from(prefix + "iiii", desc, pid_at)
    fname = _cstr(desc[fname_at : fname_at + 16])
    # The kernel turns the NULs between (and after) the arguments into spaces.
    psargs = _cstr(desc[fname_at + 16 : fname_at + 96]).rstrip(" ")
    return PrPsInfo(pid, ppid, pgrp, sid, uid, gid, int(desc[0]), fname, psargs)


def _cstr(raw: bytes | memoryview) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")


def parse_auxv(desc: bytes | memoryview, word: int, prefix: str) -> dict[int, int]:
    """Auxiliary vector as {AT_*: value} up to AT_NULL."""
    fmt = struct.Struct(prefix + ("II" if word == 4 else "QQ"))
    out: dict[int, int] = {}
    for key, value in fmt.iter_unpack(desc[: len(desc) // fmt.size * fmt.size]):
        if key == 0:
            break
        out.setdefault(key, value)
    return out


@dataclass(frozen=True, slots=True)
class SigInfo:
    signo: int
    errno: int
    code: int
    address: int | None  # si_addr, for the signals whose code says it is meaningful
    sender_pid: int | None = None  # si_pid / si_uid of a signal a process sent
    sender_uid: int | None = None


def parse_siginfo(desc: bytes | memoryview, word: int, prefix: str) -> SigInfo | None:
    """NT_SIGINFO: ``siginfo_t`` as the kernel copied it (the union starts at 12 or 16)."""
    from memlens.core.crash import is_fault  # see parse_prstatus

    union_at = 16 if word == 8 else 12
    if len(desc) < union_at + word:
        return None
    signo, errno, code = struct.unpack_from(prefix + "iii", desc, 0)
    if is_fault(signo, code):
        addr = struct.unpack_from(prefix + ("I" if word == 4 else "Q"), desc, union_at)[0]
        return SigInfo(signo, errno, code, addr)
    if code <= 0:
        # kill / tgkill / sigqueue: _sifields._kill = {pid_t si_pid; uid_t si_uid}
        pid, uid = struct.unpack_from(prefix + "iI", desc, union_at)
        return SigInfo(signo, errno, code, None, pid, uid)
    return SigInfo(signo, errno, code, None)


@dataclass(frozen=True, slots=True)
class FileMapping:
    start: int
    end: int
    offset: int  # bytes into the file
    path: str


@dataclass(slots=True)
class FileNote:
    page_size: int
    mappings: list[FileMapping] = field(default_factory=list)


def parse_file_note(desc: bytes | memoryview, word: int, prefix: str) -> FileNote | None:
    """NT_FILE: count, page size, count x {start, end, page offset}, then the paths."""
    w = "I" if word == 4 else "Q"
    if len(desc) < 2 * word:
        return None
    count, page_size = struct.unpack_from(prefix + w + w, desc, 0)
    # Bound the claimed count by the bytes that remain before unpacking.
    if count > (len(desc) - 2 * word) // (3 * word):
        return None
    table = struct.unpack_from(prefix + w * (3 * count), desc, 2 * word)
    names = bytes(desc[2 * word + 3 * word * count :]).split(b"\0")
    if len(names) < count:
        return None
    note = FileNote(page_size)
    for i in range(count):
        start, end, pgoff = table[3 * i : 3 * i + 3]
        if end < start:
            continue
        path = names[i].decode("utf-8", "surrogateescape")
        note.mappings.append(FileMapping(start, end, pgoff * page_size, path))
    return note


def summarize(note: Note) -> dict[str, Any]:
    """One row of the notes listing in ``memlens info`` (raw notes keep a hex preview)."""
    row: dict[str, Any] = {"owner": note.owner, "type": note.type, "name": note.type_name,
                           "size": len(note.desc), "offset": note.offset}  # fmt: skip
    if (note.owner, note.type) not in NOTE_NAMES:
        row["head"] = bytes(note.desc[:32]).hex()
    return row
