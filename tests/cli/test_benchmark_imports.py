"""Benchmarks measure public functions: none imports a private name of the CLI."""

from __future__ import annotations

import ast

from tests.conftest import ROOT


def test_benchmarks_import_no_private_cli_name() -> None:
    found = []
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text(), str(script))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("memlens.cli"):
                found += [(script.name, node.module, a.name) for a in node.names
                          if a.name.startswith("_")]  # fmt: skip
            if isinstance(node, ast.ImportFrom) and (node.module or "") == "memlens.cli.commands":
                found += [(script.name, node.module, a.name) for a in node.names]
    assert found == []
