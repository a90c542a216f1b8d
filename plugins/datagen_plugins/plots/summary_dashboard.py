"""``summary_dashboard``: one figure with the headline numbers of every metric present."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterPlot, Results, hookimpl
from datagen_plugins.plots._common import COLORS, empty, histogram, new_figure, written


@attrs.define
class DashboardConfig:
    """Options of ``[plot.summary_dashboard]``."""

    field: str = "output"


class SummaryDashboard:
    """Counts, lengths, diversity, readability and topics on one page."""

    name: ClassVar[str] = "summary_dashboard"
    #: the seed's function that draws it (``datagen.visualization.create_summary_dashboard``)
    seed_function: ClassVar[str] = "create_summary_dashboard"
    Config: ClassVar[type[Any]] = DashboardConfig

    def __init__(self, config: DashboardConfig) -> None:
        self.config = config

    def figure(self, metrics: Mapping[str, Mapping[str, Any]]) -> Any:
        """The dashboard from ``compute``'s output (any subset of metrics)."""
        figure = new_figure(12, 7)
        grid = figure.subplots(2, 3)
        numbers, lengths, distinct = grid[0]
        readability, topics, semantic = grid[1]
        stats = metrics.get("stats", {})
        lines = [f"{stats.get('records', 0):,} records"] if "records" in stats else []
        if "records" in stats:
            lines += [
                f"{stats['vocabulary']:,} distinct words",
                f"{stats['exact_duplicates']:,} exact duplicates",
                f"{stats['prompt_tokens'] + stats['completion_tokens']:,} tokens",
                "cost unknown" if stats.get("cost_usd") is None else f"cost ${stats['cost_usd']:.4f}",
            ]
        numbers.set_axis_off()
        numbers.text(0.02, 0.95, "\n".join(lines) or "no stats", va="top", fontsize=13, linespacing=1.8)
        numbers.set_title("Dataset")
        field = stats.get("fields", {}).get(self.config.field, {})
        if histogram(lengths, field.get("words", {}), COLORS[0]):
            lengths.set_title(f"{self.config.field} length (words)")
        else:
            empty(lengths, f"no {self.config.field} lengths")
        d = metrics.get("diversity", {})
        if "distinct_1" in d:
            distinct.bar(["d-1", "d-2", "d-3"], [d[f"distinct_{n}"] for n in (1, 2, 3)], color=COLORS[2])
            distinct.set_ylim(0, 1)
            distinct.set_title("Distinct n-grams")
        else:
            empty(distinct, str(d.get("skipped", "no diversity")))
        r = metrics.get("readability", {})
        grades = {
            k: v["median"]
            for k, v in r.items()
            if isinstance(v, Mapping) and v.get("count") and k != "flesch_reading_ease"
        }
        if grades:
            readability.barh([k.replace("_", " ") for k in grades], list(grades.values()), color=COLORS[1])
            readability.set_title("Readability (median)")
        else:
            empty(readability, str(r.get("skipped", "no readability")))
        t = metrics.get("topics", {})
        found = t.get("nmf") or t.get("lda")
        if isinstance(found, Mapping) and "sizes" in found:
            labels = [", ".join(w[:2]) for w in found["top_words"]]
            topics.barh(labels, found["sizes"], color=COLORS[3])
            topics.set_title("Topics (records)")
        else:
            empty(topics, str(t.get("skipped", "no topics")))
        e = metrics.get("embedding_diversity", {})
        if "mean_pairwise_cosine_distance" in e:
            semantic.set_axis_off()
            semantic.text(
                0.02, 0.9,
                f"mean cosine distance {e['mean_pairwise_cosine_distance']:.3f}\n"
                f"{e['clusters']} clusters in {e['sample']} texts",
                va="top", fontsize=12, linespacing=1.8,
            )  # fmt: skip
            semantic.set_title("Semantic spread")
        else:
            empty(semantic, str(e.get("skipped", "no embedding diversity")))
        figure.suptitle("Dataset summary", fontsize=15)
        return figure

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """``summary_dashboard.png``."""
        return written(self.name, self.figure(metrics), out_dir) if metrics else []


@hookimpl
def datagen_register_plots(register: RegisterPlot) -> None:
    """Register the summary_dashboard plot."""
    register(SummaryDashboard)
