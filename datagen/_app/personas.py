"""A run's personas (``[generate] personas``): read and checked before work, duplicates removed by the
dedup filter plugins (``[generate] persona_dedup``) before the first request."""

from __future__ import annotations

from datagen._datamodel.config import DatagenConfig
from datagen._datamodel.personas import load_personas
from datagen._datamodel.records import Record
from datagen._datamodel.run import Run
from datagen._kernel.context import RunContext
from datagen._kernel.manager import PluginManager
from datagen._kernel.stages import aiter_of
from datagen.errors import UsageError


def read_personas(config: DatagenConfig, pm: PluginManager, problems: list[str]) -> list[str]:
    """The configured personas as the file holds them ([] without ``[generate] personas``); unknown
    dedup filters are appended to ``problems``, an unreadable file raises :class:`UsageError`."""
    g = config.generate
    registry = pm.registry("filter")
    for i, name in enumerate(g.persona_dedup or ()):
        if name not in registry:
            problems.append(registry.unknown(name, f"$.generate.persona_dedup[{i}]"))
    if g.personas is None:
        return []
    if not g.persona_field.strip():
        raise UsageError("$.generate.persona_field: name the column that holds the personas")
    return load_personas(g.personas, g.persona_field)


async def unique_personas(personas: list[str], run: Run, pm: PluginManager) -> list[str]:
    """``personas`` without duplicates: each ``[generate] persona_dedup`` filter in turn, over records
    whose ``output`` is the persona, with its options from ``[filter.NAME]`` passed through its
    ``persona_options`` classmethod when it has one (the settings it takes for one-sentence texts)."""
    if not personas:
        return []
    stream = aiter_of(Record(id=str(i), output=p) for i, p in enumerate(personas))
    for name in dedup_filters(run.config, pm):
        cls = pm.registry("filter").get(name)
        options = run.config.plugin_config("filter", name, cls.Config)
        preset = getattr(cls, "persona_options", None)  # the filter's own settings for one-line texts
        options = preset(options) if callable(preset) else options
        try:
            plugin = cls(options)
        except UsageError as exc:
            raise UsageError(f"$.generate.persona_dedup: {name}: {exc}") from None
        ctx = RunContext(run=run, plugins=pm, stage=f"personas:{name}", position="inputs")
        stream = plugin.apply(ctx, stream)
    return [record.output async for record in stream if record.output]


def dedup_filters(config: DatagenConfig, pm: PluginManager) -> list[str]:
    """``[generate] persona_dedup``, or by default the filters that declare ``dedups_personas`` (an
    int: the order they run in, cheapest first)."""
    named = config.generate.persona_dedup
    if named is not None:
        return list(named)
    able = [
        (e.obj.dedups_personas, e.name)
        for e in pm.registry("filter")
        if getattr(e.obj, "dedups_personas", None)
    ]
    return [name for _, name in sorted(able)]
