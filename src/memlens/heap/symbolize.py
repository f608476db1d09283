"""Symbolize the return addresses of heap stacks with the project's symbolizer chain.

Stack entries are *return* addresses: each is looked up at ``address - 1`` so
that a call that is the last instruction of a function is attributed to that
function and to the call's line (the convention of gdb, pprof and
llvm-symbolizer).  A saved profile carries its module list (path, range, bias,
build ID), so it symbolizes later without the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from memlens.core.addrspace import AddressSpace
from memlens.core.module import Module
from memlens.core.snapshot import Snapshot
from memlens.heap.model import HeapProfile
from memlens.symbols.chain import Symbolizer, symbolizer_for
from memlens.symbols.frame import AddressSymbolizer, Frame
from memlens.symbols.modmap import ModuleFile


def modules_of(loaded: Sequence[ModuleFile]) -> list[Module]:
    """The modules of a module map, without their local files, to save with a profile."""
    return [m.module for m in loaded]


def symbolizer_for_profile(
    profile: HeapProfile, debug_dirs: Sequence[str] = ()
) -> AddressSymbolizer:
    """A symbolizer for the modules recorded in ``profile``.

    A profile just scanned keeps the module map it was made with; one read
    from a file rebuilds it from the saved modules.
    """
    if profile.loaded is not None:
        return Symbolizer(profile.loaded, debug_dirs=tuple(debug_dirs))
    snap = Snapshot(
        format=profile.format,
        source=profile.source,
        space=AddressSpace([], []),
        modules=list(profile.modules),
        pid=profile.pid,
    )
    return symbolizer_for(snap, debug_dirs=tuple(debug_dirs))


def symbolize_returns(symbolizer: AddressSymbolizer, addresses: Sequence[int]) -> dict[int, Frame]:
    """Frames for return addresses (looked up at ``address - 1``), keyed by the return address."""
    unique = sorted(set(addresses))
    frames = symbolizer.symbolize([max(a - 1, 0) for a in unique])
    return {
        a: replace(
            f,
            address=a,
            module_offset=None if f.module_offset is None else f.module_offset + 1,
            function_offset=None if f.function_offset is None else f.function_offset + 1,
        )
        for a, f in zip(unique, frames, strict=True)
    }
