"""DWARF call frame information (``.eh_frame``, ``.debug_frame``): index and rules.

Opening a section only indexes it: every FDE's ``[pc_begin, pc_end)`` and where
its instructions are, sorted for bisection.  The CIE and FDE instructions of
one FDE are run only when a pc in it is unwound, up to that pc (DWARF 5
§6.4.2), giving the CFA rule and one rule per register.

Records are ``length`` (u32; 0xffffffff then u64), ``CIE id`` (0 in
``.eh_frame``, 0xffffffff / all-ones in ``.debug_frame``; otherwise the
pointer back to the FDE's CIE), then the fields.  Pointers in ``.eh_frame``
follow the CIE's ``R`` augmentation encoding (``DW_EH_PE_*``).  Every length
and count is checked against the section's bytes.
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import dataclass, field

from memlens.errors import FormatError
from memlens.unwind.leb128 import Leb128Error, read_leb128

# DW_EH_PE_* pointer encodings: low nibble the format, high nibble how it is applied
PE_OMIT = 0xFF
_PE_FORMATS = {0x00: None, 0x01: "uleb", 0x02: "H", 0x03: "I", 0x04: "Q", 0x09: "sleb",
               0x0A: "h", 0x0B: "i", 0x0C: "q"}  # fmt: skip
PE_PCREL, PE_DATAREL = 0x10, 0x30
MAX_FDES = 1 << 20
ROW_CACHE = 1 << 16


class CfiError(Exception):
    """A malformed CIE/FDE or an instruction memlens does not run."""


@dataclass(frozen=True, slots=True)
class Cie:
    code_align: int
    data_align: int
    ra_column: int
    encoding: int  # pointer encoding of FDE addresses
    lsda: bool
    signal_frame: bool
    initial: bytes
    aug_data: bool


# Register rules: ("undefined",), ("same",), ("offset", n) -> saved at CFA+n,
# ("val_offset", n) -> value CFA+n, ("register", r), ("expression", bytes),
# ("val_expression", bytes)
Rule = tuple[str, int] | tuple[str] | tuple[str, bytes]


@dataclass(slots=True)
class Row:
    """The unwind rules at one pc: the CFA and each register's."""

    cfa_register: int = -1
    cfa_offset: int = 0
    cfa_expression: bytes | None = None
    rules: dict[int, Rule] = field(default_factory=dict)
    ra_column: int = 0
    signal_frame: bool = False


class _Reader:
    __slots__ = ("data", "end", "pos", "prefix")

    def __init__(self, data: bytes | memoryview, pos: int, end: int, prefix: str) -> None:
        self.data, self.pos, self.end, self.prefix = data, pos, end, prefix

    def take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.pos + size > self.end:
            raise CfiError("record runs past its end")
        value = struct.unpack_from(self.prefix + fmt, self.data, self.pos)[0]
        self.pos += size
        return int(value)

    def u8(self) -> int:
        if self.pos >= self.end:
            raise CfiError("record runs past its end")
        self.pos += 1
        return int(self.data[self.pos - 1])

    def uleb(self) -> int:
        return self._leb128(False)

    def sleb(self) -> int:
        return self._leb128(True)

    def _leb128(self, signed: bool) -> int:
        try:
            value, self.pos = read_leb128(self.data, self.pos, self.end, signed)
        except Leb128Error as e:
            raise CfiError(str(e)) from None
        return value

    def cstring(self) -> bytes:
        end = bytes(self.data[self.pos : self.end]).find(b"\0")
        if end < 0:
            raise CfiError("unterminated string")
        out = bytes(self.data[self.pos : self.pos + end])
        self.pos += end + 1
        return out

    def pointer(self, encoding: int, section_addr: int, word: int) -> int:
        if encoding == PE_OMIT:
            return 0
        fmt = _PE_FORMATS.get(encoding & 0x0F, "bad")
        if fmt == "bad":
            raise CfiError(f"pointer encoding {encoding:#x}")
        here = section_addr + self.pos
        if fmt is None:
            value = self.take("I" if word == 4 else "Q")
        elif fmt == "uleb":
            value = self.uleb()
        elif fmt == "sleb":
            value = self.sleb()
        else:
            value = self.take(fmt)
        if encoding & 0x70 == PE_PCREL:
            value += here
        return value & ((1 << (8 * word)) - 1)


