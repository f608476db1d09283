"""Build step for the allocation shim: a plain shared library, not a Python extension.

``libmemlens_shim.so`` is compiled from ``src/memlens/shim/memlens_shim.c`` by
setuptools' ``build_ext`` (so ``pip install .`` and ``pip install -e .`` both
produce it), but named and linked as an ordinary ``LD_PRELOAD`` library.
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

    def get_export_symbols(self, ext: Extension) -> list[str]:
        # Not a Python module: there is no PyInit_ symbol to export.
        return [] if ext.name == SHIM else list(super().get_export_symbols(ext))


setup(
    ext_modules=[
        Extension(
            SHIM,
            sources=["src/memlens/shim/memlens_shim.c"],
            extra_compile_args=[
                "-O2", "-g", "-std=gnu11", "-fvisibility=hidden", "-fno-omit-frame-pointer",
                "-Wall", "-Wextra",
            ],
            libraries=["dl", "m", "pthread"],
        )
    ],
    cmdclass={"build_ext": BuildShim},
)
