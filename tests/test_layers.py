"""The import graph of memlens: data flows one way, and no module imports itself in a loop.

Layers, lowest first (docs/architecture.md):
core and errors -> sources -> symbols -> analyses (heap, mpy, glibc, unwind, ...)
-> targets (the reader registry) -> render -> cli.  An import may go down or
sideways, never up.  Every import counts for the layers, including those inside functions
(imported lazily for start-up time) and those for type checking only; the
cycle check counts those that run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "memlens"

#: package prefix -> layer; the longest matching prefix wins
LAYERS: dict[str, int] = {
    "memlens.errors": 0,
    "memlens.core": 0,
    "memlens._pagewalk": 0,
    "memlens.sources": 1,
    "memlens.shim": 1,
    "memlens.symbols": 2,
    "memlens.analyses": 3,
    "memlens.heap": 3,
    "memlens.mpy": 3,
    "memlens.glibc": 3,
    "memlens.unwind": 3,
    "memlens.batch": 5,
    "memlens.targets": 4,
    "memlens.render": 5,
    "memlens.cli": 6,
    "memlens.__main__": 6,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS.items():
        matches = module == prefix or module.startswith(prefix + ".")
        if matches and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return None if best is None else best[1]


def _type_only_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (never executed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def _imports(path: Path, module: str, *, runtime_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    skip = _type_only_nodes(tree) if runtime_only else set()
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            # `from memlens.x import y` may name a submodule y
            out.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in out if m.startswith("memlens.") or m == "memlens"}


def _graph(*, runtime_only: bool = False) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = _imports(path, name, runtime_only=runtime_only)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_every_module_has_a_layer() -> None:
    missing = sorted(m for m in _graph() if m != "memlens" and _layer(m) is None)
    assert missing == [], f"modules outside every layer (add them to LAYERS): {missing}"


def test_no_import_goes_up_a_layer() -> None:
    upward = []
    for module, targets in _graph().items():
        if module == "memlens":  # the public facade re-exports from every layer, lazily
            continue
        low = _layer(module)
        for target in targets:
            high = _layer(target)
            if target != "memlens" and low is not None and high is not None and high > low:
                upward.append(f"{module} (layer {low}) -> {target} (layer {high})")
    assert sorted(upward) == []


def test_import_graph_has_no_cycle() -> None:
    # imports for type checking only are never executed: they cannot loop
    graph = _graph(runtime_only=True)
    # packages import their own submodules; a package's __init__ importing a child
    # that imports the package back is the one loop Python resolves by design
    edges = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        trail.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, trail)
        trail.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert cycles == []


@pytest.mark.parametrize("module", ["memlens.core.addrspace", "memlens.cli.main"])
def test_layer_table_knows_the_main_modules(module: str) -> None:
    assert _layer(module) is not None
