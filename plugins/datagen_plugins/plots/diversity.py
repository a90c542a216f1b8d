"""``diversity``: distinct-n, entropy and the other diversity figures side by side (``diversity`` and
``embedding_diversity`` metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterPlot, Results, hookimpl
from datagen_plugins.plots._common import COLORS, empty, new_figure, usable, written


@attrs.define
class DiversityPlotConfig:
    """Options of ``[plot.diversity]``."""


class DiversityPlot:
    """Lexical (and semantic) diversity."""

    name: ClassVar[str] = "diversity"
    #: the seed's function that draws it (``datagen.visualization.create_diversity_plot``)
    seed_function: ClassVar[str] = "create_diversity_plot"
    Config: ClassVar[type[Any]] = DiversityPlotConfig

    def __init__(self, config: DiversityPlotConfig) -> None:
        self.config = config

    def figure(self, diversity_metrics: Mapping[str, Any] | None) -> Any:
        """The figure from the diversity metric's output (``embedding_diversity``'s values may be merged
        in under that key)."""
        figure = new_figure(11, 4)
        left, middle, right = figure.subplots(1, 3)
        d = diversity_metrics or {}
        if "distinct_1" not in d:
            for ax in (left, middle, right):
                empty(ax, str(d.get("skipped", "no diversity metrics")))
            return figure
        left.bar(
            ["distinct-1", "distinct-2", "distinct-3"],
            [d[f"distinct_{n}"] for n in (1, 2, 3)],
            color=COLORS[0],
        )
        left.set_ylim(0, 1)
        left.set_title("Distinct n-grams (share)")
        middle.bar(["1-gram", "2-gram", "3-gram"], [d[f"entropy_{n}"] for n in (1, 2, 3)], color=COLORS[2])
        middle.set_title("N-gram entropy (bits)")
        others = {"MTLD (mean)": d.get("mtld_mean"), "compression": d.get("compression_ratio")}
        bleu = d.get("self_bleu")
        if isinstance(bleu, Mapping) and "mean" in bleu:
            others[f"self-BLEU (n={bleu['sample']})"] = bleu["mean"]
        semantic = d.get("embedding_diversity")
        if isinstance(semantic, Mapping) and "mean_pairwise_cosine_distance" in semantic:
            others["cosine dist. x100"] = 100 * semantic["mean_pairwise_cosine_distance"]
        shown = {k: v for k, v in others.items() if isinstance(v, int | float)}
        right.barh(list(shown), list(shown.values()), color=COLORS[1])
        for y, value in enumerate(shown.values()):
            right.text(value, y, f" {value:.3g}", va="center", fontsize=8)
        right.set_title("Other measures")
        return figure

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """``diversity.png`` from the diversity metric."""
        d = usable(metrics, "diversity")
        if d is None:
            return []
        embedding = metrics.get("embedding_diversity", {})
        return written(self.name, self.figure({**d, "embedding_diversity": embedding}), out_dir)


@hookimpl
def datagen_register_plots(register: RegisterPlot) -> None:
    """Register the diversity plot."""
    register(DiversityPlot)
