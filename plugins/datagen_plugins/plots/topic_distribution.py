"""``topic_distribution``: how many records each topic holds, labelled by its top words (``topics``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterPlot, Results, hookimpl
from datagen_plugins.plots._common import COLORS, empty, new_figure, usable, written


@attrs.define
class TopicPlotConfig:
    """Options of ``[plot.topic_distribution]``."""

    model: str = "nmf"
    label_words: int = 3


class TopicDistribution:
    """Topic sizes."""

    name: ClassVar[str] = "topic_distribution"
    #: the seed's function that draws it (``datagen.visualization.create_topic_distribution_plot``)
    seed_function: ClassVar[str] = "create_topic_distribution_plot"
    Config: ClassVar[type[Any]] = TopicPlotConfig

    def __init__(self, config: TopicPlotConfig) -> None:
        self.config = config

    def figure(self, topics: Mapping[str, Any] | None) -> Any:
        """The figure from the topics metric's output (its ``model``, else the first one present)."""
        figure = new_figure(8, 4.5)
        ax = figure.subplots()
        topics = topics or {}
        found = topics.get(self.config.model) or next(
            (v for k, v in topics.items() if isinstance(v, Mapping) and "sizes" in v), None
        )
        if not found or "sizes" not in found:
            empty(ax, str(topics.get("skipped", "no topics")))
            return figure
        labels = [", ".join(words[: self.config.label_words]) for words in found["top_words"]]
        order = sorted(range(len(labels)), key=lambda i: found["sizes"][i])
        ax.barh([labels[i] for i in order], [found["sizes"][i] for i in order], color=COLORS[0])
        ax.set_xlabel("records")
        ax.set_title(f"Topics ({self.config.model.upper() if self.config.model in topics else 'model'})")
        return figure

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """``topic_distribution.png`` from the topics metric."""
        topics = usable(metrics, "topics")
        return [] if topics is None else written(self.name, self.figure(topics), out_dir)


@hookimpl
def datagen_register_plots(register: RegisterPlot) -> None:
    """Register the topic_distribution plot."""
    register(TopicDistribution)
