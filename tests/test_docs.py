"""Every hook is documented, with its signature; the docs name every CLI command and config section."""

from __future__ import annotations

import inspect

import attrs
import pytest

from datagen._app.host import AppState
from datagen._datamodel.config import DatagenConfig
from datagen._kernel import hookspecs
from tests.conftest import REPO

#: every command a bare install has: the app's own and the families' (all registered through the hook)
COMMANDS = sorted(
    (e.obj for e in AppState(None, False, False).commands.registry("command")), key=lambda c: c.name
)
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("datagen_"))
HOOKS_MD = (REPO / "docs" / "hooks.md").read_text()


def signature(name: str) -> str:
    params = inspect.signature(getattr(hookspecs, name)).parameters
    return f"{name}({', '.join(params)})"


def test_there_are_hooks_for_every_family() -> None:
    assert len(HOOKS) == 12


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_has_a_docstring(hook: str) -> None:
    assert (inspect.getdoc(getattr(hookspecs, hook)) or "").strip()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook: str) -> None:
    assert f"### `{signature(hook)}`" in HOOKS_MD


def test_docs_name_no_hook_that_does_not_exist() -> None:
    import re

    documented = set(re.findall(r"### `(datagen_\w+)\(", HOOKS_MD))
    assert documented == set(HOOKS)


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_is_documented(command: str) -> None:
    assert f"## `datagen {command}" in (REPO / "docs" / "cli.md").read_text()


def test_docs_name_no_command_that_does_not_exist() -> None:
    import re

    documented = set(re.findall(r"^## `datagen (\w+)", (REPO / "docs" / "cli.md").read_text(), re.M))
    assert documented == {c.name for c in COMMANDS}


def test_every_registered_command_is_a_builtin_one_or_from_a_plugin() -> None:
    host = AppState(None, False, False)
    registry = host.plugins.registry("command")
    assert {c.name for c in COMMANDS} <= set(registry.names())
    for command in COMMANDS:  # each target imports and is the command it says
        assert command.load().name == command.name


SECTIONS = [a.name for a in attrs.fields(DatagenConfig) if a.name != "families"] + list(
    DatagenConfig().sections()
)


@pytest.mark.parametrize("section", SECTIONS)
def test_every_config_section_is_documented(section: str) -> None:
    assert f"`[{section}]`" in (REPO / "docs" / "configuration.md").read_text()
