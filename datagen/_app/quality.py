"""``QualityFilter``: the seed's facade over the filter stages, for Python users.

qf = datagen.QualityFilter({"min_length": 5, "max_length": 2000, "remove_duplicates": True})
qf.register_filter(lambda r: "?" not in (r.output or ""))            # or return a reason string
kept = qf.filter(results)                                          # kept.report says what went
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from datagen._app.pipeline import apply_stages
from datagen._datamodel.config import DatagenConfig, load_config
from datagen._datamodel.records import Record
from datagen._datamodel.results import Results
from datagen._kernel.hookspecs import hookimpl
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen._kernel.stages import Rejected, Stage
from datagen.errors import UsageError

#: the seed's default filters, used when nothing else is configured (lengths in words): every field
#: non-empty and under 2,000 words, instructions of at least 3 words, and no exact duplicates
SEED_DEFAULTS: dict[str, Any] = {
    "min_length": 1,
    "max_length": 2000,
    "instruction_min_length": 3,
    "response_min_length": 1,
    "duplicate_content": True,
}

Check = Callable[[Record], bool | str | None]


@attrs.define
class _NoOptions:
    """A registered function takes no options."""


class QualityFilter:
    """Filters of the ``filter`` family, plus plain functions, applied in order.

    ``config`` is the config file's shape (``{"filter": {"chain": [...], "length": {...}}}``), a
    :class:`~datagen._datamodel.config.DatagenConfig` or a path, or the seed's flat options, which the
    filter plugins declare: ``min_length``, ``max_length``, ``instruction_min_length``,
    ``response_min_length`` (and ``_max`` forms, ``unit``) configure ``length`` (its ``seed_options``);
    ``remove_duplicates`` (or ``duplicate_content``) adds ``exact_dedup`` (its ``seed_switches``);
    ``filters`` lists more filter names. A config with no filter chain gets the seed's
    defaults, :data:`SEED_DEFAULTS` (``QualityFilter()`` filters as the seed's did).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | DatagenConfig | str | os.PathLike[str] | None = None,
        *,
        plugins: PluginManager | None = None,
    ) -> None:
        self._seed_plugins = plugins
        self.config = self._config(config)
        self.plugins = plugins or load_plugins_for(self.config)
        self._functions: list[str] = []

    def _seed_filters(self) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
        """The filters that take the seed's flat options (``seed_options``) and those its switches add
        (``seed_switches``), by name, from the plugins installed."""
        if self._seed_plugins is None:
            self._seed_plugins = load_plugins_for(load_config())
        options: dict[str, tuple[str, ...]] = {}
        switches: dict[str, tuple[str, ...]] = {}
        for entry in self._seed_plugins.registry("filter"):
            if getattr(entry.obj, "seed_options", ()):
                options[entry.name] = tuple(entry.obj.seed_options)
            if getattr(entry.obj, "seed_switches", ()):
                switches[entry.name] = tuple(entry.obj.seed_switches)
        return options, switches

    def _config(
        self, config: Mapping[str, Any] | DatagenConfig | str | os.PathLike[str] | None
    ) -> DatagenConfig:
        if config is None:
            config = {}
        if isinstance(config, DatagenConfig):
            resolved = config
        elif not isinstance(config, Mapping):
            resolved = load_config(Path(config))
        else:
            options, switches = self._seed_filters()
            flat_keys = {k for keys in [*options.values(), *switches.values()] for k in keys} | {"filters"}
            if "filter" in config or not (set(config) & flat_keys):
                resolved = load_config(data=config)
            else:
                return self._flat(config)
        if resolved.filter.chain:
            return resolved
        defaults = self._flat(SEED_DEFAULTS).filter
        filters = attrs.evolve(
            resolved.filter, chain=defaults.chain, options={**defaults.options, **resolved.filter.options}
        )
        return resolved.with_sections(filter=filters)

    def _flat(self, config: Mapping[str, Any]) -> DatagenConfig:
        """The seed's flat options as a filter section: each declaring filter's options in its table
        (those filters first), the switched-on filters last, ``filters`` between."""
        flat = dict(config)
        middle: list[str] = list(flat.pop("filters", []))
        options, switches = self._seed_filters()
        section: dict[str, Any] = {}
        first: list[str] = []
        for name, keys in options.items():
            table = {k: flat.pop(k) for k in keys if k in flat}
            if table:
                first.append(name)
                section[name] = table
        last = []
        for name, keys in switches.items():
            given = [bool(flat.pop(k)) for k in keys if k in flat]
            if any(given):
                last.append(name)
        if flat:
            raise UsageError(f"QualityFilter: unknown option(s) {', '.join(sorted(flat))}")
        section["chain"] = [*first, *middle, *last]
        return load_config(data={"filter": section})

    def register_filter(self, check: Check, name: str | None = None) -> str:
        """Add a plain function as the next filter: it returns True to keep a record, False to drop it,
        or a string, the reason it drops it. Returns the name it runs under (the function's name)."""
        if not callable(check):
            raise UsageError(f"register_filter takes a function Record -> bool | str, got {check!r}")
        stage_name: str = name or str(getattr(check, "__name__", "function"))
        if not stage_name.isidentifier():  # lambdas and the like
            stage_name = f"function_{len(self._functions) + 1}"
        if stage_name in self.plugins.registry("filter"):
            raise UsageError(f"a filter named {stage_name!r} is registered already; pass name=")
        stage = _function_stage(stage_name, check)

        class Plugin:
            @hookimpl
            def datagen_register_filters(self, register: Callable[[Any], None]) -> None:
                register(stage)

        self.plugins.register(Plugin(), name=f"quality-filter-{stage_name}")
        self.config.filter.chain = [*self.config.filter.chain, stage_name]
        self._functions.append(stage_name)
        return stage_name

    @property
    def chain(self) -> list[str]:
        """The filters, in the order they run."""
        return list(self.config.filter.chain)

    def filter(
        self,
        results: Results | list[Record],
        *,
        out: str | os.PathLike[str] | None = None,
        rejected: str | os.PathLike[str] | None = None,
    ) -> Results:
        """The records that pass every filter, in order, with the report (``.report``) attached: per
        filter the records examined, removed, kept, the retention and the reasons."""
        if not self.config.filter.chain:
            raise UsageError(
                "QualityFilter: no filter configured (min_length, filters=[...] or register_filter)"
            )
        return apply_stages(
            results,
            [("filter", name) for name in self.config.filter.chain],
            config=self.config,
            plugins=self.plugins,
            out=out,
            rejected=rejected,
        )


def _function_stage(name: str, check: Check) -> type[Any]:
    """A filter class around a plain function."""

    def process(self: Any, ctx: Any, record: Record) -> Record | Rejected:
        verdict = check(record)
        if verdict is True or verdict is None:
            return record
        if verdict is False:
            return Rejected(f"{name}_rejected")
        return Rejected(str(verdict))

    attributes = {
        "name": name,
        "Config": _NoOptions,
        "__init__": lambda self, config: None,
        "process": process,
        "__doc__": inspect.getdoc(check) or f"The function {name}.",
    }
    cls: type[Any] = type(f"FunctionFilter_{name}", (Stage,), attributes)
    return cls


__all__ = ["QualityFilter"]
