"""Demangling C++ (Itanium ABI) and Rust names: the measured choices of ENGINEERING_NOTES §6.

Rust (legacy ``_ZN...17h<hash>E`` and v0 ``_R...``): ``pyderust`` (rustc-demangle;
the hash is dropped, as rustfilt does).  C++: ``pydemumble`` (LLVM's demangler;
handles ``.llvm.NNN`` suffixes).  When a library is missing, or a name does not
demangle, the name stays as it is -- never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

_RUST_LEGACY = re.compile(r"_ZN.*17h[0-9a-f]{16}E(\.llvm\.\d+)?$")


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


_CXX, _RUST = _load()


@lru_cache(maxsize=1 << 16)
def demangle(name: str) -> str:
    """The human-readable form of ``name`` (unchanged when it is not mangled)."""
    if not name.startswith(("_Z", "_R", "__Z", "__R")):
        return name
    bare = name[1:] if name.startswith("__") else name
    if _RUST is not None and (bare.startswith("_R") or _RUST_LEGACY.match(bare)):
        try:
            return _RUST(bare)
        except Exception:
            pass
    if _CXX is not None and bare.startswith("_Z"):
        out = _CXX(bare)
        if out and out != bare:
            return out
    return name
