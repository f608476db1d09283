"""Demangling C++ (Itanium ABI), Rust and MSVC names, with the demanglers measured best here.

Rust (legacy ``_ZN...17h<hash>E`` and v0 ``_R...``): ``pyderust`` (rustc-demangle;
the hash is dropped, as rustfilt does).  C++: GNU's ``__cxa_demangle`` from the
system's libstdc++ (through ctypes), so names read as c++filt, addr2line and
gdb write them (``{lambda(int)#2}``, where LLVM's demangler writes
``'lambda1'(int)``); ``pydemumble`` (LLVM's demangler) where libstdc++ is
missing or refuses a name, and for MSVC names (``?``-prefixed, from PDBs and
minidumps), which it reads as ``llvm-undname`` does.  When nothing demangles
a name it stays as it is -- never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from types import ModuleType
from typing import Any

_RUST_LEGACY = re.compile(r"_ZN.*17h[0-9a-f]{16}E(\.llvm\.\d+)?$")


@lru_cache(maxsize=1)
def _gnu() -> Callable[[str], str | None] | None:
    """``__cxa_demangle`` of the system libstdc++ as a function (None: not loadable).
    Loaded at the first C++ name: finding the library runs ``ldconfig -p``."""
    import ctypes

    try:
        cxx = _stdcxx(ctypes)
        libc = ctypes.CDLL(None)
        fn = cxx.__cxa_demangle
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.POINTER(ctypes.c_int)]  # fmt: skip
    free = libc.free
    free.argtypes = [ctypes.c_void_p]
    status = ctypes.c_int(0)
    ref = ctypes.byref(status)

    def demangle(name: str) -> str | None:
        out = fn(name.encode("utf-8", "surrogateescape"), None, None, ref)
        if not out:
            return None
        try:
            return ctypes.string_at(out).decode("utf-8", "surrogateescape")
        finally:
            free(out)

    return demangle


def _stdcxx(ctypes: ModuleType) -> Any:
    """The system libstdc++ by its soname; by ``find_library`` (which runs ``ldconfig
    -p``, a process of its own) only where that soname is not there."""
    try:
        return ctypes.CDLL("libstdc++.so.6")
    except OSError:
        import ctypes.util

        return ctypes.CDLL(ctypes.util.find_library("stdc++") or "libstdc++.so.6")


def _load() -> tuple[Callable[[str], str] | None, Callable[[str], str] | None]:
    cxx: Callable[[str], str] | None = None
    rust: Callable[[str], str] | None = None
    try:
        import pydemumble

        cxx = pydemumble.demangle
    except ImportError:  # pragma: no cover - optional dependency
        pass
    try:
        import pyderust

        rust = pyderust.demangle
    except ImportError:  # pragma: no cover
        pass
    return cxx, rust


_GNU: Callable[[str], str | None] | None = None
_CXX: Callable[[str], str] | None = None
_RUST: Callable[[str], str] | None = None
_loaded = False


def _demanglers() -> None:
    """Load the demanglers, on the first mangled name (a C program's symbols need none)."""
    global _GNU, _CXX, _RUST, _loaded
    if not _loaded:
        _loaded = True
        _GNU = _gnu()
        _CXX, _RUST = _load()


@lru_cache(maxsize=1 << 16)
def demangle(name: str) -> str:
    """The human-readable form of ``name`` (unchanged when it is not mangled)."""
    if not name.startswith(("?", "_Z", "_R", "__Z", "__R")):
        return name
    _demanglers()
    if name.startswith("?"):  # MSVC (names from PDBs and minidumps): LLVM's demangler
        if _CXX is not None:
            out = _CXX(name)
            if out and out != name:
                return out
        return name
    if not name.startswith(("_Z", "_R", "__Z", "__R")):
        return name
    bare = name[1:] if name.startswith("__") else name
    if _RUST is not None and (bare.startswith("_R") or _RUST_LEGACY.match(bare)):
        try:
            return _RUST(bare)
        except Exception:
            pass
    gnu_demangle = _gnu() if bare.startswith("_Z") else None
    if gnu_demangle is not None:
        gnu = gnu_demangle(bare)
        if gnu:
            return gnu
    if _CXX is not None and bare.startswith("_Z"):
        out = _CXX(bare)
        if out and out != bare:
            return out
    return name
