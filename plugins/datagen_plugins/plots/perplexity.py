"""``perplexity``: the distribution of per-record perplexities, with the mean and median marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterPlot, Results, hookimpl
from datagen_plugins.plots._common import COLORS, empty, new_figure, written


@attrs.define
class PerplexityPlotConfig:
    """Options of ``[plot.perplexity]``."""

    bins: int = 30
    log_scale: bool = True


class PerplexityPlot:
    """Perplexity histogram."""

    name: ClassVar[str] = "perplexity"
    #: the seed's function that draws it (``datagen.visualization.create_perplexity_plot``)
    seed_function: ClassVar[str] = "create_perplexity_plot"
    Config: ClassVar[type[Any]] = PerplexityPlotConfig

    def __init__(self, config: PerplexityPlotConfig) -> None:
        self.config = config

    def figure(self, perplexity_scores: Sequence[float] | Mapping[str, Any] | None) -> Any:
        """The figure from a list of perplexities or a metric output with ``values``."""
        import numpy as np

        figure = new_figure(7, 4)
        ax = figure.subplots()
        values = (
            perplexity_scores.get("values", [])
            if isinstance(perplexity_scores, Mapping)
            else perplexity_scores
        )
        data = np.asarray(
            [v for v in values or [] if v is not None and np.isfinite(v) and v > 0], dtype=float
        )
        if data.size == 0:
            empty(ax, "no perplexity values")
            return figure
        bins: Any = self.config.bins
        if self.config.log_scale and data.max() / data.min() > 10:
            bins = np.geomspace(data.min(), data.max(), self.config.bins)
            ax.set_xscale("log")
        ax.hist(data, bins=bins, color=COLORS[4], alpha=0.8)
        ax.axvline(
            float(np.median(data)), color="#222222", linestyle="--", label=f"median {np.median(data):.3g}"
        )
        ax.axvline(float(data.mean()), color=COLORS[1], linestyle=":", label=f"mean {data.mean():.3g}")
        ax.set_xlabel("perplexity")
        ax.set_ylabel("records")
        ax.set_title(f"Perplexity ({data.size} records)")
        ax.legend(frameon=False)
        return figure

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """``perplexity.png`` when a perplexity metric gave per-record values."""
        scores = metrics.get("perplexity")
        if not scores or "values" not in scores:
            return []
        return written(self.name, self.figure(scores), out_dir)


@hookimpl
def datagen_register_plots(register: RegisterPlot) -> None:
    """Register the perplexity plot."""
    register(PerplexityPlot)