class CfiTable:
    """The FDEs of one ``.eh_frame`` or ``.debug_frame`` section, indexed by pc.

    ``section_addr`` is the section's link-time address (``.eh_frame`` pointers
    are pc-relative to it); pcs given to :meth:`row` are link-time addresses.

    Raises:
        FormatError: from the constructor only when the section cannot be indexed at all.
    """

    def __init__(self, data: bytes | memoryview, section_addr: int, word: int, prefix: str,
                 eh_frame: bool, source: str = "") -> None:  # fmt: skip
        self.data = bytes(data)
        self.addr = section_addr
        self.word = word
        self.prefix = prefix
        self.eh = eh_frame
        self._cies: dict[int, Cie] = {}
        starts: list[tuple[int, int, int, int]] = []
        self.bad = 0
        pos = 0
        n = len(self.data)
        while pos + 4 <= n and len(starts) < MAX_FDES:
            length = struct.unpack_from(prefix + "I", self.data, pos)[0]
            hdr = 4
            if length == 0xFFFFFFFF:
                if pos + 12 > n:
                    break
                length = struct.unpack_from(prefix + "Q", self.data, pos + 4)[0]
                hdr = 12
            if length == 0:
                if eh_frame:
                    break  # the terminator
                pos += hdr
                continue
            end = pos + hdr + length
            if end > n:
                self.bad += 1
                break
            try:
                fde = self._fde_header(pos + hdr, end, hdr == 12)
            except CfiError:
                self.bad += 1
                fde = None
            if fde is not None:
                starts.append(fde)
            pos = end
        if not starts and self.bad and source:
            raise FormatError(source, None, "no readable CFI records")
        starts.sort()
        self._starts = [s[0] for s in starts]
        self._fdes = starts
        self._rows: dict[int, Row | None] = {}  # threads of one program share their pcs

    def __len__(self) -> int:
        return len(self._fdes)

    def _is_cie(self, cie_id: int, wide: bool) -> bool:
        if self.eh:
            return cie_id == 0
        return cie_id == (0xFFFFFFFFFFFFFFFF if wide else 0xFFFFFFFF)

    def _fde_header(self, at: int, end: int, wide: bool) -> tuple[int, int, int, int] | None:
        r = _Reader(self.data, at, end, self.prefix)
        cie_id = r.take("Q" if wide else "I")
        if self._is_cie(cie_id, wide):
            return None
        cie_at = (at - cie_id) if self.eh else cie_id
        cie = self._cie(cie_at)
        pc = r.pointer(cie.encoding, self.addr, self.word)
        size = r.pointer(cie.encoding & 0x0F, self.addr, self.word)
        if cie.aug_data:
            r.pos += r.uleb()
        if r.pos > end:
            raise CfiError("FDE augmentation past its end")
        return pc, pc + size, r.pos, (end << 32) | cie_at  # instructions: [r.pos, end)

    def _cie(self, at: int) -> Cie:
        found = self._cies.get(at)
        if found is not None:
            return found
        if at < 0 or at + 4 > len(self.data):
            raise CfiError("CIE pointer outside the section")
        length = struct.unpack_from(self.prefix + "I", self.data, at)[0]
        hdr = 4
        if length == 0xFFFFFFFF:
            if at + 12 > len(self.data):
                raise CfiError("CIE past the section")
            length = struct.unpack_from(self.prefix + "Q", self.data, at + 4)[0]
            hdr = 12
        end = at + hdr + length
        if end > len(self.data):
            raise CfiError("CIE past the section")
        r = _Reader(self.data, at + hdr, end, self.prefix)
        r.take("Q" if hdr == 12 else "I")
        version = r.u8()
        aug = r.cstring()
        if b"eh" in aug:
            r.take("I" if self.word == 4 else "Q")
        if version >= 4:
            r.u8()  # address size
            r.u8()  # segment selector size
        code_align, data_align = r.uleb(), r.sleb()
        ra = r.u8() if version == 1 else r.uleb()
        encoding = 0x00  # absolute, word-sized, unless the R augmentation says otherwise
        lsda = signal = aug_data = False
        if aug.startswith(b"z"):
            aug_data = True
            aug_len = r.uleb()
            aug_end = r.pos + aug_len
            for ch in aug[1:]:
                if ch == ord("R"):
                    encoding = r.u8()
                elif ch == ord("L"):
                    r.u8()
                    lsda = True
                elif ch == ord("P"):
                    r.pointer(r.u8(), self.addr, self.word)
                elif ch == ord("S"):
                    signal = True
                elif ch in (ord("B"), ord("G")):
                    pass
                else:
                    break
            r.pos = aug_end
        if r.pos > end:
            raise CfiError("CIE augmentation past its end")
        cie = Cie(code_align, data_align, ra, encoding, lsda, signal,
                  bytes(self.data[r.pos : end]), aug_data)  # fmt: skip
        self._cies[at] = cie
        return cie

    def span(self, pc: int) -> tuple[int, int] | None:
        """``[start, end)`` of the FDE covering link-time ``pc``, if one does."""
        i = bisect.bisect_right(self._starts, pc) - 1
        if i >= 0 and self._fdes[i][0] <= pc < self._fdes[i][1]:
            return self._fdes[i][0], self._fdes[i][1]
        return None

    def row(self, pc: int) -> Row | None:
        """The unwind rules at link-time ``pc``, or ``None`` when no FDE covers it.

        Raises:
            CfiError: the FDE's instructions are malformed.
        """
        if pc in self._rows:
            return self._rows[pc]
        row = self._row(pc)
        if len(self._rows) < ROW_CACHE:
            self._rows[pc] = row
        return row

    def _row(self, pc: int) -> Row | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0:
            return None
        start, end, ins_at, packed = self._fdes[i]
        if not start <= pc < end:
            return None
        cie = self._cie(packed & 0xFFFFFFFF)
        ins_end = packed >> 32
        row = Row(ra_column=cie.ra_column, signal_frame=cie.signal_frame)
        _run(cie.initial, 0, len(cie.initial), row, cie, start, pc, None, self)
        initial = dict(row.rules)
        _run(self.data, ins_at, ins_end, row, cie, start, pc, initial, self)
        return row


