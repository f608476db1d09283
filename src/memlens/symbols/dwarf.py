"""DWARF file:line and inline frames through ``symbolic``'s SymCache, behind our own interface.

symbolic's Python API has shrunk before (minidumps went in 9.0, demangling in
11.0), so it is touched only here.  A SymCache is built once per debug file and
kept on disk under ``$XDG_CACHE_HOME/memlens/symcache/`` keyed by build id and
SymCache format version (reopening is an mmap).  SymCache addresses are
relative to the file's image base (the lowest PT_LOAD address).

The SymCache is built from the file with its symbol tables hidden (their
section sizes set to 0 in a private copy).  Given symbols, SymCache renames a
whole DWARF function after any symbol that starts one of its ranges: libpython's
``_PyEval_EvalFrameDefault`` became ``ast2obj_expr.lto_priv.0.cold``, every
hidden libc function its ``__GI_`` alias.  Without them every name is DWARF's
(the linkage name, else the name); the ELF symbol table answers where DWARF
has no function, and picks the public alias (see ``docs/symbols.md``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from memlens.errors import FormatError
from memlens.symbols.symcache_index import I64, U64, SymCacheIndex, dense_unique


class LineFrame(NamedTuple):
    """One level of a source location: the function (mangled) and file:line in it.

    ``function_start`` is the function's address relative to the image base, when known;
    ``function`` is None from a bare line table (the symbol table names it).  (A named
    tuple: 100k lookups build ~200k of them.)
    """

    function: str | None
    function_start: int | None
    file: str | None
    line: int | None


_NO_ADDR = (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
#: batches smaller than this go through symbolic's C lookup (no tables to map)
_BATCH = 16


def _without_symbols(path: str) -> bytes:
    """The bytes of ELF file ``path`` with ``.symtab``/``.dynsym`` emptied (sh_size = 0).

    Raises:
        FormatError: not a readable ELF file.
    """
    from memlens.symbols.elffile import SHT_DYNSYM, SHT_SYMTAB, ElfFile

    with ElfFile(path) as elf:
        where = [(elf.shoff + i * elf.shentsize, elf.elfclass)
                 for i, sec in enumerate(elf.sections) if sec.type in (SHT_SYMTAB, SHT_DYNSYM)]
    try:
        with open(path, "rb") as f:
            data = bytearray(f.read())
    except OSError as e:
        raise FormatError(path, None, f"cannot read: {e.strerror}") from None
    for off, elfclass in where:
        # Elf64_Shdr.sh_size at +0x20 (8 bytes), Elf32_Shdr.sh_size at +0x14 (4 bytes)
        at, size = (off + 0x20, 8) if elfclass == 2 else (off + 0x14, 4)
        data[at : at + size] = bytes(size)
    return bytes(data)


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "memlens", "symcache")


def available() -> bool:
    try:
        import symbolic  # noqa: F401
    except ImportError:
        return False
    return True


class LineTable:
    """file:line lookups for one debug file.

    Raises:
        FormatError: the file has no usable debug information.
    """

    def __init__(self, path: str, build_id: bytes | None, *, use_cache: bool = True) -> None:
        from symbolic.debuginfo import Archive
        from symbolic.exceptions import SymbolicError
        from symbolic.symcache import SYMCACHE_LATEST_VERSION, SymCache

        self.path = path
        self._table: SymCacheIndex | None = None
        self._table_tried = False  # tried and failed: symbolic's own lookup only
        self._paths: dict[int, str | None] = {}  # file index -> path, as symbolic gives it
        version = int(SYMCACHE_LATEST_VERSION)
        cached = None
        if build_id and use_cache:
            cached = os.path.join(cache_dir(), f"{build_id.hex()}.v{version}.dwarfonly.symc")
        try:
            if cached and os.path.exists(cached):
                self._cache = SymCache.open(cached)  # type: ignore[no-untyped-call]
                return
            self._blob = _without_symbols(path)  # symbolic borrows it: keep it alive
            archive = Archive.from_bytes(self._blob)
            obj = next(iter(archive.iter_objects()), None)
            if obj is None:
                raise FormatError(path, None, "no object in file")
            self._cache = obj.make_symcache()
        except SymbolicError as e:
            raise FormatError(path, None, f"debug info: {e}") from None
        if cached:
            self._save(cached)

    def _save(self, target: str) -> None:
        import tempfile  # only when a cache is written

        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                self._cache.dump_into(f)
            os.replace(tmp, target)  # atomic: concurrent runs never see half a file
        except OSError:
            pass  # a cache we cannot write is only slower, not wrong

    def lookup(self, relative: Sequence[int]) -> list[list[LineFrame]]:
        """Per address (relative to the image base): innermost frame first; [] if unknown.

        The whole batch is looked up in the SymCache's own tables with numpy
        (:mod:`memlens.symbols.symcache_index`), each source location's frame built
        once; a SymCache of another format version goes through symbolic's C lookup.
        """
        index = self._index()
        if index is None or len(relative) < _BATCH:
            return self.lookup_each(relative)
        try:
            arr = np.asarray(relative, np.uint64)
        except (OverflowError, TypeError, ValueError):  # negative or >= 2**64: unknown
            ok = [0 <= a < 1 << 64 for a in relative]
            arr = np.array([a if good else 1 << 63 for a, good in zip(relative, ok,
                                                                       strict=True)], np.uint64)
        loc = index.innermost(arr)
        uniq, inverse = dense_unique(loc, len(index.file))
        matrix, depth = index.chains(uniq)
        first = np.zeros(len(uniq), np.int64)  # one address of each distinct location
        first[inverse[::-1]] = np.arange(len(arr) - 1, -1, -1)
        self._learn_paths(index, matrix, arr[first])
        frames = self._frames(index, matrix, depth)
        column = np.empty(len(frames), object)
        column[:] = frames
        return column[inverse].tolist()  # type: ignore[no-any-return]

    def _index(self) -> SymCacheIndex | None:
        if not self._table_tried:
            self._table_tried = True
            try:
                from symbolic._lowlevel import ffi, lib

                ptr = self._cache._objptr
                size = lib.symbolic_symcache_get_size(ptr)
                data = ffi.buffer(lib.symbolic_symcache_get_bytes(ptr), size)
                self._table = SymCacheIndex(memoryview(data))
            except (ImportError, AttributeError, ValueError):
                pass  # another format or API: symbolic's own lookup answers
        return self._table

    def _learn_paths(self, index: SymCacheIndex, matrix: I64, addresses: U64) -> None:
        """The path of each file the chains use, from one symbolic lookup of an address
        that uses it (symbolic joins a file's directory parts its own way)."""
        row, level = np.nonzero(matrix >= 0)
        files = index.file[matrix[row, level]]
        known = np.array(list(self._paths), np.uint32)
        new = ~np.isin(files, known, kind="table") if len(known) else np.ones(len(files), bool)
        files, at = np.unique(files[new], return_index=True)
        where = np.flatnonzero(new)[at]
        for f, r, k in zip(files.tolist(), row[where].tolist(), level[where].tolist(),
                           strict=True):  # fmt: skip
            levels = self.lookup_each([int(addresses[r])])[0]
            self._paths[f] = levels[k].file if k < len(levels) else None

    def _frames(self, index: SymCacheIndex, matrix: I64, depth: I64) -> list[list[LineFrame]]:
        """The LineFrames of each chain (each source location's frame built once)."""
        locs, pos = dense_unique(matrix.reshape(-1), len(index.file))  # -1 (padding) first
        pos = pos.reshape(matrix.shape)
        valid = locs[locs >= 0]
        fn = index.function[valid].astype(np.int64)
        ok = fn < len(index.entry_pc)
        start = np.where(ok, index.entry_pc[np.where(ok, fn, 0)], _NO_ADDR[0]).tolist()
        funcs, which = dense_unique(np.where(ok, fn, -1), len(index.entry_pc))
        names = np.array([index.function_name_of(f) for f in funcs.tolist()], object)
        named = names[which].tolist()
        paths = self._paths
        make = tuple.__new__  # LineFrame(...) through its Python-level __new__ costs 3x
        frames = np.empty(len(locs), object)
        frames[len(locs) - len(valid):] = [
            make(LineFrame, (f, None if a == _NO_ADDR[0] else a, paths.get(p), ln or None))
            for f, a, p, ln in zip(named, start, index.file[valid].tolist(),
                                   index.line[valid].tolist(), strict=True)
        ]  # fmt: skip
        out: list[list[LineFrame]] = [[] for _ in range(len(matrix))]
        for d in np.flatnonzero(np.bincount(depth)).tolist():
            if d:
                rows = np.flatnonzero(depth == d)
                for r, levels in zip(rows.tolist(), frames[pos[rows, :d]].tolist(), strict=True):
                    if levels[0].file is not None:
                        out[r] = levels
        return out

    def lookup_each(self, relative: Sequence[int]) -> list[list[LineFrame]]:
        """:meth:`lookup` through symbolic's C entry point, one call per address.

        Calls it directly (its ``SymCache.lookup`` wrapper builds and decodes every
        string anew: three quarters of the time): each distinct function name and
        path is decoded once per call.
        """
        try:
            from symbolic._lowlevel import ffi, lib
        except ImportError:  # pragma: no cover - the wrapper is the stable API
            return self._lookup_wrapped(relative)
        ptr = self._cache._objptr
        find, free_result = lib.symbolic_symcache_lookup, lib.symbolic_lookup_result_free
        unpack, address_of = ffi.unpack, ffi.addressof
        text: dict[bytes, str] = {b"": ""}
        empty: list[LineFrame] = []
        out: list[list[LineFrame]] = []
        append = out.append
        make = tuple.__new__  # LineFrame(...) through its Python-level __new__ costs 3x
        for addr in relative:
            if not 0 <= addr < 1 << 64:
                append(empty)
                continue
            rv = find(ptr, addr)
            n = rv.len
            if not n:
                free_result(address_of(rv))
                append(empty)
                continue
            levels: list[LineFrame] = []
            items = rv.items
            for i in range(n):
                it = items[i]
                fp, sym = it.full_path, it.symbol
                raw = unpack(fp.data, fp.len) if fp.len else b""
                name = unpack(sym.data, sym.len) if sym.len else b""
                path = text.get(raw)
                if path is None:
                    path = text[raw] = raw.decode("utf-8", "replace")
                func = text.get(name)
                if func is None:
                    func = text[name] = name.decode("utf-8", "replace")
                start = it.sym_addr
                levels.append(make(LineFrame, (func, None if start in _NO_ADDR else start,
                                               path or None, it.line or None)))  # fmt: skip
            # the result owns the path strings: freeing it frees them (symbolic-cabi's
            # SymbolicStr drops its owned buffer)
            free_result(address_of(rv))
            append(levels if levels[0].file is not None else empty)
        return out

    def _lookup_wrapped(self, relative: Sequence[int]) -> list[list[LineFrame]]:
        out: list[list[LineFrame]] = []
        lookup = self._cache.lookup
        for addr in relative:
            if addr < 0 or addr >= 1 << 64:
                out.append([])
                continue
            locs = lookup(addr)
            if not locs or not locs[0].full_path:
                out.append([])
                continue
            out.append([
                # inlined levels carry no start address (u32 -1)
                LineFrame(loc.symbol, None if loc.sym_addr in _NO_ADDR else int(loc.sym_addr),
                          loc.full_path, int(loc.line) or None)
                for loc in locs
            ])  # fmt: skip
        return out
