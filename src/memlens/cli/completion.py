"""``memlens completion bash|zsh``: a shell completion script for every verb and option.

The script is generated from the verbs' own parsers (so it lists exactly the
options they accept, and the choices of options such as ``--format``), and is
static: completing a word runs no Python.

    eval "$(memlens completion bash)"     # in ~/.bashrc
    eval "$(memlens completion zsh)"      # in ~/.zshrc, after compinit
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from memlens.cli.exitcodes import ExitCode
from memlens.cli.verbs import VERBS, Verb

NAME = "completion"
HELP = "print a bash or zsh completion script (eval \"$(memlens completion bash)\")"
DESCRIPTION = """\
Print a completion script for bash or zsh on stdout: verbs, each verb's
options, and the values of options that take a fixed set (--format, --as...).
File names are completed everywhere else."""
EXAMPLES = (
    "memlens completion bash > ~/.local/share/bash-completion/completions/memlens",
    "memlens completion zsh > ~/.zfunc/_memlens",
)


@dataclass(frozen=True, slots=True)
class Option:
    names: tuple[str, ...]
    help: str
    choices: tuple[str, ...] | None  # None: any value or a flag
    takes_value: bool


@dataclass(frozen=True, slots=True)
class VerbOptions:
    verb: Verb
    options: tuple[Option, ...]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")


def run(args: argparse.Namespace) -> int:
    verbs = collect()
    print(bash_script(verbs) if args.shell == "bash" else zsh_script(verbs), end="")
    return ExitCode.OK


def collect() -> list[VerbOptions]:
    """Every verb's options, read from its parser (imports every verb)."""
    from memlens.cli.main import add_verb_parser, load

    top = argparse.ArgumentParser(prog="memlens")
    sub = top.add_subparsers()
    out = []
    for verb in VERBS:
        parser = add_verb_parser(sub, verb, load(verb))
        options = []
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            choices = tuple(str(c) for c in action.choices) if action.choices else None
            options.append(Option(tuple(action.option_strings), str(action.help or ""),
                                  choices, action.nargs != 0))  # fmt: skip
        out.append(VerbOptions(verb, tuple(options)))
    return out


def _words(items: list[str]) -> str:
    return " ".join(items)


def bash_script(verbs: list[VerbOptions]) -> str:
    names = [v.verb.name for v in verbs]
    cases = []
    values = []
    for v in verbs:
        flags = [n for o in v.options for n in o.names]
        cases.append(f"        {v.verb.name}) opts={_sh_quote(_words(flags))} ;;")
        for o in v.options:
            if o.choices:
                pattern = "|".join(f"{v.verb.name}:{n}" for n in o.names)
                values.append(f"        {pattern}) words={_sh_quote(_words(list(o.choices)))} ;;")
    return f"""# memlens completion for bash: eval "$(memlens completion bash)"
_memlens() {{
    local cur prev verb opts words i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    verb=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -*) ;;
            *) verb="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    COMPREPLY=()
    if [[ -z $verb ]]; then
        COMPREPLY=($(compgen -W {_sh_quote(_words([*names, "--help", "--version", "--debug"]))} \\
            -- "$cur"))
        return 0
    fi
    words=""
    case "$verb:$prev" in
{chr(10).join(values)}
    esac
    if [[ -n $words ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return 0
    fi
    opts=""
    case "$verb" in
{chr(10).join(cases)}
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    fi
    return 0  # nothing: bash completes file names (-o default)
}}
complete -o default -F _memlens memlens
"""


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _zsh_text(text: str) -> str:
    """Help text safe inside a zsh _arguments spec in single quotes."""
    for ch in "[]:":
        text = text.replace(ch, " ")
    return " ".join(text.replace("'", "").split())


def zsh_script(verbs: list[VerbOptions]) -> str:
    described = "\n".join(f"        '{v.verb.name}:{_zsh_text(v.verb.help)}'" for v in verbs)
    cases = []
    for v in verbs:
        specs = []
        for o in v.options:
            value = ""
            if o.takes_value:
                value = f":value:({' '.join(o.choices)})" if o.choices else ":value:_files"
            group = "(" + " ".join(o.names) + ")" if len(o.names) > 1 else ""
            names = "{" + ",".join(o.names) + "}" if len(o.names) > 1 else o.names[0]
            specs.append(f"'{group}'{names}'[{_zsh_text(o.help)}]{value}'" if group
                         else f"'{names}[{_zsh_text(o.help)}]{value}'")  # fmt: skip
        specs.append("'*:file:_files'")
        cases.append(f"        {v.verb.name})\n            _arguments -s \\\n                "
                     + " \\\n                ".join(specs) + " ;;")  # fmt: skip
    return f"""#compdef memlens
# memlens completion for zsh: eval "$(memlens completion zsh)" after compinit,
# or save as _memlens in a directory of $fpath
_memlens() {{
    local -a verbs
    verbs=(
{described}
    )
    if (( CURRENT == 2 )); then
        _describe 'memlens verb' verbs
        return
    fi
    local verb=$words[2]
    shift words
    (( CURRENT-- ))
    case $verb in
{chr(10).join(cases)}
        *) _files ;;
    esac
}}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _memlens "$@"
else
    compdef _memlens memlens
fi
"""
