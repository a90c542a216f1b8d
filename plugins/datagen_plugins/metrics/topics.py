"""``topics``: topic models over one text field (``output`` by default): scikit-learn's NMF over
TF-IDF and LDA (online variational Bayes, ``_lda.py``: scikit-learn's algorithm with its E-step run
for many documents at once) over term counts, ``topics`` topics each.

Reported per model: the top words of each topic, how many records each topic holds, the topic of each
record, and each record's topic weights (up to ``detail_records`` records; beyond, only the topics).
Beyond ``fit_sample`` texts (10,000) the models are fitted on a uniform sample and then assign every
text: the cost of fitting stays bounded.
Skipped, with the reason, without scikit-learn or with too few texts.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from datagen.plugin import RegisterMetric, Results, UsageError, bounded, hookimpl
from datagen_plugins.metrics._common import check_field, texts

if TYPE_CHECKING:
    pass

MODELS = ("nmf", "lda")


@attrs.define
class TopicsConfig:
    """Options of ``[metric.topics]``."""

    field: str = "output"
    topics: int = attrs.field(default=8, validator=bounded(2, high=200))
    models: list[str] = attrs.field(factory=lambda: list(MODELS))
    top_words: int = attrs.field(default=8, validator=bounded(1))
    max_features: int = attrs.field(default=5000, validator=bounded(10))
    detail_records: int = attrs.field(default=5000, validator=bounded(0))
    #: the models are fitted on a uniform sample of this many texts, then every text is assigned
    fit_sample: int = attrs.field(default=10_000, validator=bounded(100))
    seed: int = 0


class Topics:
    """NMF and LDA topics: top words, sizes, each record's topic."""

    name: ClassVar[str] = "topics"
    #: computed when no metric is named (``datagen metrics FILE``, ``compute(results)``), in this order
    default: ClassVar[int] = 4
    #: relative cost, heaviest first when metrics run in parallel workers
    cost: ClassVar[int] = 4
    Config: ClassVar[type[Any]] = TopicsConfig

    def __init__(self, config: TopicsConfig) -> None:
        check_field(config.field, "$.metric.topics.field")
        unknown = sorted(set(config.models) - set(MODELS))
        if unknown or not config.models:
            raise UsageError(
                f"$.metric.topics.models: expected some of {', '.join(MODELS)}, got {config.models}"
            )
        self.config = config

    def compute(self, results: Results) -> dict[str, Any]:
        """The topic models' findings."""
        import numpy as np

        try:
            from sklearn.decomposition import NMF
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
        except ImportError:
            return {"skipped": "scikit-learn is not installed: pip install 'datagen[metrics]'"}
        from datagen_plugins.metrics._lda import OnlineLDA

        c = self.config
        corpus = list(texts(results, c.field))
        if len(corpus) < c.topics:
            return {"skipped": f"{len(corpus)} texts, fewer than the {c.topics} topics asked for"}
        out: dict[str, Any] = {"field": c.field, "texts": len(corpus), "topics": c.topics}
        # one count matrix for both models: TF-IDF is computed from it, the same matrix
        # TfidfVectorizer with these options would build (one tokenising pass instead of two)
        vectorizer = CountVectorizer(max_features=c.max_features, stop_words="english", max_df=0.95)
        try:
            counts = vectorizer.fit_transform(corpus)
        except ValueError as exc:  # e.g. only stop words
            return out | {model: {"skipped": str(exc)} for model in c.models}
        vocabulary = vectorizer.get_feature_names_out()
        sample = None
        if counts.shape[0] > c.fit_sample:
            sample = np.sort(
                np.random.default_rng(c.seed).choice(counts.shape[0], c.fit_sample, replace=False)
            )
        for model in c.models:
            estimator: Any
            if model == "nmf":
                matrix = TfidfTransformer().fit_transform(counts)
                estimator = NMF(n_components=c.topics, init="nndsvda", random_state=c.seed, max_iter=300)
            else:
                matrix = counts
                estimator = OnlineLDA(c.topics, max_iter=10, batch_size=1024, random_state=c.seed)
            with warnings.catch_warnings():  # an unconverged fit still ranks topics: not worth a warning
                warnings.simplefilter("ignore", ConvergenceWarning)
                if sample is None:
                    weights = estimator.fit_transform(matrix)
                else:
                    weights = estimator.fit(matrix[sample]).transform(matrix)
            top = [
                [str(vocabulary[i]) for i in row.argsort()[::-1][: c.top_words]]
                for row in estimator.components_
            ]
            totals = weights.sum(axis=1, keepdims=True)
            totals[totals == 0] = 1
            shares = weights / totals
            assignment = shares.argmax(axis=1)
            sizes = [int((assignment == k).sum()) for k in range(c.topics)]
            found: dict[str, Any] = {"top_words": top, "sizes": sizes, "assignments": assignment.tolist()}
            if len(corpus) <= c.detail_records:
                found["weights"] = [[round(float(w), 4) for w in row] for row in shares]
            out[model] = found
        return out


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the topics metric."""
    register(Topics)
