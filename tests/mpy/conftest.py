"""Fixtures shared by the MicroPython tests."""

from __future__ import annotations

import pytest

from .unixport import Interpreter, unpack


@pytest.fixture(scope="session")
def interpreters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Interpreter]:
    """The unix-port builds of tests/data/mpy-unix, decompressed once per session."""
    return unpack(tmp_path_factory.mktemp("mpy-unix"))
