"""The seed's ``datagen.metrics.basic_stats``: counts and lengths of a dataset (the metric plugin that
declares it computes them, ``stats``, through :func:`datagen.metrics.compute`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from datagen._app.metrics import Source, compute
from datagen._datamodel.config import DatagenConfig
from datagen._kernel.manager import PluginManager


def compute_basic_stats(
    results: Source,
    *,
    config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    plugins: PluginManager | None = None,
) -> dict[str, Any]:
    """Records, per-field presence and lengths (characters, words, tokens), vocabulary, exact duplicates,
    methods, models, tokens and cost of ``results`` (a Results, records, or a JSONL/Parquet path)."""
    from datagen._datamodel.config import as_config
    from datagen._kernel.capabilities import first_declaring
    from datagen._kernel.manager import load_plugins_for

    pm = plugins or load_plugins_for(as_config(config))
    missing = "no installed metric plugin computes basic stats (seed_function = 'compute_basic_stats')"
    name = first_declaring(pm, "metric", "seed_function", "compute_basic_stats", missing)
    return compute(results, [name], config=config, plugins=pm)[name]


__all__ = ["compute_basic_stats"]
