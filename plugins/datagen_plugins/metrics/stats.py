"""``stats``: counts and lengths, streamed once over the dataset.

Records; per field (instruction, input, output, messages) how many records have it, how many are empty,
and its length in characters, words and tokens (a word-and-punctuation tokenizer): mean, median, p5,
p95, max, a histogram; the vocabulary (distinct lower-cased words over every field); exact duplicates
(records whose texts repeat an earlier record's, after whitespace and case); and from provenance the
methods, models, finish reasons, tokens and cost (unknown when any record's price was unknown).
Memory: the per-record lengths (a few bytes each), the vocabulary and a 64-bit hash per record.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import xxhash

from datagen.plugin import RegisterMetric, Results, hookimpl
from datagen_plugins.metrics._common import FIELDS, field_text, summary, tokens, words


@attrs.define
class StatsConfig:
    """Options of ``[metric.stats]``."""

    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))


class Stats:
    """Record counts, lengths, vocabulary, duplicates, provenance totals."""

    name: ClassVar[str] = "stats"
    #: the seed's function that computes it (``datagen.metrics.basic_stats.compute_basic_stats``)
    seed_function: ClassVar[str] = "compute_basic_stats"
    #: computed when no metric is named (``datagen metrics FILE``, ``compute(results)``), in this order
    default: ClassVar[int] = 1
    Config: ClassVar[type[Any]] = StatsConfig

    def __init__(self, config: StatsConfig) -> None:
        self.config = config

    @staticmethod
    def cards(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """The headline figures of a report's summary: records, distinct words, exact duplicates, the
        median output length and the cost."""
        cards: list[tuple[str, Any]] = [("records", values.get("records", "?"))]
        if "vocabulary" in values:
            cards += [
                ("distinct words", values["vocabulary"]),
                ("exact duplicates", values["exact_duplicates"]),
            ]
            output = values.get("fields", {}).get("output", {}).get("words", {})
            if output.get("median") is not None:
                cards.append(("median output length (words)", output["median"]))
            cost = values.get("cost_usd")
            cards.append(("cost", "unknown" if cost is None else f"${cost:,.4f}"))
        return cards

    def compute(self, results: Results) -> dict[str, Any]:
        """The statistics of ``results`` (streamed once)."""
        fields = self.config.fields
        lengths = {f: {u: array("i") for u in ("chars", "words", "tokens")} for f in fields}
        present: Counter[str] = Counter()
        empty: Counter[str] = Counter()
        vocabulary: set[str] = set()
        seen: set[int] = set()
        duplicates = n = 0
        finish: Counter[str] = Counter()
        methods: Counter[str] = Counter()
        models: Counter[str] = Counter()
        prompt_tokens = completion_tokens = 0
        cost: float | None = 0.0
        for record in results:
            n += 1
            parts = []
            for field in fields:
                text = field_text(record, field)
                if text is None:
                    continue
                present[field] += 1
                if not text.strip():
                    empty[field] += 1
                found = words(text)
                vocabulary.update(found)
                parts.append(" ".join(found))
                lengths[field]["chars"].append(len(text))
                lengths[field]["words"].append(len(found))
                lengths[field]["tokens"].append(tokens(text))
            key = xxhash.xxh64_intdigest("\x1f".join(parts).encode())
            if key in seen:
                duplicates += 1
            seen.add(key)
            prov = record.provenance
            if prov is not None:
                methods[prov.method] += 1
                models[f"{prov.backend or '-'}/{prov.model or '-'}"] += 1
                finish[prov.finish_reason or "-"] += 1
                prompt_tokens += prov.usage.prompt_tokens
                completion_tokens += prov.usage.completion_tokens
                if cost is not None:
                    cost = None if prov.usage.cost_usd is None else cost + prov.usage.cost_usd
        return {
            "records": n,
            "fields": {
                f: {
                    "present": present[f],
                    "empty": empty[f],
                    **{unit: summary(values) for unit, values in lengths[f].items()},
                }
                for f in fields
                if present[f]
            },
            "vocabulary": len(vocabulary),
            "exact_duplicates": duplicates,
            "methods": dict(methods.most_common()),
            "models": dict(models.most_common()),
            "finish_reasons": dict(finish.most_common()),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_usd": round(cost, 6) if cost is not None and methods else None,
        }


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the stats metric."""
    register(Stats)
