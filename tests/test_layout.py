"""The package layout (docs/architecture.md): imports run downward only, with no circle.

Layers, top to bottom: ``services.tooling`` (imported by nothing in ``services/``), the services
(request_store, gateway, index_builder, bundle_regenerator, gating: none imports another), and
the libraries ``services.catalog`` and ``services.common`` (which import no service; the catalog
may use common's pure modules, common never imports the catalog).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

SERVICES = {"request_store", "gateway", "index_builder", "bundle_regenerator", "gating"}
LIBRARIES = {"catalog", "common"}


def _imports(path: Path) -> set[str]:
    """Every ``services.*`` name ``path`` imports (also inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("services."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "services" or node.module.startswith("services."):
                # ``from a.b import c``: c may be a module (resolved later) or a name in a.b
                found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _module_map() -> dict[str, set[str]]:
    modules: dict[str, set[str]] = {}
    for path in sorted((REPO / "services").rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        if "pb" in rel.parts:
            continue
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        modules[name] = _imports(path)
    return modules


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_upward_or_sideways_imports() -> None:
    wrong: list[str] = []
    for module, imports in _module_map().items():
        source = _package(module)
        for target in imports:
            dest = _package(target)
            if dest == source or target.startswith("services.common.pb"):
                continue
            if dest == "tooling":
                wrong.append(f"{module} -> {target} (nothing imports the tooling)")
            elif source in LIBRARIES and dest in SERVICES:
                wrong.append(f"{module} -> {target} (a library imports a service)")
            elif source == "common" and dest == "catalog":
                wrong.append(f"{module} -> {target} (common imports the catalog)")
            elif source in SERVICES and dest in SERVICES:
                wrong.append(f"{module} -> {target} (services talk over gRPC/NATS)")
    assert wrong == []


def test_the_module_import_graph_has_no_cycle() -> None:
    graph = _module_map()
    known = set(graph)

    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    edges = {
        m: {t for t in (resolve(i) for i in imps) if t and t != m} for m, imps in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []
