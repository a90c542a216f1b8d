"""The seed's plotting functions, drawn by the ``plot`` family's plugins (matplotlib, headless Agg).

Each returns the matplotlib Figure and, given ``save_path``, writes it there (PNG unless the suffix
says otherwise). ``stats``, ``readability_scores``, ``diversity_metrics`` and ``topics`` are the
outputs of the metrics of those names (``datagen.metrics.compute``); ``metrics`` is its whole output.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from datagen._datamodel.records import Record


@functools.cache
def _plugins() -> Any:
    from datagen._kernel.manager import load_plugins

    return load_plugins()


def _plot(function: str) -> Any:
    """The plot plugin that declares it draws the seed's ``function`` (``seed_function``), configured
    with its defaults."""
    from datagen._kernel.capabilities import first_declaring

    missing = f"{function}: no installed plot plugin draws it (seed_function = {function!r})"
    cls = (
        _plugins()
        .registry("plot")
        .get(first_declaring(_plugins(), "plot", "seed_function", function, missing))
    )
    return cls(cls.Config())


def _save(figure: Any, save_path: str | os.PathLike[str] | None) -> Any:
    if save_path is not None:
        path = Path(save_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    return figure


def create_length_distribution_plot(
    dataset: Iterable[Record] | None,
    stats: Mapping[str, Any] | None,
    save_path: str | os.PathLike[str] | None = None,
) -> Any:
    """Histograms of each field's length in words (from ``stats``, else counted in ``dataset``)."""
    return _save(_plot("create_length_distribution_plot").figure(dataset, stats), save_path)


def create_topic_distribution_plot(
    topics: Mapping[str, Any], save_path: str | os.PathLike[str] | None = None
) -> Any:
    """Records per topic, each topic labelled by its top words."""
    return _save(_plot("create_topic_distribution_plot").figure(topics), save_path)


def create_readability_plot(
    readability_scores: Mapping[str, Any], save_path: str | os.PathLike[str] | None = None
) -> Any:
    """The grade-level measures' medians and ranges, and the Flesch reading ease distribution."""
    return _save(_plot("create_readability_plot").figure(readability_scores), save_path)


def create_diversity_plot(
    diversity_metrics: Mapping[str, Any], save_path: str | os.PathLike[str] | None = None
) -> Any:
    """Distinct-n, n-gram entropy, MTLD, compression ratio and self-BLEU."""
    return _save(_plot("create_diversity_plot").figure(diversity_metrics), save_path)


def create_perplexity_plot(
    perplexity_scores: Sequence[float] | Mapping[str, Any], save_path: str | os.PathLike[str] | None = None
) -> Any:
    """The distribution of per-record perplexities (a list, or a metric output with ``values``)."""
    return _save(_plot("create_perplexity_plot").figure(perplexity_scores), save_path)


def create_summary_dashboard(
    metrics: Mapping[str, Mapping[str, Any]], save_path: str | os.PathLike[str] | None = None
) -> Any:
    """Counts, lengths, diversity, readability, topics and semantic spread on one figure."""
    return _save(_plot("create_summary_dashboard").figure(metrics), save_path)


def render_all(
    results: Any, metrics: Mapping[str, Mapping[str, Any]], out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Every registered plot that has something to show, as PNG files in ``out_dir``."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    registry = _plugins().registry("plot")
    for name in registry.names():
        cls = registry.get(name)
        written += cls(cls.Config()).render(results, metrics, folder)
    return written
