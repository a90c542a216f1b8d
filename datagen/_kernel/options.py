"""The plugin tables of a config checked against the plugins that are installed, and the effective
config with each configured plugin's options."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import attrs

from datagen._datamodel.config import DatagenConfig, problems_of, unstructure_masked
from datagen._kernel.manager import PluginManager
from datagen.errors import ConfigError, UsageError


def validate_plugin_options(config: DatagenConfig, pm: PluginManager) -> None:
    """Check every plugin table against its plugin's ``Config``; one error listing all problems."""
    problems = plugin_option_problems(config, pm)
    if problems:
        raise ConfigError(problems)


def raw_plugin_problems(raw: Mapping[str, Any], pm: PluginManager) -> list[str]:
    """:func:`plugin_option_problems` on plain data, for a config whose core did not structure: the
    plugin tables' problems are then reported with the core's, not in a second round."""
    problems: list[str] = []
    families = DatagenConfig().sections()
    for family, section in raw.items():
        if family not in families or not isinstance(section, Mapping):
            continue
        own = {a.name for a in attrs.fields(type(families[family]))}
        tables = {k: dict(v) for k, v in section.items() if k not in own and isinstance(v, Mapping)}
        problems.extend(_table_problems(family, tables, pm))
    return problems


def _table_problems(family: str, tables: Mapping[str, Any], pm: PluginManager) -> list[str]:
    """The problems of one family's plugin tables: unknown plugin names, unknown keys, wrong types."""
    problems: list[str] = []
    registry = pm.registry(family)
    for name, raw in tables.items():
        if name not in registry:
            problems.append(registry.unknown(name, f"$.{family}.{name}"))
            continue
        problems.extend(problems_of(raw, registry.get(name).Config, f"$.{family}.{name}"))
    return problems


def plugin_option_problems(config: DatagenConfig, pm: PluginManager) -> list[str]:
    """Every problem of the plugin tables: unknown plugin names, unknown keys, wrong types, ranges."""
    problems: list[str] = []
    for family, section in config.sections().items():
        problems.extend(_table_problems(family, section.options, pm))
    return problems


def effective_config(config: DatagenConfig, pm: PluginManager | None = None) -> dict[str, Any]:
    """The config as plain data, secrets masked, each configured plugin's options with their defaults."""
    out: dict[str, Any] = unstructure_masked(config)
    if pm is None:
        return out
    from datagen._kernel.capabilities import default_member

    for member_family, (table, field) in (("method", ("method", "name")), ("agent", ("tune", "agent"))):
        if not out[table][field]:  # the default a run would use, by what the plugins declare
            with contextlib.suppress(UsageError):
                out[table][field] = default_member(pm, member_family)
    for family, section in config.sections().items():
        registry = pm.registry(family)
        for name in section.options:
            if name in registry:
                cfg = config.plugin_config(family, name, registry.get(name).Config)
                out[family][name] = unstructure_masked(cfg)
    return out