def _run(data: bytes, pos: int, end: int, row: Row, cie: Cie, loc: int, target: int,
         initial: dict[int, Rule] | None, table: CfiTable) -> None:  # fmt: skip
    """Run CFA instructions until the location passes ``target`` (DWARF 5 §6.4.2)."""
    r = _Reader(data, pos, end, table.prefix)
    stack: list[tuple[int, int, bytes | None, dict[int, Rule]]] = []
    ca, da = cie.code_align, cie.data_align
    while r.pos < r.end:
        op = r.u8()
        hi, low = op & 0xC0, op & 0x3F
        if hi == 0x40:  # DW_CFA_advance_loc
            loc += low * ca
        elif hi == 0x80:  # DW_CFA_offset
            row.rules[low] = ("offset", r.uleb() * da)
            continue
        elif hi == 0xC0:  # DW_CFA_restore
            _restore(row, low, initial)
            continue
        elif op == 0x01:  # set_loc
            loc = r.pointer(cie.encoding, table.addr, table.word)
        elif op in (0x02, 0x03, 0x04):  # advance_loc1/2/4
            loc += r.take({2: "B", 3: "H", 4: "I"}[op]) * ca
        else:
            _other(op, r, row, da, initial, stack)
            continue
        if loc > target:
            return


def _other(op: int, r: _Reader, row: Row, da: int, initial: dict[int, Rule] | None,
           stack: list[tuple[int, int, bytes | None, dict[int, Rule]]]) -> None:  # fmt: skip
    if op == 0x00:  # nop
        return
    if op == 0x05:  # offset_extended
        reg = r.uleb()
        row.rules[reg] = ("offset", r.uleb() * da)
    elif op == 0x06:  # restore_extended
        _restore(row, r.uleb(), initial)
    elif op == 0x07:  # undefined
        row.rules[r.uleb()] = ("undefined",)
    elif op == 0x08:  # same_value
        row.rules[r.uleb()] = ("same",)
    elif op == 0x09:  # register
        reg = r.uleb()
        row.rules[reg] = ("register", r.uleb())
    elif op == 0x0A:  # remember_state
        if len(stack) > 64:
            raise CfiError("remember_state nesting too deep")
        stack.append((row.cfa_register, row.cfa_offset, row.cfa_expression, dict(row.rules)))
    elif op == 0x0B:  # restore_state
        if not stack:
            raise CfiError("restore_state without remember_state")
        row.cfa_register, row.cfa_offset, row.cfa_expression, row.rules = stack.pop()
    elif op == 0x0C:  # def_cfa
        row.cfa_register, row.cfa_offset, row.cfa_expression = r.uleb(), r.uleb(), None
    elif op == 0x0D:  # def_cfa_register
        row.cfa_register, row.cfa_expression = r.uleb(), None
    elif op == 0x0E:  # def_cfa_offset
        row.cfa_offset = r.uleb()
    elif op == 0x0F:  # def_cfa_expression
        row.cfa_expression = _block(r)
    elif op == 0x10:  # expression
        reg = r.uleb()
        row.rules[reg] = ("expression", _block(r))
    elif op == 0x11:  # offset_extended_sf
        reg = r.uleb()
        row.rules[reg] = ("offset", r.sleb() * da)
    elif op == 0x12:  # def_cfa_sf
        row.cfa_register, row.cfa_offset, row.cfa_expression = r.uleb(), r.sleb() * da, None
    elif op == 0x13:  # def_cfa_offset_sf
        row.cfa_offset = r.sleb() * da
    elif op == 0x14:  # val_offset
        reg = r.uleb()
        row.rules[reg] = ("val_offset", r.uleb() * da)
    elif op == 0x15:  # val_offset_sf
        reg = r.uleb()
        row.rules[reg] = ("val_offset", r.sleb() * da)
    elif op == 0x16:  # val_expression
        reg = r.uleb()
        row.rules[reg] = ("val_expression", _block(r))
    elif op == 0x2D:  # GNU_window_save / AArch64 negate_ra_state: no register moves
        return
    elif op == 0x2E:  # GNU_args_size
        r.uleb()
    elif op == 0x2F:  # GNU_negative_offset_extended
        reg = r.uleb()
        row.rules[reg] = ("offset", -r.uleb() * da)
    else:
        raise CfiError(f"unknown CFA instruction {op:#x}")


def _block(r: _Reader) -> bytes:
    size = r.uleb()
    if r.pos + size > r.end:
        raise CfiError("expression past the record's end")
    out = bytes(r.data[r.pos : r.pos + size])
    r.pos += size
    return out


def _restore(row: Row, reg: int, initial: dict[int, Rule] | None) -> None:
    if initial is not None and reg in initial:
        row.rules[reg] = initial[reg]
    else:
        row.rules.pop(reg, None)
