"""``readability``: the readability measures' medians with their p5-p95 range, and the Flesch reading
ease distribution (from the ``readability`` metric)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterPlot, Results, hookimpl
from datagen_plugins.plots._common import COLORS, empty, histogram, new_figure, usable, written


@attrs.define
class ReadabilityPlotConfig:
    """Options of ``[plot.readability]``."""


class ReadabilityPlot:
    """Readability at a glance."""

    name: ClassVar[str] = "readability"
    #: the seed's function that draws it (``datagen.visualization.create_readability_plot``)
    seed_function: ClassVar[str] = "create_readability_plot"
    Config: ClassVar[type[Any]] = ReadabilityPlotConfig

    def __init__(self, config: ReadabilityPlotConfig) -> None:
        self.config = config

    def figure(self, readability_scores: Mapping[str, Any] | None) -> Any:
        """The figure from the readability metric's output."""
        figure = new_figure(10, 4.2)
        left, right = figure.subplots(1, 2)
        scores = {
            k: v for k, v in (readability_scores or {}).items() if isinstance(v, Mapping) and v.get("count")
        }
        grades = {k: v for k, v in scores.items() if k != "flesch_reading_ease"}
        if not grades:
            empty(left, str((readability_scores or {}).get("skipped", "no readability scores")))
        else:
            names = list(grades)
            medians = [grades[n]["median"] for n in names]
            low = [grades[n]["median"] - grades[n]["p5"] for n in names]
            high = [grades[n]["p95"] - grades[n]["median"] for n in names]
            left.barh(names, medians, xerr=[low, high], color=COLORS[0], alpha=0.8, capsize=3)
            left.set_xlabel("grade level / score (median, p5-p95)")
            left.set_title("Grade-level measures")
        if "flesch_reading_ease" in scores and histogram(right, scores["flesch_reading_ease"], COLORS[1]):
            right.set_title("Flesch reading ease (higher = easier)")
            right.set_xlabel("score")
            right.set_ylabel("texts")
        else:
            empty(right, "no Flesch reading ease")
        return figure

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """``readability.png`` from the readability metric."""
        scores = usable(metrics, "readability")
        return [] if scores is None else written(self.name, self.figure(scores), out_dir)


@hookimpl
def datagen_register_plots(register: RegisterPlot) -> None:
    """Register the readability plot."""
    register(ReadabilityPlot)
