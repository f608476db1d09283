"""The shim's and the scanner's CPython tables, and the location-table decoder, against
each interpreter: ``offsetof()`` on its internal headers, its type sizes, its own
``co_lines()``."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from heap_helpers import need_tool
from python_progs import config_of

from memlens.heap import pyframes

SHIM_SRC = Path(pyframes.__file__).resolve().parent.parent / "shim" / "pyframes.c"


LINES_DUMP = """
import json, sys, textwrap
source = sys.stdin.read()
rows, todo = [], [compile(source, "<t>", "exec")]
while todo:
    co = todo.pop()
    lines = [[off, line] for start, end, line in co.co_lines() for off in range(start, end, 2)]
    rows.append([co.co_linetable.hex(), co.co_firstlineno, lines])
    todo += [c for c in co.co_consts if isinstance(c, type(co))]
print(json.dumps(rows))
"""


def test_location_table_lines_equal_cpythons_own(python: str) -> None:
    """Every instruction of a varied module: line_of agrees with co_lines() of that
    interpreter (tables and lines made by it, decoded here)."""
    gap = "\n" * 300  # line deltas past one varint chunk, both ways
    source = textwrap.dedent("""
        import os

        def f(a,
              b=3):
            x = [i
                 for i in range(a)]
            try:
                y = {k: v for k, v in zip(x, x)}
            except (ValueError,
                    KeyError) as e:
                raise RuntimeError("x") from e
            finally:
                pass
            return (a +
                    b)


        class C:
            def g(self, n):
                return (lambda q: q * 2,
                    GAP   n)

        async def h():
            async with os.x as y:
                await y
    """).replace("GAP", gap)
    dumped = subprocess.run([python, "-c", LINES_DUMP], input=source, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    codes = json.loads(dumped)
    assert sum(len(lines) for _, _, lines in codes) > 200
    for table, first, lines in codes:
        for off, line in lines:
            assert pyframes.line_of(bytes.fromhex(table), first, off) == line, (first, off)


LAYOUT_PROBE = r"""
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <stddef.h>
#include <stdio.h>
#if PY_MINOR_VERSION >= 13  /* the frame pointer moved into the thread state */
#define TS_CFRAME -1
#define CURRENT offsetof(PyThreadState, current_frame)
#define CODE offsetof(_PyInterpreterFrame, f_executable)
#define INSTR offsetof(_PyInterpreterFrame, instr_ptr)
#else
#define TS_CFRAME (int)offsetof(PyThreadState, cframe)
#define CURRENT offsetof(_PyCFrame, current_frame)
#define CODE offsetof(_PyInterpreterFrame, f_code)
#define INSTR offsetof(_PyInterpreterFrame, prev_instr)
#endif
#if PY_MINOR_VERSION == 11  /* is_entry ends an eval call's frames */
#define IS_ENTRY (int)offsetof(_PyInterpreterFrame, is_entry)
#define CSTACK -1
#else  /* an entry frame owned by the C stack does */
#define IS_ENTRY -1
#define CSTACK FRAME_OWNED_BY_CSTACK
#endif
int main(void) {
    printf("%d, %d, %zu, %zu, %zu, %zu, %zu, %d, %d, %d, %zu, %zu\n", PY_MINOR_VERSION,
           TS_CFRAME, CURRENT, CODE, offsetof(_PyInterpreterFrame, previous), INSTR,
           offsetof(_PyInterpreterFrame, owner), IS_ENTRY, FRAME_OWNED_BY_GENERATOR, CSTACK,
           offsetof(PyCodeObject, _co_firsttraceable), offsetof(PyCodeObject, co_code_adaptive));
    PyASCIIObject o;
    memset(&o, 0, sizeof o);
    o.state.kind = 4;
    o.state.compact = 1;
    o.state.ascii = 1;
    unsigned int state;
    memcpy(&state, (char *)&o + offsetof(PyASCIIObject, state), sizeof state);
    printf("%zu %zu %zu %zu %zu %zu %zu %zu %u\n", offsetof(PyCodeObject, co_firstlineno),
           offsetof(PyCodeObject, co_filename), offsetof(PyCodeObject, co_qualname),
           offsetof(PyCodeObject, co_linetable), sizeof(PyASCIIObject),
           sizeof(PyCompactUnicodeObject), offsetof(PyASCIIObject, length),
           offsetof(PyASCIIObject, state), state);
    return 0;
}
"""


def test_layout_tables_equal_offsetof_on_the_interpreters_headers(
    tmp_path: Path, python: str
) -> None:
    gcc = need_tool("gcc")
    include = config_of(python, "sysconfig.get_paths()['include']")
    if not (Path(include) / "internal" / "pycore_frame.h").exists():
        pytest.skip(f"no internal CPython headers in {include}")
    src = tmp_path / "probe.c"
    src.write_text(LAYOUT_PROBE)
    subprocess.run([gcc, f"-I{include}", str(src), "-o", str(tmp_path / "probe")], check=True)
    probe = subprocess.run([str(tmp_path / "probe")], check=True, capture_output=True, text=True)
    shim_row, code_row = probe.stdout.splitlines()
    table = re.search(r"k_layouts\[\] = \{\s*(.*?)\};", SHIM_SRC.read_text(), re.S)
    assert table is not None
    assert "{" + shim_row + "}," in table.group(1)
    first, filename, qualname, linetable, ascii_, compact, length, state_at, state = (
        int(x) for x in code_row.split()
    )
    assert (length, state_at) == (pyframes.STR_LENGTH, pyframes.STR_STATE)
    assert (state >> 2) & 7 == 4 and (state >> 5) & 1 == 1 and (state >> 6) & 1 == 1
    # The code type's own sizes (the check used when its name is not in a core).
    assert int(config_of(python, "types.CodeType.__itemsize__")) == pyframes.CODE_ITEMSIZE
    minor = int(config_of(python, "sys.version_info[1]"))
    assert pyframes.CODE_LAYOUTS[minor] == pyframes.CodeLayout(
        firstlineno=first, filename=filename, qualname=qualname, linetable=linetable,
        code=int(config_of(python, "types.CodeType.__basicsize__")),
        ascii_data=ascii_, compact_data=compact,
    )  # fmt: skip


def test_split_stack_pairs_tagged_words_and_drops_a_cut_pair() -> None:
    tag = pyframes.PY_TAG | (11 << 48)
    stack = (0x401000, tag | 0x7F0000001000, 42, 0x402000, tag | 0x7F0000002000)
    assert list(pyframes.split_stack(stack)) == [
        0x401000, (tag | 0x7F0000001000, 42), 0x402000,
    ]  # fmt: skip
