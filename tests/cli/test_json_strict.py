"""Every verb's --json on real inputs parses with a strict parser and carries its kind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memlens.cli.main import main

CASES = {
    "info-core": (["info", "elfcore/core_linux64.elf"], "info"),
    "info-minidump": (["info", "minidump/linux_raise_sigabrt.dmp"], "info"),
    "info-memdump": (["info", "memdump/android_init.memdump"], "info"),
    "maps-core32": (["maps", "elfcore/core_linux32.elf"], "maps"),
    "find": (["find", "elfcore/core_linux64.elf", "--string", "ELF", "--max", "5"], "find"),
    "minidump": (["minidump", "minidump/minidump2.dmp"], "minidump"),
    "symbolize": (["symbolize", "elfcore/core_linux64.elf", "400000", "7fa4593ae000"],
                  "symbolize"),
}  # fmt: skip


def strict(text: str) -> Any:
    def no_constant(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    text.encode("utf-8", "strict")  # no lone surrogates
    return json.loads(text, parse_constant=no_constant)


@pytest.mark.parametrize("case", sorted(CASES))
def test_json_is_strict(
    case: str, fixtures_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, kind = CASES[case]
    argv = [argv[0], str(fixtures_dir / argv[1]), *argv[2:], "--json"]
    assert main(argv) in (0, 3)  # 3: printed, but partial
    out = capsys.readouterr().out
    doc = strict(out)
    assert (doc["schema_version"], doc["kind"]) == (1, kind)
    assert out.endswith("}\n")
