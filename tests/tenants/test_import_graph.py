"""The domain's rooms depend on each other one way: no import cycle inside
``tenants/``, counting imports inside functions too (a lazy import hides a
cycle from Python, not from a reader)."""

from __future__ import annotations

import ast
from pathlib import Path

import tenants

ROOT = Path(tenants.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imported(tree: ast.Module, importer: str, is_package: bool) -> set[str]:
    """Every module of ``tenants`` the source imports, wherever the import sits."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = importer if is_package else importer.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            names.add(base)
            # ``from tenants.x import y``: y may be a module of its own.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """tenants module -> the tenants modules it imports (itself left out)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        imported = _imported(tree, name, path.name == "__init__.py")
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for successor in sorted(graph[node]):
            if successor in on_path:
                return [*path[path.index(successor) :], successor]
            if successor not in done:
                cycle = visit(successor)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_imports_inside_functions_and_package_imports():
    graph = import_graph()
    # Module-level: ``from tenants.registration import orders``.
    assert "tenants.registration.orders" in graph["tenants.operations.maintenance"]
    # ``import tenants.scoping`` at the top of db.py.
    assert "tenants.scoping" in graph["tenants.db"]


def test_find_cycle_reports_a_cycle_through_a_lazy_import():
    source = {
        "a": "from tenants import b\n",
        "b": "def later():\n    from tenants import c\n",
        "c": "import tenants.a\n",
    }
    graph = {
        name: {
            m.removeprefix("tenants.")
            for m in _imported(ast.parse(text), f"tenants.{name}", False)
            if m.removeprefix("tenants.") in source
        }
        for name, text in source.items()
    }
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    del graph["c"]
    graph["b"] = set()
    assert find_cycle(graph) is None


def test_no_import_cycle_inside_tenants():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
