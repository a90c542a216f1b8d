"""``bertopic``: BERTopic's topics on offline sentence embeddings, as a datagen metric."""

from __future__ import annotations

import random
from typing import Any, ClassVar

import attrs

from datagen.plugin import Embedder, RegisterMetric, Results, UsageError, bounded, hookimpl

FIELDS = ("instruction", "input", "output")


@attrs.define
class BERTopicConfig:
    """Options of ``[metric.bertopic]``."""

    field: str = "output"
    min_topic_size: int = attrs.field(default=10, validator=bounded(2))
    top_words: int = attrs.field(default=8, validator=bounded(1))
    sample: int = attrs.field(default=20_000, validator=bounded(10))
    seed: int = 0


class BERTopicMetric:
    """Topics found by embedding, UMAP, HDBSCAN and class-based TF-IDF."""

    name: ClassVar[str] = "bertopic"
    Config: ClassVar[type[Any]] = BERTopicConfig

    def __init__(self, config: BERTopicConfig) -> None:
        if config.field not in FIELDS:
            raise UsageError(
                f"$.metric.bertopic.field: expected one of {', '.join(FIELDS)}, got {config.field!r}"
            )
        self.config = config

    def compute(self, results: Results) -> dict[str, Any]:
        """Topics of the configured field's texts (a uniform sample of at most ``sample``)."""
        c = self.config
        texts = [t for r in results if isinstance(t := getattr(r, c.field), str) and t.strip()]
        if len(texts) > c.sample:
            texts = random.Random(c.seed).sample(texts, c.sample)
        if len(texts) < 2 * c.min_topic_size:
            return {"skipped": f"{len(texts)} texts, fewer than twice min_topic_size ({c.min_topic_size})"}
        try:
            from bertopic import BERTopic
            from umap import UMAP
        except ImportError as exc:
            return {"skipped": f"bertopic is not installed: {exc}"}
        embeddings = Embedder().encode(texts)
        umap = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=c.seed)
        model = BERTopic(umap_model=umap, min_topic_size=c.min_topic_size, top_n_words=c.top_words)
        topics, _ = model.fit_transform(texts, embeddings)
        found = []
        for topic in sorted({t for t in topics if t != -1}):
            words = [w for w, _ in (model.get_topic(topic) or [])][: c.top_words]
            found.append(
                {"topic": int(topic), "size": int(sum(1 for t in topics if t == topic)), "top_words": words}
            )
        return {
            "field": c.field,
            "texts": len(texts),
            "topics": len(found),
            "outliers": int(sum(1 for t in topics if t == -1)),
            "found": found,
            "assignments": [int(t) for t in topics],
        }


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the bertopic metric."""
    register(BERTopicMetric)
