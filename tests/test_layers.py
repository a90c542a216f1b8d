"""The house is built as it is described: every import under ``datagen/`` (at module level, under
``TYPE_CHECKING`` or inside a function) goes from a layer to its own or one below, and no modules import
each other in a circle.

Layers, top to bottom: the seed's facades (``datagen``, ``datagen.metrics``, ``datagen.tuning``, ...),
``app`` (commands, runner, Generator), the plugin kit (``datagen.plugin``), ``kernel`` (manager,
registries, contexts, stages), ``engine``, then ``datamodel`` and ``text`` side by side (neither imports
the other), then the base (errors, logging, services). A lower layer that needs something of a higher
one is handed it through :mod:`datagen.services`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

#: the layers, lowest first; a module belongs to the group its name starts with (longest prefix)
RANK = {"base": 0, "datamodel": 1, "text": 1, "engine": 2, "kernel": 3, "plugin": 4, "app": 5, "facade": 6}
GROUPS = {
    "datagen.__about__": "base",
    "datagen.errors": "base",
    "datagen.log": "base",
    "datagen.services": "base",
    "datagen._datamodel": "datamodel",
    "datagen._text": "text",
    "datagen._engine": "engine",
    "datagen._kernel": "kernel",
    "datagen.plugin": "plugin",
    "datagen._app": "app",
    "datagen": "facade",
}

Edges = dict[str, dict[str, set[str]]]


def group(module: str) -> str:
    """The layer group of ``module``."""
    for prefix in sorted(GROUPS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return GROUPS[prefix]
    raise AssertionError(f"{module} belongs to no layer")


def import_graph(root: Path, package: str) -> Edges:
    """``{module: {imported module: {"module" | "type" | "function"}}}`` for the package at ``root``."""
    modules: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path

    def targets(current: str, node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        if node.level:
            base = current.split(".")
            if modules[current].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        return [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names]

    graph: Edges = {}
    for current, path in modules.items():
        found: dict[str, set[str]] = {}
        for node, kind in _imports(ast.parse(path.read_text(encoding="utf-8")), "module"):
            for name in targets(current, node):
                target = name
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != current:
                    found.setdefault(target, set()).add(kind)
        graph[current] = found
    return graph


def _imports(node: ast.AST, kind: str) -> list[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement under ``node`` with where it runs: module level, type-only, in a function."""
    out: list[tuple[ast.Import | ast.ImportFrom, str]] = []
    for child in ast.iter_child_nodes(node):
        inner = kind
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            inner = "function"
        elif isinstance(child, ast.If) and kind == "module" and "TYPE_CHECKING" in ast.unparse(child.test):
            inner = "type"
        if isinstance(child, ast.Import | ast.ImportFrom):
            out.append((child, inner))
        out.extend(_imports(child, inner))
    return out


def cycles(graph: Edges) -> list[list[str]]:
    """The import circles (strongly connected sets of two or more modules), type-only imports aside."""
    edges = {m: [t for t, kinds in found.items() if kinds - {"type"}] for m, found in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
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
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            connect(v)
    return out


def against_the_layers(graph: Edges) -> list[str]:
    """Every import of a higher layer, or of the other side of one layer (datamodel and text)."""
    problems = []
    for module, found in sorted(graph.items()):
        for target, kinds in sorted(found.items()):
            mine, theirs = group(module), group(target)
            if RANK[theirs] > RANK[mine] or (RANK[theirs] == RANK[mine] and theirs != mine):
                problems.append(f"{module} ({mine}) imports {target} ({theirs}): {', '.join(sorted(kinds))}")
    return problems


def test_the_checks_find_a_planted_circle_and_an_upward_import(tmp_path: Path) -> None:
    root = tmp_path / "datagen"
    for name, text in {
        "__init__.py": "",
        "errors.py": "",
        "_datamodel/__init__.py": "",
        "_datamodel/a.py": "def f():\n    from datagen._app import runner\n",
        "_app/__init__.py": "",
        "_app/runner.py": "from datagen._datamodel import a\n",
        "_kernel/__init__.py": "",
        "_kernel/x.py": "import typing\nif typing.TYPE_CHECKING:\n    from datagen._kernel import y\n",
        "_kernel/y.py": "from . import x\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    graph = import_graph(root, "datagen")
    assert cycles(graph) == [["datagen._app.runner", "datagen._datamodel.a"]]
    assert against_the_layers(graph) == [
        "datagen._datamodel.a (datamodel) imports datagen._app.runner (app): function"
    ]  # kernel.x and kernel.y: a type-only import inside one package is no circle


@pytest.fixture(scope="module")
def graph() -> Edges:
    return import_graph(REPO / "datagen", "datagen")


def test_no_module_under_datagen_imports_a_layer_above_its_own(graph: Edges) -> None:
    assert against_the_layers(graph) == []


def test_no_modules_under_datagen_import_each_other_in_a_circle(graph: Edges) -> None:
    assert cycles(graph) == []
