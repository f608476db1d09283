"""MicroPython / CircuitPython GC heap analysis (areas, allocation table, objects, graph).

Facts used here come from MicroPython's ``py/gc.c`` and ``py/mpstate.h``
(summarised in ``docs/mpy.md``); the algorithms are re-implemented over numpy
arrays, not transcribed.
"""
