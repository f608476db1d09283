"""Stack walking: the frames of every thread of a dump or a live process.

Layers: uses the address space (``memlens.core``) and symbols (``memlens.symbols``);
analyses and renderers use it.  ``walker.Walker`` unwinds one thread with, per
frame, Breakpad ``STACK WIN`` / ``STACK CFI``, DWARF CFI (``.eh_frame``,
``.debug_frame``), frame pointers, and stack scanning as the last resort; each
frame records how it was found.
"""
