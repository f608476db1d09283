"""Mutators for benchmarks/fuzz_readers.py: byte-level, text-level and format-aware.

Each mutator takes the input and a ``random.Random`` and returns new bytes.  The
format-aware ones locate the structures of a minidump (header, stream
directory) and of an ELF file (program headers, note headers) by their
published layouts, typed here from the specifications (Microsoft's
``MINIDUMP_HEADER`` / ``MINIDUMP_DIRECTORY``, the System V ELF ABI), not taken
from memlens's parser tables.
"""

from __future__ import annotations

import random
import re
import struct
from collections.abc import Callable, Sequence

Mutator = Callable[[bytes, random.Random], bytes]

#: values that break size, count and offset arithmetic
BOUNDARY = (
    0, 1, 2, 3, 4, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0x7FFF, 0x8000, 0xFFFF,
    0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF, 0x100000000, 0x10000000,
    1 << 40, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFF0, 0xFFFFFFFFFFFFFFFF,
)  # fmt: skip
_WIDTHS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def boundary(rng: random.Random, width: int, size_hint: int) -> int:
    """A boundary value that fits ``width`` bytes (file-size-relative ones too)."""
    near = (size_hint - 1, size_hint, size_hint + 1, size_hint // 2, size_hint * 16)
    value = rng.choice(BOUNDARY + near)
    return value & ((1 << (8 * width)) - 1)


def put(data: bytearray, offset: int, width: int, value: int, order: str = "<") -> None:
    """Write ``value`` (masked to ``width`` bytes) at ``offset`` if it fits."""
    if offset >= 0 and offset + width <= len(data):
        mask = (1 << (8 * width)) - 1
        struct.pack_into(order + _WIDTHS[width], data, offset, value & mask)


def _offset(data: bytes, rng: random.Random) -> int:
    # Half the time in the first 4 KiB, where headers, directories and notes live.
    span = min(len(data), 4096) if rng.random() < 0.5 else len(data)
    return rng.randrange(max(span, 1))


# -- byte level -------------------------------------------------------------------


def truncate(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    if rng.random() < 0.3:  # just short of the end: the last structure is cut
        return data[: max(0, len(data) - rng.randint(1, 16))]
    return data[: rng.randrange(len(data))]


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if out:
            i = _offset(data, rng)
            out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if out:
            out[_offset(data, rng)] = rng.choice((0, 0xFF, 0x7F, 0x80, 1, rng.randrange(256)))
    return bytes(out)


def set_word(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    width = rng.choice((2, 4, 4, 8, 8))
    at = _offset(data, rng)
    if rng.random() < 0.7:
        at -= at % width  # counts, sizes and offsets sit at aligned offsets
    put(out, at, width, boundary(rng, width, len(data)), rng.choice("<<<>"))
    return bytes(out)


def copy_chunk(data: bytes, rng: random.Random) -> bytes:
    """Duplicate a run of bytes over another place (repeated records, stale copies)."""
    if len(data) < 8:
        return data
    n = rng.choice((4, 8, 12, 16, 24, 32, 64, 256))
    src, dst = _offset(data, rng), _offset(data, rng)
    chunk = data[src : src + n]
    return data[:dst] + chunk + data[dst + len(chunk) :]


def insert_delete(data: bytes, rng: random.Random) -> bytes:
    at = _offset(data, rng) if data else 0
    n = rng.choice((1, 2, 4, 8, 16, 100))
    if rng.random() < 0.5:
        return data[:at] + bytes(rng.choice((0, 0xFF)) for _ in range(n)) + data[at:]
    return data[:at] + data[at + n :]


BYTE_MUTATORS: tuple[Mutator, ...] = (
    truncate, flip_bits, set_bytes, set_word, set_word, copy_chunk, insert_delete,
)  # fmt: skip


# -- text level --------------------------------------------------------------------

_NUMBER = re.compile(rb"[0-9a-fA-F]+")
_BIG = (b"0", b"1", b"99999999999999999999", b"ffffffffffffffff", b"-1", b"18446744073709551616",
        b"4294967296", b"", b"x", b"1e9", b"0000000000000000000000000001", b"9" * 400)  # fmt: skip


def text_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    if not lines:
        return data
    i = rng.randrange(len(lines))
    op = rng.randrange(5)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        lines[i] = lines[i] * rng.choice((2, 3, 50))
    return b"\n".join(lines)


def text_numbers(data: bytes, rng: random.Random) -> bytes:
    found = list(_NUMBER.finditer(data))
    if not found:
        return data
    m = rng.choice(found)
    if rng.random() < 0.5:
        new = rng.choice(_BIG)
    else:
        value = int(m.group(), 16) if rng.random() < 0.5 else rng.randrange(1 << 64)
        new = f"{value ^ (1 << rng.randrange(64)):x}".encode()
    return data[: m.start()] + new + data[m.end() :]


def text_chars(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    at = rng.randrange(len(data))
    char = rng.choice(b". =hBTMDSALF\t\r\n[]\"-:()\x00\xff")
    return data[:at] + bytes([char]) + data[at + rng.randint(0, 1) :]


TEXT_MUTATORS: tuple[Mutator, ...] = (
    text_lines, text_lines, text_numbers, text_numbers, text_chars, truncate, flip_bits,
)  # fmt: skip


# -- minidump: MINIDUMP_HEADER (32 bytes) and MINIDUMP_DIRECTORY (12 bytes) entries --
# header: Signature u32, Version u32, NumberOfStreams u32, StreamDirectoryRva u32, ...
# directory entry: StreamType u32, DataSize u32, Rva u32


def _directory(data: bytes) -> tuple[int, int]:
    if len(data) < 16:
        return 0, 0
    count, rva = struct.unpack_from("<II", data, 8)
    fit = max(0, (len(data) - rva) // 12) if rva < len(data) else 0
    return min(count, fit, 256), rva


def minidump_directory(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    count, rva = _directory(data)
    op = rng.randrange(6)
    if op == 0 or count == 0:
        put(out, 8, 4, boundary(rng, 4, len(data)))  # NumberOfStreams
        return bytes(out)
    i = rng.randrange(count)
    entry = rva + 12 * i
    if op == 1:  # a second stream of another entry's type
        j = rng.randrange(count)
        out[entry : entry + 4] = data[rva + 12 * j : rva + 12 * j + 4]
    elif op == 2:  # DataSize
        put(out, entry + 4, 4, boundary(rng, 4, len(data)))
    elif op == 3:  # Rva: anywhere, the header, the directory itself, past the end
        put(out, entry + 8, 4, rng.choice((0, rva, entry, len(data), boundary(rng, 4, len(data)))))
    elif op == 4:  # the whole entry copied over another one
        j = rng.randrange(count)
        out[entry : entry + 12] = data[rva + 12 * j : rva + 12 * j + 12]
    else:  # inside the stream: its leading count, or a field in its first records
        s_size, s_rva = struct.unpack_from("<II", data, entry + 4)
        if s_rva < len(data):
            at = s_rva + 4 * rng.randrange(max(1, min(s_size, 256) // 4))
            put(out, at, 4, boundary(rng, 4, len(data)))
    return bytes(out)


# -- ELF: e_phoff / e_phentsize / e_phnum, program headers, note headers --------------


def _elf_layout(data: bytes) -> tuple[str, bool, int, int, int] | None:
    """(byte order, is64, phoff, phentsize, phnum) from the ELF identification and header."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return None
    is64 = data[4] == 2
    order = ">" if data[5] == 2 else "<"
    if is64:
        if len(data) < 64:
            return None
        phoff = struct.unpack_from(order + "Q", data, 32)[0]
        phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
    else:
        phoff = struct.unpack_from(order + "I", data, 28)[0]
        phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
    return order, is64, phoff, phentsize, phnum


def elf_headers(data: bytes, rng: random.Random) -> bytes:
    layout = _elf_layout(data)
    if layout is None:
        return set_word(data, rng)
    order, is64, phoff, phentsize, phnum = layout
    out = bytearray(data)
    if rng.random() < 0.15 or phnum == 0:
        field = rng.choice(((54, 2), (56, 2), (32, 8)) if is64 else ((42, 2), (44, 2), (28, 4)))
        put(out, field[0], field[1], boundary(rng, field[1], len(data)), order)
        return bytes(out)
    i = rng.randrange(min(phnum, 512))
    ph = phoff + i * phentsize
    # p_offset, p_vaddr, p_filesz, p_memsz, p_align (64-bit: after p_type, p_flags)
    fields = ((8, 8), (16, 8), (32, 8), (40, 8), (48, 8)) if is64 else (
        (4, 4), (8, 4), (16, 4), (20, 4), (28, 4))  # fmt: skip
    at, width = rng.choice(fields)
    put(out, ph + at, width, boundary(rng, width, len(data)), order)
    return bytes(out)


def elf_notes(data: bytes, rng: random.Random) -> bytes:
    """Corrupt n_namesz / n_descsz / n_type of a note inside a PT_NOTE segment."""
    layout = _elf_layout(data)
    if layout is None:
        return set_word(data, rng)
    order, is64, phoff, phentsize, phnum = layout
    for i in range(min(phnum, 512)):
        ph = phoff + i * phentsize
        if ph + (56 if is64 else 32) > len(data):
            break
        if struct.unpack_from(order + "I", data, ph)[0] != 4:  # PT_NOTE
            continue
        if is64:
            off, size = struct.unpack_from(order + "Q", data, ph + 8)[0], struct.unpack_from(
                order + "Q", data, ph + 32)[0]  # fmt: skip
        else:
            off, size = struct.unpack_from(order + "I", data, ph + 4)[0], struct.unpack_from(
                order + "I", data, ph + 16)[0]  # fmt: skip
        # walk to a random note: namesz, descsz, type, then name and desc padded to 4
        picks = rng.randrange(64)
        pos, end = off, min(off + size, len(data))
        while pos + 12 <= end and picks > 0:
            namesz, descsz = struct.unpack_from(order + "II", data, pos)
            nxt = pos + 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
            if nxt + 12 > end:
                break
            pos, picks = nxt, picks - 1
        out = bytearray(data)
        put(out, pos + 4 * rng.randrange(3), 4, boundary(rng, 4, len(data)), order)
        if rng.random() < 0.3:  # a word inside the descriptor (counts in NT_FILE, sizes)
            put(out, pos + 12 + 4 * rng.randrange(16), 8 if is64 else 4,
                boundary(rng, 8 if is64 else 4, len(data)), order)  # fmt: skip
        return bytes(out)
    return elf_headers(data, rng)


def mutate(data: bytes, rng: random.Random, mutators: Sequence[Mutator],
           others: Sequence[bytes] = ()) -> bytes:  # fmt: skip
    """One to four stacked mutations; sometimes a splice with another seed first."""
    if others and rng.random() < 0.05:
        other = rng.choice(others)
        cut = rng.randrange(len(data) + 1)
        data = data[:cut] + other[cut:]
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        data = rng.choice(mutators)(data, rng)
    return data
