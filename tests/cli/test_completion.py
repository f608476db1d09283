"""``memlens completion``: the scripts complete verbs, options and option values in real shells."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memlens.cli.main import main
from memlens.targets import format_names


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("completion")
    out = {}
    for shell in ("bash", "zsh"):
        done = subprocess.run([sys.executable, "-m", "memlens", "completion", shell],
                              capture_output=True, text=True, check=True)  # fmt: skip
        out[shell] = d / f"memlens.{shell}"
        out[shell].write_text(done.stdout)
    return out


def complete_bash(script: Path, *words: str) -> list[str]:
    """COMPREPLY after typing ``memlens WORDS...`` (the last word is the one completed)."""
    line = " ".join(f"'{w}'" for w in words)
    program = (f"source '{script}'; COMP_WORDS=(memlens {line}); COMP_CWORD={len(words)}; "
               'complete -p memlens >/dev/null; _memlens; printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return sorted(w for w in done.stdout.splitlines() if w)


def test_bash_completes_verbs_options_and_values(scripts: dict[str, Path]) -> None:
    bash = scripts["bash"]
    assert complete_bash(bash, "m") == ["maps", "minidump", "mpy"]
    assert complete_bash(bash, "maps", "--j") == ["--json"]
    assert complete_bash(bash, "heap", "--a") == ["--as"]
    assert complete_bash(bash, "heap", "x.mlheap", "--as", "") == sorted(
        ["text", "tree", "folded", "pprof", "speedscope", "json", "html"])  # fmt: skip
    assert complete_bash(bash, "maps", "1", "--format", "") == sorted(format_names())
    assert complete_bash(bash, "read", "core", "--as", "p") == ["ptr"]
    assert complete_bash(bash, "maps", "core") == []  # file names: bash's default


def test_zsh_script_loads_and_defines_the_function(scripts: dict[str, Path]) -> None:
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed")
    program = (f"autoload -Uz compinit && compinit -u -D; source '{scripts['zsh']}'; "
               "print -r -- $_comps[memlens]; whence -w _memlens")  # fmt: skip
    done = subprocess.run([zsh, "-f", "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["_memlens", "_memlens: function"]
    assert done.stderr == ""


def test_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["completion", "fish"])
    assert done.value.code == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err
