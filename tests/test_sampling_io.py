"""The seed's dataset helpers: save in every format and read back; samples at random, by a field and by
length bucket."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from datagen import Record
from datagen.errors import UsageError
from datagen.pipeline import load_dataset, sample_dataset, save_dataset


def records(n: int) -> list[Record]:
    return [
        Record(
            id=f"r{i}",
            instruction=f"question {i}",
            output=" ".join(["word"] * (1 + i % 17)),
            metadata={"topic": ["a", "b", "c"][i % 3] if i % 10 else "rare", "n": i},
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".json", ".csv"])
def test_save_and_load_every_format(tmp_path: Path, suffix: str) -> None:
    path = save_dataset(records(20), tmp_path / f"data{suffix}")
    back = list(load_dataset(path))
    assert [r.instruction for r in back] == [f"question {i}" for i in range(20)]
    assert [r.output for r in back] == [r.output for r in records(20)]
    assert [str(r.metadata["topic"]) for r in back] == [str(r.metadata["topic"]) for r in records(20)]


@settings(max_examples=40, deadline=None)
@given(total=st.integers(1, 300), n=st.integers(0, 300), seed=st.integers(0, 5))
def test_a_stratified_sample_keeps_each_values_share(total: int, n: int, seed: int) -> None:
    pool = records(total)
    sample = list(sample_dataset(pool, n, strategy="stratified", by="topic", seed=seed))
    assert len(sample) == min(n, total) and len({r.id for r in sample}) == len(sample)
    assert [r.id for r in sample] == [r.id for r in pool if r.id in {s.id for s in sample}]  # in order
    have, got = Counter(r.metadata["topic"] for r in pool), Counter(r.metadata["topic"] for r in sample)
    for topic, size in have.items():
        assert abs(got[topic] - min(n, total) * size / total) < 1 + 1e-9, (topic, got, have)


def test_a_length_sample_keeps_short_and_long_answers() -> None:
    pool = records(400)
    sample = list(sample_dataset(pool, 40, strategy="length", buckets=4, seed=1))
    lengths = sorted(len(r.output.split()) for r in sample)
    assert len(sample) == 40 and lengths[0] <= 2 and lengths[-1] >= 16
    assert list(sample_dataset(pool, 40, strategy="length", seed=1)) == sample  # reproducible


def test_a_random_sample_and_bad_arguments() -> None:
    pool = records(50)
    assert len(sample_dataset(pool, 10, seed=3)) == 10
    assert len(sample_dataset(pool, 99)) == 50
    with pytest.raises(UsageError, match="needs by=FIELD"):
        sample_dataset(pool, 5, strategy="stratified")
    with pytest.raises(UsageError, match="no such field"):
        sample_dataset(pool, 5, strategy="stratified", by="colour")
