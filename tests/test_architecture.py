"""The import rules that keep the kernel and its plugins apart, checked on the source (ast)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import datagen.plugin
from tests.conftest import REPO

KERNEL = REPO / "datagen"
BUILTINS = REPO / "plugins" / "datagen_plugins"
CONTRIB = sorted((REPO / "contrib").glob("*/src"))
API = set(datagen.plugin.__all__)


def imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, names) for every import in ``path``; ``names`` is empty for ``import x``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def sources(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py"))


def plugin_violations(path: Path, family_package: str | None, root: Path = REPO) -> list[str]:
    """What a plugin module may import from datagen: only names ``datagen.plugin`` declares; from the
    built-in plugins only the private helpers (``_x``) of its own family."""
    found = []
    for line, module, names in imports(path):
        where = f"{path.relative_to(root)}:{line}"
        if module == "datagen" or (module.startswith("datagen.") and module != "datagen.plugin"):
            found.append(f"{where}: imports {module} (only datagen.plugin is the plugin API)")
        elif module == "datagen.plugin":
            found.extend(f"{where}: datagen.plugin has no {n!r}" for n in names if n not in API)
        elif module.startswith("datagen_plugins"):
            parts = module.split(".")
            own_helper = (
                family_package is not None
                and len(parts) == 3
                and parts[1] == family_package
                and parts[2].startswith("_")
            )
            if not own_helper:
                found.append(f"{where}: imports another plugin's module {module}")
    return found


def test_the_kernel_imports_no_plugin() -> None:
    found = [
        f"{path.relative_to(REPO)}:{line}: imports {module}"
        for path in sources(KERNEL)
        for line, module, _ in imports(path)
        if module.split(".")[0] in {"datagen_plugins", "datagen_inspect"} or module.startswith("contrib")
    ]
    assert found == []


def test_builtin_plugins_use_only_the_declared_api() -> None:
    found = []
    for path in sources(BUILTINS):
        family = path.parent.name if path.parent != BUILTINS else None
        found.extend(plugin_violations(path, family))
    assert found == []


@pytest.mark.parametrize("src", CONTRIB, ids=lambda p: p.parent.name)
def test_contrib_plugins_use_only_the_declared_api(src: Path) -> None:
    found = [v for path in sources(src) for v in plugin_violations(path, None)]
    assert found == []


def test_every_declared_name_exists_and_is_documented() -> None:
    for name in API:
        assert hasattr(datagen.plugin, name), name
    guide = (REPO / "docs" / "plugin-guide.md").read_text()
    missing = [name for name in sorted(API) if f"`{name}`" not in guide]
    assert missing == []


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import datagen\n"
        "from datagen._engine.core import Engine\n"
        "from datagen.plugin import Record, secret_sauce\n"
        "from datagen_plugins.methods.respond import Respond\n"
        "from datagen_plugins.methods._shared import prompts\n"
        "from datagen._app.cli import cli\n"
    )
    found = [v.split(": ", 1)[1] for v in plugin_violations(bad, "backends", tmp_path)]
    assert found == [
        "imports datagen (only datagen.plugin is the plugin API)",
        "imports datagen._engine.core (only datagen.plugin is the plugin API)",
        "datagen.plugin has no 'secret_sauce'",
        "imports another plugin's module datagen_plugins.methods.respond",
        "imports another plugin's module datagen_plugins.methods._shared",
        "imports datagen._app.cli (only datagen.plugin is the plugin API)",
    ]
    # a method module may use its own family's private helpers
    assert len(plugin_violations(bad, "methods", tmp_path)) == 5


def test_no_builtin_plugin_registers_a_command() -> None:
    """``datagen --help`` loads only third-party plugins and the built-in commands' registrations, so
    that it never imports every built-in plugin: a built-in command is a module of
    ``datagen/_app/commands/``, registered there by name and import path."""
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "plugins" / "datagen_plugins").rglob("*.py")
        if "datagen_register_commands" in path.read_text()
    ]
    assert offenders == []


def test_every_builtin_registration_is_typed_by_its_familys_protocol() -> None:
    """Each ``datagen_register_<family>`` of a built-in plugin annotates ``register`` with the family's
    typed callable (``RegisterFilter`` ...), so mypy checks every registered class against the family's
    protocol (the type check runs in CI)."""
    import re

    typed = {
        "backends": "RegisterBackend",
        "methods": "RegisterMethod",
        "filters": "RegisterFilter",
        "privacy": "RegisterPrivacy",
        "metrics": "RegisterMetric",
        "plots": "RegisterPlot",
        "agents": "RegisterAgent",
    }
    found = 0
    for path in (REPO / "plugins" / "datagen_plugins").rglob("*.py"):
        for family, annotation in re.findall(
            r"def datagen_register_(\w+)\(register: (\w+)\)", path.read_text()
        ):
            found += 1
            assert annotation == typed[family], (
                f"{path.name}: datagen_register_{family}(register: {annotation})"
            )
    assert found >= 40
