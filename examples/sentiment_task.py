"""The target task of the RL tuning examples: sentiment classification of real review sentences.

A TF-IDF + logistic regression classifier is trained on the synthetic reviews only (the text is the
record's output, the label its ``sentiment`` template variable) and scored on the 3,000 real sentences
of Kotzias et al. (KDD 2015) in ``data/sentiment_labelled_sentences``: accuracy and macro F1. The
reward is the accuracy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "sentiment_labelled_sentences"

#: prompt templates the tuner chooses between (a categorical parameter)
TEMPLATES = [
    "Write one short {sentiment} customer review of {topic}. Only the review.",
    "A customer is {sentiment} about {topic}. Write the one sentence they post online.",
    "Review of {topic}, {sentiment} tone, one sentence:",
]
VARIABLES = {
    "sentiment": ["positive", "negative"],
    "topic": [
        "a mobile phone", "a phone headset", "a phone charger", "a phone case", "a film", "a TV series",
        "an actor's performance", "a film's soundtrack", "a restaurant", "a pizza place", "a sushi bar",
        "a cafe's service",
    ],
}  # fmt: skip


#: what the tuning examples search: sampling and the prompt template
SPACE = [
    {"name": "temperature", "kind": "continuous", "low": 0.2, "high": 1.4, "target": "sampling.temperature"},
    {"name": "top_p", "kind": "continuous", "low": 0.6, "high": 1.0, "target": "sampling.top_p"},
    {"name": "template", "kind": "categorical", "choices": TEMPLATES, "target": "method.template.template"},
]


@cache
def real_sentences() -> tuple[list[str], list[int]]:
    """The real sentences and their labels (1 positive, 0 negative)."""
    texts, labels = [], []
    for path in sorted(DATA.glob("*_labelled.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            text, _, label = line.rpartition("\t")
            if text.strip() and label.strip() in {"0", "1"}:
                texts.append(text.strip())
                labels.append(int(label.strip()))
    return texts, labels


def evaluate(results) -> dict[str, float]:
    """Train on the synthetic records, score on the real sentences."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    texts = [(r.output or "").strip() for r in results]
    labels = [1 if (r.metadata.get("variables") or {}).get("sentiment") == "positive" else 0 for r in results]
    pairs = [(t, y) for t, y in zip(texts, labels, strict=True) if t]
    real_texts, real_labels = real_sentences()
    if len({y for _, y in pairs}) < 2:  # one class only: the classifier can only guess
        return {"reward": 0.5, "accuracy": 0.5, "macro_f1": 0.0, "train": float(len(pairs))}
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    model = LogisticRegression(max_iter=1000)
    model.fit(vectorizer.fit_transform([t for t, _ in pairs]), [y for _, y in pairs])
    predicted = model.predict(vectorizer.transform(real_texts))
    accuracy = float(accuracy_score(real_labels, predicted))
    return {
        "reward": accuracy,
        "accuracy": accuracy,
        "macro_f1": float(f1_score(real_labels, predicted, average="macro")),
        "train": float(len(pairs)),
    }


def generator_config(max_tokens: int = 48) -> dict:
    """The Generator's config: the template method completing each filled template on the embedded model."""
    return {
        "method": {
            "name": "template",
            "template": {"template": TEMPLATES[0], "variables": VARIABLES, "complete": True},
        },
        "sampling": {"max_tokens": max_tokens},
    }
