"""The shape of the code: no import cycles between packages, no oversized module, one registry."""

import ast
from pathlib import Path

import pytest

from samplegen import registry

PACKAGE = Path(__file__).resolve().parents[2] / "samplegen"
MAX_LINES = 600


def _runtime_imports(tree: ast.AST) -> list[str]:
    """Every ``samplegen`` module imported at run time (function-local imports too, but not
    the ones under ``if TYPE_CHECKING:``, which never run)."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [name for name in found if name.split(".")[0] == "samplegen"]


def _unit(path: Path) -> str:
    """The package (or top-level module) a file belongs to, e.g. ``generate`` or ``config``."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        source = _unit(path)
        for module in _runtime_imports(ast.parse(path.read_text())):
            parts = module.split(".")
            if len(parts) > 1 and parts[1] != source:
                graph.setdefault(source, set()).add(parts[1])
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_samplegen_packages():
    cycle = _cycle(package_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_registry_imports_nothing_of_samplegen_or_heavy():
    tree = ast.parse((PACKAGE / "registry.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names} | {
        n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    }
    assert not imported & {"pyspark", "torch", "numpy", "pandas"}
    assert not [m for m in imported if m.startswith("samplegen")]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_no_module_over_the_line_limit(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


@pytest.mark.parametrize("spec", registry.STRATEGIES.values(), ids=lambda s: s.name)
def test_every_registered_strategy_module_draws(spec):
    module = spec.load()
    assert callable(getattr(module, "draw", None)), f"{spec.module} has no draw(ctx)"


def test_test_modules_have_unique_basenames():
    """pytest imports test files by basename (no packages under tests/): a repeated name fails
    the whole collection of the second file, whichever tier runs it."""
    tests = Path(__file__).resolve().parents[1]
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
