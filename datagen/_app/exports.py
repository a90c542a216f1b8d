"""Records written in a training format by an exporter plugin (``datagen export``, ``Results.export``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from datagen._app.pipeline import construct
from datagen._datamodel.config import as_config, structure
from datagen._datamodel.records import Record
from datagen._datamodel.results import check_writable
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen.errors import ConfigError, UsageError


def exporter(
    fmt: str,
    config: Any = None,
    plugins: PluginManager | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """The exporter plugin named ``fmt``, built with its ``[exporter.NAME]`` options (``options``, when
    given, instead); an unknown name or bad options are an error before any record is read."""
    cfg = as_config(config)
    pm = plugins or load_plugins_for(cfg)
    registry = pm.registry("exporter")
    fmt = fmt.replace("-", "_")  # trl-sft is the trl_sft plugin (plugin names are identifiers)
    if fmt not in registry:
        known = ", ".join(registry.names()) or "none installed"
        raise UsageError(f"no exporter named {fmt!r} (installed: {known})")
    problems: list[str] = []
    cls = registry.get(fmt)
    structured = None if options is None else structure(options, cls.Config, path=f"$.exporter.{fmt}")
    plugin = construct(cls, cfg, "exporter", fmt, problems, options=structured)
    if problems:
        raise ConfigError(problems)
    return plugin


def export(
    records: Iterable[Record],
    fmt: str,
    path: str | os.PathLike[str],
    *,
    config: Any = None,
    plugins: PluginManager | None = None,
    overwrite: bool = True,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``records`` as ``fmt`` to ``path``; what the exporter wrote (``rows``, ``files``)."""
    fmt = fmt.replace("-", "_")
    target = Path(path)
    plugin = exporter(fmt, config, plugins, options)
    check_writable(target, overwrite=overwrite)
    done: dict[str, Any] = plugin.export(records, target)
    return {"format": fmt, **done}
