"""The plugin system: discovery, isolation, strict mode, disable list, validation, registries, every hook."""

from __future__ import annotations

import tomllib
from typing import Any, ClassVar

import attrs
import click
import pluggy
import pytest

import datagen
from datagen._datamodel.families import FAMILIES
from datagen._kernel.manager import PluginManager, load_plugins
from datagen.errors import DuplicateNameError, PluginError, UnknownNameError
from tests.conftest import REPO
from tests.fakes import FakeDist, fake_module, install_fake_dists


@attrs.define
class NoOptions:
    """No options."""


def make_backend(name: str) -> type[Any]:
    class B:
        Config: ClassVar[type[Any]] = NoOptions
        is_chat = True
        model = "m"

        def __init__(self, config: Any) -> None: ...
        def validate(self) -> None: ...
        async def complete(self, request: Any) -> Any: ...
        async def aclose(self) -> None: ...

    B.name = name  # type: ignore[attr-defined]
    return B


def backend_plugin(monkeypatch: pytest.MonkeyPatch, module: str, backend: str) -> None:
    def datagen_register_backends(register: Any) -> None:
        register(make_backend(backend))

    fake_module(monkeypatch, module, datagen_register_backends=datagen.hookimpl(datagen_register_backends))


def declared_entry_points() -> dict[str, str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    return dict(data["project"]["entry-points"]["datagen"])


def test_builtins_are_entry_points_of_the_datagen_distribution() -> None:
    pm = load_plugins(strict=True, disable=())
    infos = {i.name: i for i in pm.plugin_infos() if i.dist == "datagen"}
    assert set(infos) == set(declared_entry_points())
    assert all(i.dist == "datagen" and i.builtin and i.version == datagen.__version__ for i in infos.values())


def test_broken_plugin_is_skipped_with_a_warning_naming_it(monkeypatch, capsys) -> None:
    backend_plugin(monkeypatch, "good_plugin", "good")
    install_fake_dists(
        monkeypatch,
        FakeDist("broken-dist", "0.1", {"broken": "no_such_module_anywhere"}),
        FakeDist("good-dist", "1.0", {"good": "good_plugin"}),
    )
    pm = load_plugins(strict=False, disable=())
    assert "broken" in pm.failed and "no_such_module_anywhere" in pm.failed["broken"]
    assert "good" in pm.registry("backend") and "echo" in pm.registry("backend")
    err = capsys.readouterr().err
    assert "plugin_skipped" in err and "'broken'" in err and "broken-dist" in err


def test_strict_mode_raises_on_a_broken_plugin(monkeypatch) -> None:
    install_fake_dists(monkeypatch, FakeDist("broken-dist", "0.1", {"broken": "no_such_module_anywhere"}))
    with pytest.raises(PluginError, match="'broken' from broken-dist failed to load"):
        load_plugins(strict=True, disable=())


def test_strict_mode_from_environment(monkeypatch) -> None:
    install_fake_dists(monkeypatch, FakeDist("broken-dist", "0.1", {"broken": "no_such_module_anywhere"}))
    monkeypatch.setenv("DATAGEN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        load_plugins()
    monkeypatch.setenv("DATAGEN_STRICT_PLUGINS", "0")
    assert "broken" in load_plugins().failed


def test_disable_list_from_argument_and_environment(monkeypatch) -> None:
    pm = load_plugins(strict=True, disable=["echo"])
    assert "echo" not in pm.registry("backend") and pm.disabled == ["echo"]
    monkeypatch.setenv("DATAGEN_DISABLE_PLUGINS", "echo, respond")
    pm = load_plugins(strict=True)
    assert "echo" not in pm.registry("backend") and "respond" not in pm.registry("method")
    assert "local" in pm.registry("backend")
    assert sorted(pm.disabled) == ["echo", "respond"]


def test_disabling_a_broken_plugin_avoids_its_import(monkeypatch) -> None:
    install_fake_dists(monkeypatch, FakeDist("broken-dist", "0.1", {"broken": "no_such_module_anywhere"}))
    pm = load_plugins(strict=True, disable=["broken"])
    assert pm.failed == {}


def test_misspelled_hook_is_rejected_when_registered_directly() -> None:
    class Plugin:
        @datagen.hookimpl
        def datagen_register_backend(self, register: Any) -> None:  # missing "s"
            """Misspelled."""

    pm = PluginManager(strict=True)
    with pytest.raises(pluggy.PluginValidationError, match="did you mean 'datagen_register_backends'"):
        pm.register(Plugin(), name="typo")
    assert pm.get_plugin("typo") is None


def test_misspelled_undecorated_hook_is_caught_too() -> None:
    class Plugin:
        def datagen_run_finish(self, run: Any) -> None:
            """Misspelled and not decorated."""

    with pytest.raises(pluggy.PluginValidationError, match="datagen_run_finish"):
        PluginManager().register(Plugin())


def test_misspelled_hook_in_an_entry_point_skips_only_that_plugin(monkeypatch) -> None:
    fake_module(monkeypatch, "typo_plugin", datagen_register_method=datagen.hookimpl(lambda register: None))
    install_fake_dists(monkeypatch, FakeDist("typo-dist", "0.1", {"typo": "typo_plugin"}))
    pm = load_plugins(strict=False, disable=())
    assert "typo" in pm.failed and "PluginValidationError" in pm.failed["typo"]
    assert "respond" in pm.registry("method")
    with pytest.raises(PluginError, match="unknown hook"):
        load_plugins(strict=True, disable=())


def test_wrong_hook_arguments_are_rejected() -> None:
    class Plugin:
        @datagen.hookimpl
        def datagen_register_backends(self, registr: Any) -> None:
            """Wrong argument name."""

    with pytest.raises(pluggy.PluginValidationError):
        PluginManager().register(Plugin())


def test_a_plugin_failing_in_its_register_hook_is_isolated(monkeypatch) -> None:
    def datagen_register_backends(register: Any) -> None:
        register(make_backend("half"))
        raise RuntimeError("boom")

    fake_module(
        monkeypatch, "raising_plugin", datagen_register_backends=datagen.hookimpl(datagen_register_backends)
    )
    install_fake_dists(monkeypatch, FakeDist("raising-dist", "0.1", {"raising": "raising_plugin"}))
    pm = load_plugins(strict=False, disable=())
    assert "half" not in pm.registry("backend")  # nothing of a failed registration is kept
    assert "echo" in pm.registry("backend")
    assert "boom" in pm.failed["raising"]
    with pytest.raises(PluginError, match="boom"):
        load_plugins(strict=True, disable=()).registry("backend")


def test_invalid_member_class_is_a_plugin_failure(monkeypatch) -> None:
    class NotABackend:
        name = "bad"

    fake_module(
        monkeypatch,
        "invalid_plugin",
        datagen_register_backends=datagen.hookimpl(lambda register: register(NotABackend)),
    )
    install_fake_dists(monkeypatch, FakeDist("invalid-dist", "0.1", {"invalid": "invalid_plugin"}))
    pm = load_plugins(strict=False, disable=())
    assert "Config must be an attrs class" in pm.failed["invalid"]


def test_duplicate_names_name_both_plugins(monkeypatch) -> None:
    backend_plugin(monkeypatch, "dup_plugin", "echo")
    install_fake_dists(monkeypatch, FakeDist("dup-dist", "0.1", {"dup": "dup_plugin"}))
    with pytest.raises(
        DuplicateNameError, match="'echo' is registered by both plugin 'echo' and plugin 'dup'"
    ):
        load_plugins(strict=True, disable=()).registry("backend")
    pm = load_plugins(strict=False, disable=())
    assert pm.registry("backend").entry("echo").plugin == "echo"
    assert "registered by both" in pm.failed["dup"]


def test_unknown_name_lists_the_registered_ones() -> None:
    pm = load_plugins(strict=True, disable=())
    registered = "registered backends: anthropic, echo, litellm, local, openai"
    with pytest.raises(UnknownNameError, match=registered):
        pm.registry("backend").get("nope")


def test_registration_runs_once_per_manager() -> None:
    calls = []

    class Plugin:
        @datagen.hookimpl
        def datagen_register_metrics(self, register: Any) -> None:
            """Count calls."""
            calls.append(1)

    pm = PluginManager(strict=True)
    pm.register(Plugin())
    pm.registry("metric")
    pm.registry("backend")
    assert calls == [1]
    pm.register(make_plugin_for_family("backend", "late"))  # registering invalidates the cache
    assert "late" in pm.registry("backend") and calls == [1, 1]


def make_plugin_for_family(family: str, name: str) -> object:
    """A plugin object registering one member of ``family`` (any family, including commands)."""
    hook = FAMILIES[family].hook
    if family == "command":
        member: Any = click.Command(name, callback=lambda: click.echo(f"hello from {name}"))
    else:
        methods = {m: (lambda self, *a, **k: None) for m in FAMILIES[family].members}
        member = type(
            name.title(), (), {"name": name, "Config": NoOptions, "__init__": lambda s, c: None, **methods}
        )

    def impl(register: Any) -> None:
        register(member)

    impl.__name__ = hook
    return type(f"{name}_plugin", (), {hook: staticmethod(datagen.hookimpl(impl))})()


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_register_hook_fills_its_registry(family: str) -> None:
    pm = PluginManager(strict=True)
    pm.register(make_plugin_for_family(family, f"my_{family}"), name=f"plugin_{family}")
    assert pm.registry(family).names() == [f"my_{family}"]
    assert pm.registry(family).entry(f"my_{family}").plugin == f"plugin_{family}"


def test_lifecycle_hooks_are_called_with_the_run_and_results() -> None:
    from datagen._app.generator import Generator
    from datagen._datamodel.config import load_config

    seen: dict[str, Any] = {}

    class Recorder:
        @datagen.hookimpl
        def datagen_run_start(self, run: Any) -> None:
            """Record the start."""
            seen["start"] = (run.method, run.backend, run.count, run.stats.records)

        @datagen.hookimpl
        def datagen_run_end(self, run: Any, results: Any) -> None:
            """Record the end."""
            seen["end"] = (run.id, len(results), run.stats.records)

    pm = load_plugins(strict=True, disable=())
    pm.register(Recorder())
    gen = Generator(load_config(data={"backend": {"name": "echo"}}, environ={}), plugins=pm)
    gen.run("respond", ["Say hi."], 3)
    assert seen["start"] == ("respond", "echo", 3, 0)
    assert seen["end"][1:] == (3, 3)


def test_plugins_command_lists_exactly_the_declared_entry_points(cli) -> None:
    """The entry points, and the built-in commands' plugin (registered by the command line itself)."""
    result = cli("plugins", "--all", "--json")
    import json

    from datagen._app.commands import COMMANDS

    listed = {p["name"]: p for p in json.loads(result.out) if p["distribution"] == "datagen"}
    assert result.code == 0 and set(listed) == {*declared_entry_points(), "datagen.commands"}
    assert listed["datagen.commands"]["provides"] == [f"command:{c.name}" for c in COMMANDS]
    assert listed["echo"]["provides"] == ["backend:echo"]
    assert listed["respond"]["hooks"] == ["datagen_register_methods"]
    third_party = json.loads(cli("plugins", "--json").out)  # built-ins hidden without --all
    assert all(p["distribution"] != "datagen" for p in third_party)


def test_plugins_command_filters_by_hook(cli) -> None:
    import json

    result = cli("plugins", "--all", "--json", "--hook", "datagen_register_backends")
    assert [p["name"] for p in json.loads(result.out)] == ["anthropic", "echo", "litellm", "local", "openai"]
    bad = cli("plugins", "--hook", "datagen_nope")
    assert bad.code == 2 and "no hook 'datagen_nope'" in bad.err


def test_plugin_commands_become_subcommands(monkeypatch, cli) -> None:
    plugin = make_plugin_for_family("command", "greet")
    fake_module(
        monkeypatch, "greet_plugin", **{"datagen_register_commands": type(plugin).datagen_register_commands}
    )
    install_fake_dists(monkeypatch, FakeDist("greet-dist", "2.0", {"greet": "greet_plugin"}))
    result = cli("greet")
    assert result.code == 0 and result.out.strip() == "hello from greet"
    assert "greet" in cli("--help").out
    listing = cli("plugins", "--json").out
    assert '"greet-dist"' in listing and '"2.0"' in listing


def test_generator_and_cli_honour_the_environment_and_the_config(monkeypatch, tmp_path) -> None:
    from datagen import Generator

    install_fake_dists(monkeypatch, FakeDist("broken-dist", "0.1", {"broken": "no_such_module_anywhere"}))
    monkeypatch.setenv("DATAGEN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError):
        Generator({"backend": {"name": "echo"}})  # the config leaves strict unset: the environment decides
    assert "broken" in Generator({"plugins": {"strict": False}}).plugins.failed  # the config wins when set
    monkeypatch.setenv("DATAGEN_DISABLE_PLUGINS", "broken")
    gen = Generator({"plugins": {"disable": ["echo"]}})  # both lists apply
    assert sorted(gen.plugins.disabled) == ["broken", "echo"]
