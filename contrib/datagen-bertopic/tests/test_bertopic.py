"""The bertopic metric is discovered and finds topics in real sentences, offline."""

from __future__ import annotations

from pathlib import Path

import datagen
from datagen.metrics import compute

DATA = Path(__file__).resolve().parents[3] / "examples" / "data" / "sentiment_labelled_sentences"


def test_bertopic_finds_topics_in_real_reviews(datagen_plugins) -> None:
    assert "bertopic" in datagen_plugins.registry("metric").names()
    texts = []
    for path in sorted(DATA.glob("*_labelled.txt")):
        texts += [line.rpartition("\t")[0] for line in path.read_text().splitlines()[:300] if "\t" in line]
    records = [datagen.Record(id=str(i), output=t) for i, t in enumerate(texts)]
    found = compute(records, ["bertopic"], plugins=datagen_plugins)["bertopic"]
    assert "skipped" not in found, found
    assert found["texts"] == len(texts) == len(found["assignments"])
    assert found["topics"] >= 2
    assert sum(t["size"] for t in found["found"]) + found["outliers"] == len(texts)
    vocabulary = {w for t in found["found"] for w in t["top_words"]}
    assert vocabulary & {"phone", "movie", "film", "food", "service", "place", "sound", "battery"}
    too_few = compute(records[:5], ["bertopic"], plugins=datagen_plugins)["bertopic"]
    assert "skipped" in too_few
