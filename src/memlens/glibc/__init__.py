"""glibc malloc, read from outside: arenas, chunks, free lists, integrity, leaks.

No shim needed: the heap is walked in a live process (read-only), an ELF core
or a memlens snapshot.  :func:`memlens.glibc.walk.walk_heap` returns a
:class:`memlens.glibc.chunktable.HeapWalk` whose ``chunks`` is a columnar table
(see :mod:`memlens.glibc.chunktable`); :mod:`memlens.glibc.reach` classifies the
in-use chunks the way valgrind's memcheck classifies leaks.
"""
