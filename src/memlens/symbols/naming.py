"""How a symbol's name is shown: fragments after their parent, versions and internal aliases off.

Compilers split and clone functions and name the pieces after the original
with a suffix: GCC's hot/cold splitting makes ``f.cold`` (``f.cold.3``), partial
inlining ``f.part.0``, interprocedural SRA ``f.isra.0``, constant propagation
``f.constprop.0``, LTO renames statics ``f.lto_priv.0``; LLVM adds
``.llvm.<hash>``.  A frame names the function the source calls ``f`` and says
which piece it is in: ``f [cold]``, ``f [isra, cold]``.

Symbol versions (``xdr_uint32_t@GLIBC_2.2.5``, ``@@``) are link-time
bookkeeping, not part of the name.  glibc's internal aliases ``__GI_name``
("glibc internal", the hidden alias calls inside libc go through) and
``__EI_name`` (the exported twin) rank below the public ``name``.

See ``docs/symbols.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from memlens.symbols.demangle import demangle as _demangle

#: suffix -> tag shown in brackets ("" = renamed only, no tag)
FRAGMENT_TAGS = {"cold": "cold", "part": "part", "isra": "isra", "constprop": "constprop",
                 "lto_priv": "", "localalias": "", "llvm": "", "clone": "clone"}  # fmt: skip
_SUFFIX = re.compile(r"\.(" + "|".join(FRAGMENT_TAGS) + r")(?:\.\d+)*$")
#: glibc's internal aliases (include/libc-symbols.h: hidden_proto / hidden_def)
INTERNAL_PREFIXES = ("__GI_", "__EI_")


def split_version(name: str) -> str:
    """``name`` without its symbol version (``f@GLIBC_2.2.5`` -> ``f``)."""
    at = name.find("@", 1)
    return name if at < 0 else name[:at]


def split_fragment(name: str) -> tuple[str, tuple[str, ...]]:
    """``(parent name, tags)``: ``f.isra.0.cold`` -> ``("f", ("isra", "cold"))``.

    Only known suffixes at the end count; any other dotted name stays whole.
    """
    tags: list[str] = []
    while True:
        m = _SUFFIX.search(name)
        if m is None or m.start() == 0:
            break
        tag = FRAGMENT_TAGS[m.group(1)]
        if tag and tag not in tags:
            tags.insert(0, tag)
        name = name[: m.start()]
    return name, tuple(tags)


def public(name: str) -> str:
    """The name a user calls: no version, no fragment suffix, no glibc internal prefix."""
    base = split_fragment(split_version(name))[0]
    for p in INTERNAL_PREFIXES:
        if base.startswith(p) and len(base) > len(p):
            return base[len(p) :]
    return base


def alias_penalty(name: str) -> int:
    """Ranks aliases at one address (lower wins): internal prefixes, versions, fragment
    suffixes and leading underscores each cost."""
    cost = 0
    if name.startswith(INTERNAL_PREFIXES):
        cost += 8
    if "@" in name[1:]:
        cost += 4
    if _SUFFIX.search(split_version(name)):
        cost += 4
    return cost + min(len(name) - len(name.lstrip("_")), 3)


@lru_cache(maxsize=1 << 16)
def _shown(name: str, demangle: Callable[[str], str] | None) -> str:
    base, tags = split_fragment(split_version(name))
    shown = demangle(base) if demangle is not None else base
    return f"{shown} [{', '.join(tags)}]" if tags else shown


def display(name: str, demangle: Callable[[str], str] | None = None) -> str:
    """``name`` as a frame shows it: versionless, demangled, fragments as ``parent [tag]``."""
    return _shown(name, demangle)


def with_tags(shown: str, tags: tuple[str, ...]) -> str:
    """``shown`` with ``tags`` appended (as :func:`display` would write them)."""
    return f"{shown} [{', '.join(tags)}]" if tags else shown


def shown(name: str) -> str:
    """:func:`display` with the demangler: how every symbol source shows a raw name."""
    return _shown(name, _demangle)
