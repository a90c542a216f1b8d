"""``length_distribution``: histograms of each field's length in words (from the ``stats`` metric)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterPlot, Results, hookimpl
from datagen_plugins.plots._common import COLORS, empty, histogram, new_figure, usable, written


@attrs.define
class LengthConfig:
    """Options of ``[plot.length_distribution]``."""

    unit: str = "words"


class LengthDistribution:
    """How long the texts are, field by field."""

    name: ClassVar[str] = "length_distribution"
    #: the seed's function that draws it (``datagen.visualization.create_length_distribution_plot``)
    seed_function: ClassVar[str] = "create_length_distribution_plot"
    Config: ClassVar[type[Any]] = LengthConfig

    def __init__(self, config: LengthConfig) -> None:
        self.config = config

    def figure(self, dataset: Iterable[Record] | None, stats: Mapping[str, Any] | None) -> Any:
        """The figure; ``stats`` is the stats metric's output (computed from ``dataset`` when absent)."""
        fields = (stats or {}).get("fields", {})
        if not fields and dataset is not None:
            fields = _word_lengths(dataset)
        figure = new_figure(4 * max(1, len(fields)), 3.6)
        axes = figure.subplots(1, max(1, len(fields)), squeeze=False)[0]
        if not fields:
            empty(axes[0], "no stats: no record had text")
        for ax, (color, (field, values)) in zip(
            axes, zip(COLORS, fields.items(), strict=False), strict=False
        ):
            summary = values.get(self.config.unit, {})
            if not histogram(ax, summary, color):
                empty(ax, f"no {field} text")
                continue
            ax.axvline(
                summary["median"],
                color="#222222",
                linestyle="--",
                linewidth=1,
                label=f"median {summary['median']:g}",
            )
            ax.set_title(f"{field} ({values['present']} records)")
            ax.set_xlabel(self.config.unit)
            ax.set_ylabel("records")
            ax.legend(frameon=False, fontsize=8)
        figure.suptitle(f"Length distribution ({self.config.unit})")
        return figure

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """``length_distribution.png`` from the stats metric."""
        stats = usable(metrics, "stats")
        return [] if stats is None else written(self.name, self.figure(None, stats), out_dir)


def _word_lengths(dataset: Iterable[Record]) -> dict[str, Any]:
    """Per field, a words histogram like the stats metric's, from the records themselves."""
    import numpy as np

    counts: dict[str, list[int]] = {}
    for record in dataset:
        for field in ("instruction", "input", "output"):
            text = getattr(record, field)
            if isinstance(text, str):
                counts.setdefault(field, []).append(len(text.split()))
    out = {}
    for field, values in counts.items():
        hist, edges = np.histogram(values, bins=20)
        out[field] = {
            "present": len(values),
            "words": {
                "median": float(np.median(values)),
                "histogram": {"edges": edges.tolist(), "counts": hist.tolist()},
            },
        }
    return out


@hookimpl
def datagen_register_plots(register: RegisterPlot) -> None:
    """Register the length_distribution plot."""
    register(LengthDistribution)
