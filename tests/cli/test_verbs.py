"""The verb table: every verb listed once, loaded only when it runs, with real examples."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from memlens.cli import commands
from memlens.cli.main import build_parser, main
from memlens.cli.verbs import VERBS
from tests.conftest import ROOT

ENV = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}

#: runs main(argv) in a fresh interpreter; prints (exit code, loaded memlens verbs, heavy libs)
CHILD = """
import sys
from memlens.cli.main import main
try:
    code = int(main(sys.argv[1:]))
except SystemExit as e:
    code = e.code
sys.stdout.flush()
verbs = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("memlens.cli.commands."))
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"numpy", "rich", "elftools", "orjson"})
print(repr((code, verbs, heavy)), file=sys.stderr)
"""


def loaded_by(*argv: str) -> tuple[int, list[str], list[str]]:
    child = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                           env=ENV, check=False)  # fmt: skip
    result: tuple[int, list[str], list[str]] = ast.literal_eval(child.stderr.splitlines()[-1])
    return result


def test_every_command_module_is_a_row_with_the_same_help() -> None:
    found = pkgutil.iter_modules(commands.__path__)
    modules = {m.name for m in found if not m.name.startswith("_")}
    rows = {v.name: v for v in VERBS}
    assert len(rows) == len(VERBS)  # no verb twice
    in_commands = {n for n, v in rows.items() if v.module.startswith(commands.__name__ + ".")}
    assert in_commands == modules
    for verb in VERBS:
        module = importlib.import_module(verb.module)
        assert (verb.name, verb.help) == (module.NAME, module.HELP)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_load_no_verb(flag: str) -> None:
    code, verbs, heavy = loaded_by(flag)
    assert (code, verbs, heavy) == (0, [], [])


def test_a_verb_loads_only_itself() -> None:
    code, verbs, _ = loaded_by("read", "--help")
    assert (code, verbs) == (0, ["read"])


def test_top_level_help_lists_every_verb_with_its_help(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per verb
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    for verb in VERBS:
        assert f"{verb.name} {verb.help}" in lines


def _command_line(example: str) -> list[str]:
    """The memlens words of an example: after 'memlens', up to a pipe or a redirection."""
    words = shlex.split(example)
    assert words[0] == "memlens", example
    end = next((i for i, w in enumerate(words) if w in ("|", ">", ">>")), len(words))
    return words[1:end]


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
def test_help_ends_with_two_examples_that_parse(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    assert lines[-3] == "examples:"
    examples = [line.strip() for line in lines[-2:]]
    assert all(e.startswith(f"memlens {verb} ") or e == f"memlens {verb}" for e in examples)
    for example in examples:
        argv = _command_line(example)
        args = build_parser(argv[0]).parse_args(argv)  # exits 2 on an option that does not exist
        assert args.verb == verb


def test_unknown_verb_is_a_usage_error() -> None:
    child = subprocess.run([sys.executable, "-m", "memlens", "mapz", "1"], capture_output=True,
                           text=True, env=ENV, check=False)  # fmt: skip
    assert child.returncode == 2 and child.stdout == ""
    assert child.stderr.splitlines()[-1].startswith("memlens: error: argument VERB: invalid choice")


def test_a_command_module_not_yet_in_the_table_still_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A verb merged before its row: found by file name (test_every_command_... then fails)."""
    import argparse
    import types

    module = types.ModuleType(f"{commands.__name__}.zzextra")
    module.NAME = "zzextra"  # type: ignore[attr-defined]
    module.HELP = "an extra verb"  # type: ignore[attr-defined]

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("word")

    def run(args: argparse.Namespace) -> int:
        print(f"ran with {args.word}")
        return 3

    module.add_arguments = add_arguments  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert main(["zzextra", "hello"]) == 3
    assert capsys.readouterr().out == "ran with hello\n"


def test_orjson_and_rich_load_only_where_they_pay(fixtures_dir: Path) -> None:
    core = str(fixtures_dir / "elfcore" / "core_linux64.elf")
    code, verbs, heavy = loaded_by("maps", core)  # text into a pipe: no JSON, no Rich
    assert (code, verbs) == (0, ["maps"]) and "orjson" not in heavy and "rich" not in heavy
    # maps's document is plain (ints, strings): the standard library's json writes it
    code, verbs, heavy = loaded_by("maps", core, "--json")
    assert (code, verbs) == (0, ["maps"]) and "orjson" not in heavy and "rich" not in heavy
    code, verbs, heavy = loaded_by("info", core, "--json")
    assert (code, verbs) == (0, ["info"]) and "orjson" in heavy and "rich" not in heavy
