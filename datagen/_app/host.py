"""The host of one ``datagen`` invocation: the global options, the user's config and the plugin manager,
built lazily, and the services a command uses (stage runner, Generator). Every command, built-in or
from a plugin, is handed this object (:class:`datagen._kernel.commands.Host` is its declared shape)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datagen._datamodel.config import DatagenConfig, load_config, raw_config
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen.errors import ConfigError
from datagen.log import configure_logging

if TYPE_CHECKING:
    from datagen._app.generator import Generator
    from datagen._datamodel.records import Record
    from datagen._datamodel.results import Results

#: the config file the command loaded: a configuration error found after loading names it too
LOADED: dict[str, str | None] = {"source": None}

#: the plugin holding the built-in commands (registered by name and import path, imported on use)
BUILTIN_COMMANDS_PLUGIN = "datagen.commands"


class AppState:
    """Per-invocation state: the global options, the base config and the plugin manager, built lazily."""

    def __init__(self, config_path: Path | None, debug: bool, log_json: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self.log_json = log_json
        self._config: DatagenConfig | None = None
        self._pm: PluginManager | None = None
        self._commands: PluginManager | None = None

    def load(self, overrides: Mapping[str, Any] | None = None) -> DatagenConfig:
        """The effective config: file < environment < ``overrides`` (from a subcommand's flags).

        With ``overrides`` (a command about to work), a core problem is reported together with the
        plugin tables' problems, at once, with the file's name; the plugin tables of a config whose core
        is sound are checked with everything else a run needs, before it starts."""
        from datagen._kernel.options import raw_plugin_problems

        source = None if self.config_path is None else str(self.config_path)
        try:
            config = load_config(self.config_path, overrides=overrides)
        except ConfigError as exc:
            if overrides is None:
                raise
            raw = raw_config(self.config_path, overrides=overrides)
            extra = raw_plugin_problems(raw, load_plugins_for(load_config()))
            raise ConfigError([*exc.problems, *extra], source=source) from None
        LOADED["source"] = source  # named by any configuration error found later (main)
        return config

    def use_config_file(self, path: Path) -> None:
        """Read the config from ``path`` from now on (a command whose argument is a config file)."""
        self.config_path = path
        self._config = None

    @property
    def config(self) -> DatagenConfig:
        """The config without subcommand flags."""
        if self._config is None:
            self._config = self.load()
            level = "debug" if self.debug else self._config.logging.level
            configure_logging(level, json=self.log_json or self._config.logging.json)
        return self._config

    @property
    def plugins(self) -> PluginManager:
        """The plugin manager, honouring the config's disable list and strictness, with the built-in
        commands."""
        if self._pm is None:
            self._pm = self._with_commands(load_plugins_for(self.config, host=self))
        return self._pm

    @property
    def pm(self) -> PluginManager:
        """The same as :attr:`plugins`."""
        return self.plugins

    @property
    def commands(self) -> PluginManager:
        """The plugins that may add commands: the built-in commands (by name and import path) and the
        third-party plugins, so that ``--help`` imports neither a command nor a built-in plugin."""
        if self._pm is not None:
            return self._pm
        if self._commands is None:
            self._commands = self._with_commands(load_plugins_for(self.config, builtins=False, host=self))
        return self._commands

    @staticmethod
    def _with_commands(pm: PluginManager) -> PluginManager:
        from datagen._app import commands

        if pm.get_plugin(BUILTIN_COMMANDS_PLUGIN) is None:
            pm.register_builtin(commands, BUILTIN_COMMANDS_PLUGIN)
        return pm

    def settings(self, pairs: Sequence[str]) -> dict[str, Any]:
        """``--set KEY=VALUE`` options as nested overrides (the value read as TOML when it is TOML)."""
        overrides: dict[str, Any] = {}
        for pair in pairs:
            key, value = parse_setting(pair)
            put(overrides, key, value)
        return overrides

    def apply_stages(
        self,
        records: Iterable[Record],
        stages: Sequence[str | tuple[str, str]] = (),
        *,
        config: DatagenConfig | None = None,
        out: Path | None = None,
        rejected: Path | None = None,
        overwrite: bool = False,
    ) -> Results:
        """The stage runner (:func:`datagen._app.pipeline.apply_stages`) on this host's config and plugins."""
        from datagen._app.pipeline import apply_stages

        return apply_stages(
            records,
            stages,
            config=config or self.config,
            plugins=self.plugins,
            out=out,
            rejected=rejected,
            overwrite=overwrite,
        )

    def generator(self, config: DatagenConfig | None = None) -> Generator:
        """A Generator on this host's plugins and ``config`` (default: the user's)."""
        from datagen._app.generator import Generator

        return Generator(config or self.config, plugins=self.plugins)


def parse_setting(text: str) -> tuple[str, Any]:
    """``key.path=value`` with the value read as a TOML value when it is one (else as text)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise click.BadParameter(f"expected KEY=VALUE with a dotted KEY, got {text!r}", param_hint="--set")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def put(tree: dict[str, Any], path: str, value: Any) -> None:
    """Set ``value`` at the dotted ``path`` of ``tree`` (nothing when it is None)."""
    if value is None:
        return
    *parents, leaf = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
