"""file:line from the DWARF line table alone, through pyelftools: the fallback without symbolic.

When ``symbolic`` is not installed the chain still answers file:line (no
inline frames, no function names: the symbol table names the function).  Every
line-number row of every compilation unit becomes three numpy columns
(address, file, line) once per file; a lookup is one ``searchsorted``, with
LLVM's rule: the last row at or below the address, unless it ends a sequence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from memlens.errors import FormatError
from memlens.symbols.dwarf import LineFrame


def _path(comp_dir: str, directory: str, name: str) -> str:
    if os.path.isabs(name):
        return name
    if not os.path.isabs(directory):
        directory = os.path.join(comp_dir, directory) if directory else comp_dir
    return os.path.join(directory, name)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value) if value is not None else ""


class ElfLineTable:
    """file:line lookups for one ELF file with ``.debug_line`` (pyelftools).

    Args:
        path: the ELF file.
        image_base: subtracted from the file's addresses (lookups are relative to it,
            as for :class:`memlens.symbols.dwarf.LineTable`).

    Raises:
        FormatError: no DWARF, or DWARF pyelftools cannot read.
    """

    def __init__(self, path: str, image_base: int) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self.path = path
        self.image_base = image_base
        addrs: list[int] = []
        files: list[int] = []
        lines: list[int] = []
        ends: list[bool] = []
        self.files: list[str] = []
        index: dict[str, int] = {}
        try:
            with open(path, "rb") as f:
                elf = ELFFile(f)
                if not elf.has_dwarf_info():
                    raise FormatError(path, None, "no DWARF debug information")
                dwarf = elf.get_dwarf_info()
                for cu in dwarf.iter_CUs():
                    program = dwarf.line_program_for_CU(cu)
                    if program is None:
                        continue
                    top = cu.get_top_DIE().attributes.get("DW_AT_comp_dir")
                    comp_dir = _text(top.value) if top is not None else ""
                    header = program.header
                    dirs = [_text(d) for d in header["include_directory"]]
                    names = []
                    for fe in header["file_entry"]:
                        d = dirs[fe.dir_index] if fe.dir_index < len(dirs) else ""
                        if header["version"] < 5:
                            # DWARF 2-4: directory 0 is the compilation directory
                            d = comp_dir if fe.dir_index == 0 else dirs[fe.dir_index - 1] if (
                                fe.dir_index - 1 < len(dirs)) else ""  # fmt: skip
                        p = _path(comp_dir, d, _text(fe.name))
                        names.append(index.setdefault(p, len(index)))
                    first = 1 if header["version"] < 5 else 0  # file numbers start here
                    for entry in program.get_entries():
                        st = entry.state
                        if st is None:
                            continue
                        k = st.file - first
                        addrs.append(st.address)
                        files.append(names[k] if 0 <= k < len(names) else -1)
                        lines.append(st.line)
                        ends.append(st.end_sequence)
        except FormatError:
            raise
        except (ELFError, OSError) as e:
            raise FormatError(path, None, f"DWARF line table: {e}") from None
        except Exception as e:  # pyelftools/construct raise many kinds on bad DWARF
            raise FormatError(path, None, f"DWARF line table: {type(e).__name__}: {e}") from None
        self.files = list(index)
        a = np.array(addrs, np.uint64)
        end = np.array(ends, bool)
        # at one address an ending sequence comes before the one that starts there
        order = np.lexsort((np.arange(len(a)), ~end, a))
        self._addr = a[order]
        self._file = np.array(files, np.int64)[order]
        self._line = np.array(lines, np.int64)[order]
        self._end = end[order]

    def lookup(self, relative: Sequence[int]) -> list[list[LineFrame]]:
        """Per address (relative to the image base): one frame without a function, or []."""
        out: list[list[LineFrame]] = []
        if not len(self._addr):
            return [[] for _ in relative]
        rel = np.array([r if 0 <= r < 1 << 63 else -1 for r in relative], np.int64)
        a = (rel + self.image_base).astype(np.uint64)
        i = np.searchsorted(self._addr, a, side="right").astype(np.int64) - 1
        ok = (rel >= 0) & (i >= 0)
        ic = np.maximum(i, 0)
        ok &= ~self._end[ic] & (self._file[ic] >= 0)
        files, lines = self._file[ic].tolist(), self._line[ic].tolist()
        for good, f, line in zip(ok.tolist(), files, lines, strict=True):
            out.append([LineFrame(None, None, self.files[f], line or None)] if good else [])
        return out
