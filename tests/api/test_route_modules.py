"""Routes only call the domain: no route module builds or runs SQL.

A route module is any module under partner_api/ that routes a view (a
function decorated with ``<blueprint>.route(...)``). Each is read with
``ast``, not imported: it may import nothing from SQLAlchemy and call no
session method that runs a query. Every query a page or an endpoint needs is
a named function in tenants/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "partner_api"
# Session (and connection) methods that run a statement or load rows.
QUERY_METHODS = {"execute", "scalars", "scalar", "query", "get_one", "exec_driver_sql"}
# What a route module may import from SQLAlchemy: the session's type, for
# annotations (the session comes from partner_api.request_context).
TYPES_ONLY = {("sqlalchemy.orm", "Session")}


def _routes_a_view(tree: ast.Module) -> bool:
    return any(
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr == "route"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for decorator in node.decorator_list
    )


def _route_modules() -> dict[str, ast.Module]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        if _routes_a_view(tree):
            modules[str(path.relative_to(PACKAGE.parent))] = tree
    return modules


ROUTE_MODULES = _route_modules()


def _sql_building(tree: ast.Module) -> list[str]:
    """What in the module builds or runs SQL, in line order."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {alias.name}")
                for alias in node.names
                if alias.name.split(".")[0] == "sqlalchemy"
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            names = [a.name for a in node.names if (node.module, a.name) not in TYPES_ONLY]
            if names:
                found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
        ):
            found.append((node.lineno, f".{node.func.attr}(...)"))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def test_every_audience_has_its_route_module_found():
    assert {
        "partner_api/partner/routes.py",
        "partner_api/customer/routes.py",
        "partner_api/supplier/routes.py",
        "partner_api/support/routes.py",
        "partner_api/orders/routes.py",
        "partner_api/portal/routes.py",
        "partner_api/ops.py",
    } <= set(ROUTE_MODULES)


@pytest.mark.parametrize("module", sorted(ROUTE_MODULES))
def test_route_module_builds_no_sql(module):
    assert _sql_building(ROUTE_MODULES[module]) == [], (
        f"{module} builds or runs SQL: name the query as a function in tenants/ and call it"
    )


def test_the_check_sees_sql_building():
    tree = ast.parse(
        "from sqlalchemy import select\n"
        "import sqlalchemy.orm\n"
        "from sqlalchemy.orm import Session, aliased\n"
        "def view(session: Session):\n"
        "    return session.scalars(select(Order)).all()\n"
    )
    assert _sql_building(tree) == [
        "line 1: from sqlalchemy import select",
        "line 2: import sqlalchemy.orm",
        "line 3: from sqlalchemy.orm import aliased",
        "line 5: .scalars(...)",
    ]
