"""A Python program leaking through its C extension (tests/glibc/progs/leakext.c),
then stopping at the extension's check point."""

import leakext

data = {str(i): list(range(i % 7)) for i in range(2000)}  # ordinary interpreter work
leakext.leak_list(100)
leakext.leak_middle()
del data
leakext.check()
