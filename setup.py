"""Build step for memlens's two pieces of C, both compiled by setuptools' ``build_ext``
(so ``pip install .`` and ``pip install -e .`` both produce them):

* ``libmemlens_shim.so`` from ``src/memlens/shim/memlens_shim.c``: the allocation
  shim, a plain shared library named and linked as an ordinary ``LD_PRELOAD``
  library, not a Python extension;
* ``memlens._pagewalk`` from ``src/memlens/pagewalk/*.c``: a Python extension
  doing the per-page work of ``memlens pages`` without numpy (see its module.c).
"""

from __future__ import annotations

import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SHIM = "memlens.shim.libmemlens_shim"


class BuildShim(build_ext):
    def get_ext_filename(self, fullname: str) -> str:
        # distutils passes the last component only (get_ext_fullpath), setuptools the
        # dotted name (copy step): both get the plain library name.
        if fullname in (SHIM, SHIM.rsplit(".", 1)[1]):
            return os.path.join(*fullname.split(".")) + ".so"
        return str(super().get_ext_filename(fullname))

    def build_extension(self, ext: Extension) -> None:
        if ext.name != SHIM:
            super().build_extension(ext)
            return
        # The interpreter's own link flags may carry an rpath to its library directory
        # (pyenv builds): in the shim it made every preloaded program search there for
        # libm, libgcc_s and libunwind first (a dozen failed opens at each start).
        linker = self.compiler.linker_so
        self.compiler.linker_so = [a for a in linker if not a.startswith("-Wl,-rpath")]
        try:
            super().build_extension(ext)
        finally:
            self.compiler.linker_so = linker

    def get_export_symbols(self, ext: Extension) -> list[str]:
        # Not a Python module: there is no PyInit_ symbol to export.
        return [] if ext.name == SHIM else list(super().get_export_symbols(ext))


setup(
    ext_modules=[
        Extension(
            SHIM,
            sources=["src/memlens/shim/memlens_shim.c", "src/memlens/shim/pyframes.c"],
            depends=[f"src/memlens/shim/{h}.h"
                     for h in ("stats_table", "unwind", "block_records", "fast_path", "pyframes")],
            extra_compile_args=[
                "-O2", "-g", "-std=gnu11", "-fvisibility=hidden", "-fno-omit-frame-pointer",
                "-Wall", "-Wextra",
            ],
            libraries=["dl", "m", "pthread"],
        ),
        Extension(
            "memlens._pagewalk",
            sources=[f"src/memlens/pagewalk/{name}.c" for name in ("module", "kpage", "lines")],
            depends=["src/memlens/pagewalk/pagewalk.h"],
            extra_compile_args=["-O2", "-std=gnu11", "-fvisibility=hidden", "-Wall", "-Wextra"],
            libraries=["pthread"],
        ),
    ],
    cmdclass={"build_ext": BuildShim},
    # the `memlens` command: a plain script, not a console_scripts entry point, whose
    # wrapper would import re on every start (see bin/memlens)
    scripts=["bin/memlens"],
)
