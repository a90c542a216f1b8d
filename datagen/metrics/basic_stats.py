"""The seed's ``datagen.metrics.basic_stats``: counts and lengths of a dataset (the ``stats`` metric
plugin, through :func:`datagen.metrics.compute`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from datagen.app.metrics import Source, compute
from datagen.datamodel.config import DatagenConfig
from datagen.kernel.manager import PluginManager


def compute_basic_stats(
    results: Source,
    *,
    config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    plugins: PluginManager | None = None,
) -> dict[str, Any]:
    """Records, per-field presence and lengths (characters, words, tokens), vocabulary, exact duplicates,
    methods, models, tokens and cost of ``results`` (a Results, records, or a JSONL/Parquet path)."""
    return compute(results, ["stats"], config=config, plugins=plugins)["stats"]


__all__ = ["compute_basic_stats"]
