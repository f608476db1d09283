"""Fixtures of the heap tests."""

from __future__ import annotations

import pytest
from python_progs import MINORS, find_python


@pytest.fixture(params=MINORS, ids=[f"3.{m}" for m in MINORS])
def python(request: pytest.FixtureRequest) -> str:
    """Each CPython version the shim has a layout for, where one is installed."""
    exe = find_python(request.param)
    if exe is None:
        pytest.skip(f"no python3.{request.param} here")
    return exe
