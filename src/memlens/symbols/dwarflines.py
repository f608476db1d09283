"""file:line from the DWARF line table alone, through pyelftools: the fallback without symbolic.

When ``symbolic`` is not installed the chain still answers file:line (no
inline frames, no function names: the symbol table names the function).  Every
line-number row of every compilation unit becomes numpy columns (address,
file, line) once per file, kept on disk by build id like the SymCache; a
lookup is one ``searchsorted``, with LLVM's rule: the last row at or below the
address, unless it ends a sequence.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from memlens.errors import FormatError
from memlens.symbols.dwarf import LineFrame, cache_dir

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
#: the cache file (numpy .npz, under the SymCache directory) says what it is and which layout
CACHE_MAGIC, CACHE_VERSION = "memlens-dwarf-lines", 1


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


def _parse(path: str) -> tuple[list[str], U64, I64, I64, npt.NDArray[np.bool_]]:
    """(file paths, address, file index, line, end of sequence) of every row, file order.

    Raises:
        FormatError: no DWARF, or DWARF pyelftools cannot read.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    addrs: list[int] = []
    files: list[int] = []
    lines: list[int] = []
    ends: list[bool] = []
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
    return (list(index), np.array(addrs, np.uint64), np.array(files, np.int64),
            np.array(lines, np.int64), np.array(ends, bool))


class ElfLineTable:
    """file:line lookups for one ELF file with ``.debug_line`` (pyelftools).

    Args:
        path: the ELF file.
        image_base: subtracted from the file's addresses (lookups are relative to it,
            as for :class:`memlens.symbols.dwarf.LineTable`).
        build_id: the file's build id: the columns are kept on disk under it (pyelftools
            takes ~20 s of CPU for libpython's 736k rows; reopening takes milliseconds).

    Raises:
        FormatError: no DWARF, or DWARF pyelftools cannot read.
    """

    def __init__(self, path: str, image_base: int, build_id: bytes | None = None, *,
                 use_cache: bool = True) -> None:  # fmt: skip
        self.path = path
        self.image_base = image_base
        cached = None
        if build_id and use_cache:
            cached = os.path.join(cache_dir(), f"{build_id.hex()}.lines{CACHE_VERSION}.npz")
            if self._load(cached):
                return
        self.files, a, f, line, end = _parse(path)
        # at one address an ending sequence comes before the one that starts there
        order = np.lexsort((np.arange(len(a)), ~end, a))
        self._addr, self._file, self._line, self._end = a[order], f[order], line[order], end[
            order]  # fmt: skip
        if cached:
            self._save(cached)

    def _load(self, cached: str) -> bool:
        """Read the columns from the cache; False when absent, foreign or damaged."""
        try:
            with np.load(cached, allow_pickle=False) as z:
                if str(z["magic"]) != CACHE_MAGIC or int(z["version"]) != CACHE_VERSION:
                    return False
                self.files = [str(x) for x in z["paths"]]
                self._addr = z["addr"].astype(np.uint64)
                self._file = z["file_index"].astype(np.int64)
                self._line, self._end = z["line"].astype(np.int64), z["end"].astype(bool)
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
            return False
        n = len(self._addr)
        ok = len(self._file) == n == len(self._line) == len(self._end)
        return ok and bool(((self._file >= -1) & (self._file < len(self.files))).all())

    def _save(self, target: str) -> None:
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                np.savez(out, magic=np.array(CACHE_MAGIC), version=np.array(CACHE_VERSION),
                         paths=np.array(self.files, dtype=str), addr=self._addr,
                         file_index=self._file, line=self._line, end=self._end)  # fmt: skip
            os.replace(tmp, target)  # atomic: concurrent runs never see half a file
        except OSError:
            pass  # a cache we cannot write is only slower, not wrong

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
