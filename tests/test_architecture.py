"""The import rules that keep the kernel and its plugins apart, checked on the source (ast)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import datagen.plugin
from tests.conftest import REPO
from tests.test_plugins import declared_entry_points

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


def test_the_api_loads_each_name_on_use_and_types_the_same_names() -> None:
    """``datagen.plugin`` imports a name's module when the name is first used; its ``TYPE_CHECKING``
    block (what mypy and editors read) imports the same names from the same modules."""
    tree = ast.parse((REPO / "datagen" / "plugin.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    typed = {a.name: n.module for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert typed == datagen.plugin._WHERE
    code = (
        "import sys\nfrom datagen.plugin import LazyCommand, hookimpl, pass_host\n"
        "print(sorted(m for m in ('datagen._engine.core', 'datagen._datamodel.results',"
        " 'datagen._datamodel.config', 'datagen._text.rouge') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"  # the command kit alone: no engine, data model or text tools
    with pytest.raises(AttributeError, match="has no attribute 'secret_sauce'"):
        datagen.plugin.secret_sauce  # noqa: B018


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


def test_a_builtin_command_lives_with_its_family_in_a_command_module() -> None:
    """``datagen --help`` loads the third-party plugins and, of the built-ins, only the ``*_command``
    entry points: so a built-in plugin that registers a command is such a module, in its family's
    package, registers nothing else, and imports nothing at module level but click, the standard
    library and the plugin API (whose names load on use)."""
    entry_points = declared_entry_points()
    commands = {name: module for name, module in entry_points.items() if name.endswith("_command")}
    assert set(commands) == {"scrub_command", "audit_command", "metrics_command", "report_command",
                             "tune_command", "export_command", "serve_command"}  # fmt: skip
    for path in (REPO / "plugins" / "datagen_plugins").rglob("*.py"):
        text = path.read_text()
        module = ".".join(path.relative_to(REPO / "plugins").with_suffix("").parts)
        if "datagen_register_commands" not in text:
            continue
        assert module in commands.values(), f"{module} registers a command but is not a *_command"
        hooks = set(re.findall(r"^def (datagen_\w+)", text, re.M))
        assert hooks == {"datagen_register_commands"}, module
        top = [n for n in ast.parse(text).body if isinstance(n, ast.Import | ast.ImportFrom)]
        roots = {(n.module if isinstance(n, ast.ImportFrom) else n.names[0].name) or "" for n in top}
        assert roots <= {"__future__", "json", "sys", "pathlib", "typing", "click", "datagen.plugin"}, (
            module,
            roots,
        )


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
        "exporters": "RegisterExporter",
        "executors": "RegisterExecutor",
        "commands": "RegisterCommand",
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
