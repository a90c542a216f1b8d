"""Differential privacy: the Gaussian accountant, the mechanism's noise, and aug_pe's budget."""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import datagen
from datagen._kernel.accounting import (
    BudgetExceeded,
    GaussianAccountant,
    epsilon_for,
    gaussian_noise,
    gdp_delta,
    noise_multiplier_for,
)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0.05, max_value=20),
    st.integers(min_value=1, max_value=200),
    st.sampled_from([1e-3, 1e-5, 1e-7]),
)
def test_noise_for_a_budget_spends_exactly_that_budget(epsilon: float, steps: int, delta: float) -> None:
    sigma = noise_multiplier_for(epsilon, delta, steps)
    assert epsilon_for(sigma, steps, delta) == pytest.approx(epsilon, rel=1e-6)
    assert epsilon_for(sigma * 1.01, steps, delta) < epsilon < epsilon_for(sigma * 0.99, steps, delta)


def test_known_values_of_the_analytic_gaussian_mechanism() -> None:
    # one release at sigma 1 (mu = 1): delta(0) = Phi(1/2) - Phi(-1/2) = 0.3829...
    assert gdp_delta(0.0, 1.0) == pytest.approx(0.382924922548026, abs=1e-12)
    # composition: 4 releases at sigma 2 are one release at sigma 1
    assert epsilon_for(2.0, 4, 1e-5) == pytest.approx(epsilon_for(1.0, 1, 1e-5), rel=1e-12)
    assert noise_multiplier_for(math.inf, 1e-5, 3) == 0.0


def test_the_gaussian_mechanisms_empirical_noise_matches_sigma() -> None:
    rng = random.Random(3)
    for sigma in (0.5, 2.0, 7.5):
        noisy = gaussian_noise([10.0] * 40_000, sigma, rng)
        assert statistics.fmean(noisy) == pytest.approx(10.0, abs=4 * sigma / 200)
        assert statistics.stdev(noisy) == pytest.approx(sigma, rel=0.02)


def test_the_accountant_refuses_a_release_beyond_its_budget() -> None:
    budget = GaussianAccountant(epsilon=1.0, delta=1e-5)
    sigma = noise_multiplier_for(1.0, 1e-5, 2)
    budget.charge(sigma)
    budget.charge(sigma)
    assert budget.spent()["epsilon"] == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(BudgetExceeded, match="budget of 1"):
        budget.charge(sigma)
    assert len(budget.releases) == 2


def _private(path: Path, n: int = 40) -> Path:
    rng = random.Random(0)
    topics = {
        "positive": ["great food", "lovely staff", "fantastic pasta"],
        "negative": ["cold soup", "rude waiter", "dirty tables"],
    }
    with path.open("w") as fh:
        for i in range(n):
            label = "positive" if i % 2 else "negative"
            text = f"The {rng.choice(topics[label])} made the evening {'wonderful' if i % 2 else 'awful'}."
            fh.write(json.dumps({"id": f"p{i}", "output": text, "metadata": {"label": label}}) + "\n")
    return path


def test_aug_pe_refuses_a_run_over_budget_before_any_request(datagen_plugins, tmp_path: Path) -> None:
    from datagen.testing import add_scripted_backend

    asked: list[object] = []
    add_scripted_backend(datagen_plugins, lambda request: asked.append(request) or "A review.")
    generator = datagen.Generator({"backend": {"name": "scripted"}}, plugins=datagen_plugins)
    private = _private(tmp_path / "private.jsonl")
    with pytest.raises(datagen.UsageError, match=r"noise_multiplier.*over the budget"):
        generator.run("aug_pe", [], 4, private=str(private), epsilon=1.0, rounds=3, noise_multiplier=1.0)
    with pytest.raises(datagen.UsageError, match="delta"):
        generator.run("aug_pe", [], 4, private=str(private), delta=0.5)
    with pytest.raises(datagen.UsageError, match=r"aug_pe\.private"):
        generator.run("aug_pe", [], 4, private=str(tmp_path / "missing.jsonl"))
    assert asked == []


@pytest.mark.slow
def test_aug_pe_end_to_end_with_a_scripted_backend(datagen_plugins, tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    from datagen.testing import add_scripted_backend, request_text

    words = ["great", "lovely", "fantastic", "cold", "rude", "dirty", "pasta", "staff", "soup", "tables"]
    rng = random.Random(1)

    def llm(request: object) -> str:
        prompt = request_text(request)
        if "Text:" in prompt:  # a variation: keep the text, change a word
            text = prompt.split("Text:", 1)[1].rsplit("\n\n", 1)[0].strip().replace("___", rng.choice(words))
            return f"{text.rstrip('.')}, {rng.choice(words)} {rng.randrange(1000)}."
        return f"The {rng.choice(words)} {rng.choice(words)} was {rng.choice(words)} {rng.randrange(1000)}."

    add_scripted_backend(datagen_plugins, llm)
    generator = datagen.Generator({"backend": {"name": "scripted"}}, plugins=datagen_plugins)
    private = _private(tmp_path / "private.jsonl")
    results = generator.run(
        "aug_pe", [], 6, private=str(private), epsilon=2.0, rounds=2, population=12, label_field="label",
        prompt="a one-sentence restaurant review",
    )  # fmt: skip
    assert len(results) == 6 and len({r.output for r in results}) == 6
    spent = results.report.privacy_spent["method:aug_pe"]
    assert spent["epsilon"] == pytest.approx(2.0, rel=1e-6)
    for record in results:
        assert record.metadata["dp"]["epsilon"] == pytest.approx(2.0, rel=1e-5)
        assert record.metadata["label"] in {"positive", "negative"}
        assert record.provenance.params["dp"]["delta"] == record.metadata["dp"]["delta"]
    votes = [r.metadata["dp"]["votes"] for r in results]
    assert votes == sorted(votes, reverse=True) and np.isfinite(votes).all()
