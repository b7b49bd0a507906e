"""The package's floors: nothing imports from a floor above it, and no two modules import each other (even
through others). Read from the source (every import, function-level ones included), so a new upward arrow
or circle fails here, not in a reader's head."""

from __future__ import annotations

import ast
from pathlib import Path

import parley

ROOT = Path(parley.__file__).parent
# Bottom to top. A module may import its own floor and the floors below it.
FLOORS = ["(root)", "data", "models", "environments", "agents", "rollout", "mediation", "evaluation", "adapters", "training", "cli"]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        # Imports under `if TYPE_CHECKING:` are for annotations only: they never run, so they make no circle.
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
                       for n in ast.walk(block)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != module and target != "parley":
                    graph[module].add(target)
    return graph


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.index(parts[1] if len(parts) > 1 and parts[1] in FLOORS else "(root)")


def test_every_package_is_on_a_floor():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages <= set(FLOORS), packages - set(FLOORS)


def test_nothing_imports_from_a_floor_above():
    upward = sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets if _floor(b) > _floor(a))
    assert upward == []


def test_no_import_circles():
    graph = _imports()
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert circles == []


def test_the_reader_sees_function_level_imports_and_a_planted_upward_one():
    # The reader above must notice what it is meant to forbid: plant both in a copy of the graph.
    graph = _imports()
    assert "parley.agents.spec" in graph["parley.training.config"]  # function- and module-level imports are read
    graph["parley.models.loading"].add("parley.training.trainer")
    assert any(_floor(b) > _floor(a) for a, t in graph.items() for b in t)
