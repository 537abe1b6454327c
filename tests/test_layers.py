"""The package's shape, guarded: a torch-free core and strategies, layers that only import
downward, and no import cycles between nasforge's packages (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import nasforge

SRC = Path(nasforge.__file__).parent

# Lowest first. A module may import its own unit and units of lower layers, never a higher one.
LAYERS = [
    {"core"},
    {"ops", "data", "ensemble"},
    {"spaces", "predictors"},
    {"strategies", "estimation", "proxies", "oneshot", "benchmarks", "export", "draw"},
    {"study", "execution"},
    {"api", "studyfile", "progress", "auto", "report", "cli", "commands", "__init__", "__main__"},
]


def unit_of(module: str) -> str:
    """'nasforge.spaces._nb201' -> 'spaces'; 'nasforge' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(unit: str) -> int:
    for i, units in enumerate(LAYERS):
        if unit in units:
            return i
    raise AssertionError(f"nasforge.{unit} belongs to no layer: add it to LAYERS in {__file__} "
                         "and to docs/architecture.md")


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """Every nasforge module ``path`` imports (at any depth in the file, lazy imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "nasforge")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "nasforge":
                submodules = {f"{target}.{a.name}" for a in node.names} & set(MODULES)  # `from . import spaces`
                found.update(submodules)
                if len(submodules) < len(node.names):  # names defined in ``target`` itself
                    found.add(target)
    return found & set(MODULES)


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        unit = unit_of(module_name(path))
        graph.setdefault(unit, set()).update(u for u in map(unit_of, imports_of(path)) if u != unit)
    return graph


def test_layers_only_import_downward():
    upward = [f"nasforge.{a} (layer {layer_of(a)}) imports nasforge.{b} (layer {layer_of(b)})"
              for a, targets in unit_graph().items() for b in targets
              if layer_of(b) > layer_of(a) or (layer_of(b) == layer_of(a) and a != b and a == "core")]
    assert not upward, "imports that go up a layer:\n" + "\n".join(sorted(upward))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles_between_packages():
    cycle = find_cycle(unit_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycles_between_modules_of_a_package():
    for package in [p for p in SRC.iterdir() if (p / "__init__.py").exists()]:
        graph = {module_name(path): {m for m in imports_of(path) if m.startswith(module_name(package) + ".")}
                 for path in package.glob("*.py") if path.name != "__init__.py"}
        cycle = find_cycle(graph)
        assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checker_finds_a_back_edge_and_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer_of("strategies") > layer_of("core") and layer_of("cli") > layer_of("study")


@pytest.mark.parametrize("modules", [
    ["nasforge.core"],
    ["nasforge.predictors", *(f"nasforge.predictors.{p.stem}" for p in (SRC / "predictors").glob("_*.py"))],
    ["nasforge.strategies", *(f"nasforge.strategies.{p.stem}" for p in (SRC / "strategies").glob("_*.py"))],
    ["nasforge.studyfile", "nasforge.progress"],  # `show --json` and `merge` start without torch
])
def test_core_predictors_and_strategies_import_without_torch(modules):
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "heavy = sorted(m for m in ('torch', 'matplotlib', 'onnx', 'ray', 'optuna', 'sklearn') if m in sys.modules)\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"importing {modules[0]} loaded {out}"
