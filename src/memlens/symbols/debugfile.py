"""Finding separate debug information: build-id paths and ``.gnu_debuglink``.

The GDB conventions: ``DIR/.build-id/xx/rest.debug`` under each debug
directory, then the debuglink name next to the file, in its ``.debug/``
folder, and under each debug directory followed by the file's own directory.
A candidate whose build id differs from the file's is rejected.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from memlens.errors import FormatError
from memlens.symbols.elffile import ElfFile

DEFAULT_DEBUG_DIRS = ("/usr/lib/debug",)


def debug_dirs(extra: Sequence[str] = (), sysroot: str | None = None) -> list[str]:
    dirs = list(extra)
    for d in DEFAULT_DEBUG_DIRS:
        if sysroot:
            dirs.append(os.path.join(sysroot, d.lstrip("/")))
        dirs.append(d)
    return dirs


def _matches(path: str, build_id: bytes | None) -> bool:
    try:
        with ElfFile(path) as elf:
            return build_id is None or elf.build_id() in (None, build_id)
    except FormatError:
        return False


def find_debug_file(
    path: str, build_id: bytes | None, debuglink: str | None, dirs: Sequence[str]
) -> str | None:
    """The separate debug file for ``path``, or ``None`` when there is none."""
    candidates: list[str] = []
    if build_id and len(build_id) >= 2:
        h = build_id.hex()
        candidates += [os.path.join(d, ".build-id", h[:2], h[2:] + ".debug") for d in dirs]
    if debuglink:
        here = os.path.dirname(os.path.abspath(path))
        candidates += [os.path.join(here, debuglink), os.path.join(here, ".debug", debuglink)]
        candidates += [os.path.join(d, here.lstrip("/"), debuglink) for d in dirs]
    real = os.path.realpath(path)
    for c in candidates:
        if os.path.isfile(c) and os.path.realpath(c) != real and _matches(c, build_id):
            return c
    return None
