"""ROUGE-L and its index: the index gives exactly the brute-force answer, with far fewer LCS computations."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from datagen._text.rouge import RougeLIndex, lcs_length, rouge_l, tokenize

words = st.sampled_from("the a cat dog sat on mat write poem about list three ways to make tea".split())
texts = st.lists(words, min_size=0, max_size=14).map(" ".join)


def test_known_values() -> None:
    assert lcs_length(["a", "b", "c", "d"], ["a", "c", "d", "e"]) == 3
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    assert rouge_l("", "x") == 0.0
    assert tokenize("Write a Poem, please!") == ["write", "a", "poem", "please"]


@settings(max_examples=200, deadline=None)
@given(pool=st.lists(texts, max_size=25), probe=texts, threshold=st.sampled_from([0.3, 0.5, 0.7, 0.9, 1.0]))
def test_index_agrees_with_brute_force(pool: list[str], probe: str, threshold: float) -> None:
    index = RougeLIndex(threshold, pool)
    brute = max((rouge_l(probe, p) for p in pool), default=0.0)
    assert index.is_novel(probe) == (brute < threshold)
    score, where = index.best_match(probe)
    if brute >= threshold:
        assert score == pytest.approx(brute) and rouge_l(probe, pool[where]) == pytest.approx(brute)


def test_index_prunes_almost_everything_on_a_large_pool() -> None:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)] + ["the", "a", "of", "to", "write", "list"]
    pool = [" ".join(rng.choices(vocab, k=rng.randint(6, 20))) for _ in range(3000)]
    index = RougeLIndex(0.7, pool)
    for probe in pool[:200]:
        assert not index.is_novel(probe)  # each finds itself
    novel = [" ".join(rng.choices(vocab, k=12)) for _ in range(200)]
    assert all(index.is_novel(p) for p in novel)
    assert index.lcs_computed < 0.01 * 400 * len(pool)  # vs. 1.2 million comparisons done naively


@given(pool=st.lists(texts, max_size=25), probe=texts)
def test_max_score_is_the_exact_maximum(pool: list[str], probe: str) -> None:
    index = RougeLIndex(0.7, pool)
    brute = max((rouge_l(probe, p) for p in pool), default=0.0)
    score, where = index.max_score(probe)
    assert score == pytest.approx(brute)
    if brute > 0:
        assert where is not None and rouge_l(probe, pool[where]) == pytest.approx(brute)
