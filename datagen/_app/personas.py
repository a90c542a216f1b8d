"""A run's personas (``[generate] personas``): read and checked before work, duplicates removed by the
dedup filter plugins (``[generate] persona_dedup``) before the first request."""

from __future__ import annotations

from typing import Any

import attrs

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
            known = ", ".join(registry.names()) or "none installed"
            problems.append(
                f"$.generate.persona_dedup[{i}]: no filter plugin named {name!r} (registered: {known})"
            )
    if g.personas is None:
        return []
    if not g.persona_field.strip():
        raise UsageError("$.generate.persona_field: name the column that holds the personas")
    return load_personas(g.personas, g.persona_field)


async def unique_personas(personas: list[str], run: Run, pm: PluginManager) -> list[str]:
    """``personas`` without duplicates: each ``[generate] persona_dedup`` filter in turn, with its own
    options from ``[filter.NAME]`` but reading only the persona text and keeping no persistent index."""
    if not personas:
        return []
    stream = aiter_of(Record(id=str(i), output=p) for i, p in enumerate(personas))
    for name in dedup_filters(run.config, pm):
        cls = pm.registry("filter").get(name)
        options = _for_personas(run.config.plugin_config("filter", name, cls.Config))
        try:
            plugin = cls(options)
        except UsageError as exc:
            raise UsageError(f"$.generate.persona_dedup: {name}: {exc}") from None
        ctx = RunContext(run=run, plugins=pm, stage=f"personas:{name}", position="inputs")
        stream = plugin.apply(ctx, stream)
    return [record.output async for record in stream if record.output]


#: LSH bands x rows for personas: many short bands find a pair at Jaccard 0.85 with probability 0.99
#: (the default split for 0.8, 9 x 13, missed three of three one-word edits of one-sentence personas
#: here), and ``verify`` then drops the candidates whose estimated Jaccard is under the threshold
PERSONA_LSH = {"bands": 16, "rows": 8, "verify": True}


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


def _for_personas(options: Any) -> Any:
    """A dedup filter's options set to read the persona (``output``) and to persist nothing; a MinHash
    filter's also to compare word sets (a persona is one sentence: shingles of five words would miss a
    copy with one word changed; Persona Hub's MinHash deduplication used single words too) through
    :data:`PERSONA_LSH`."""
    fields = attrs.fields_dict(type(options)) if attrs.has(type(options)) else {}
    changes: dict[str, Any] = {}
    if "fields" in fields:
        changes["fields"] = ["output"]
    if "ngram" in fields:
        changes["ngram"] = 1
        changes.update({k: v for k, v in PERSONA_LSH.items() if k in fields})
    if "index" in fields:
        changes["index"] = None
    if "keep" in fields:
        changes["keep"] = "first"
    return attrs.evolve(options, **changes) if changes else options
