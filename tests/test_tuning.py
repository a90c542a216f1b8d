"""RL-guided tuning: the parameter space, the agents on cheap objectives, the tuner end to end."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

import datagen
from datagen.tuning import Param, ParameterSpace, RLTuner

OPTIMUM = [0.8, 0.2, 0.65, 0.35]


def space() -> ParameterSpace:
    params = [Param(f"x{i}", "continuous", 0.0, 1.0) for i in range(4)]
    return ParameterSpace([*params, Param("c", "categorical", choices=["a", "b", "c", "d"])])


def objective(p: dict) -> float:
    """A smooth bowl with its top at OPTIMUM and category "c": learning where it is pays."""
    return -sum((p[f"x{i}"] - OPTIMUM[i]) ** 2 for i in range(4)) + (0.3 if p["c"] == "c" else 0.0)


def run_agent(name: str, seed: int, budget: int, pm) -> list[float]:
    cls = pm.registry("agent").get(name)
    agent = cls(cls.Config())
    agent.setup(space(), seed)
    rewards = []
    for _ in range(budget):
        p = agent.ask()
        reward = objective(p)
        agent.tell(p, reward)
        rewards.append(reward)
    assert agent.best()[1] == max(rewards)
    return rewards


@pytest.mark.parametrize("name", ["random", "bayes", "reinforce", "ppo"])
def test_each_agent_improves_and_learning_agents_beat_random_search(name: str) -> None:
    if name in {"reinforce", "ppo"}:
        pytest.importorskip("torch")
    pm = datagen.load_plugins()
    budget = 40 if name == "bayes" else 60
    curves = [run_agent(name, seed, budget, pm) for seed in range(3)]
    for rewards in curves:  # the best of the second half beats the first few tries
        assert max(rewards) >= max(rewards[:5])
    best = statistics.mean(max(r) for r in curves)
    baseline = statistics.mean(max(run_agent("random", seed, budget, pm)) for seed in range(3))
    assert best <= 0.3 + 1e-9  # never above the known optimum
    if name != "random":
        assert best > baseline, (name, best, baseline)


@settings(max_examples=100, deadline=None)
@given(st.floats(-2, 3), st.floats(-2, 3), st.integers(0, 10))
def test_decoded_points_respect_bounds_and_types(u: float, v: float, k: int) -> None:
    s = ParameterSpace(
        [
            Param("t", "continuous", 0.1, 1.5),
            Param("n", "integer", 1, 9),
            Param("lr", "continuous", 1e-4, 1e-1, log=True),
            Param("m", "categorical", choices=["x", "y", "z"]),
        ]
    )
    p = s.decode([u, v, (u + v) / 2], [k])
    assert 0.1 <= p["t"] <= 1.5 and isinstance(p["t"], float)
    assert 1 <= p["n"] <= 9 and isinstance(p["n"], int)
    assert 1e-4 <= p["lr"] <= 1e-1 + 1e-12
    assert p["m"] in {"x", "y", "z"}
    units, indexes = s.encode(p)
    assert all(-1e-9 <= x <= 1 + 1e-9 for x in units) and indexes == [k % 3]


def test_bad_spaces_are_config_errors_naming_the_key() -> None:
    with pytest.raises(datagen.UsageError, match=r"space\[0\]"):
        ParameterSpace([Param("t", "continuous", 1.0, 0.5)])
    with pytest.raises(datagen.UsageError, match=r"space\[1\]\.choices"):
        ParameterSpace([Param("t", "continuous", 0.0, 1.0), Param("m", "categorical", choices=["only"])])


def _tuner(pm, tmp_path: Path, callback, **config) -> RLTuner:
    from datagen.testing import add_scripted_backend

    if "scripted" not in pm.registry("backend"):
        # the answer's length follows the temperature: a reward the agents can learn
        add_scripted_backend(pm, lambda r: "word " * max(1, int(20 * float(r.temperature or 0))))
    generator = datagen.Generator(
        {"backend": {"name": "scripted"}, "cache": {"dir": str(tmp_path / "cache")}}, plugins=pm
    )
    settings = {"agent": "random", "iterations": 6, "batch_size": 2, "seed": 3, **config}
    return RLTuner(generator, callback, settings, seeds=["Say something."], method="respond")


def length_reward(results) -> dict:
    words = statistics.mean(len((r.output or "").split()) for r in results)
    return {"reward": -abs(words - 12), "words": words}


def test_the_tuner_end_to_end_saves_and_resumes_with_the_same_next_parameters(
    datagen_plugins, tmp_path: Path
) -> None:
    pytest.importorskip("pandas")
    tuner = _tuner(datagen_plugins, tmp_path, length_reward, iterations=4, parallel=2)
    best = tuner.tune()
    assert len(tuner.records) == 8 and set(best) == {"temperature", "top_p"}
    history = tuner.history
    assert list(history["iteration"]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert {"param.temperature", "param.top_p", "metric.words", "reward"} <= set(history.columns)
    saved = tuner.save(tmp_path / "tuning.json")
    assert json.loads(saved.read_text())["best"]["reward"] == max(history["reward"])
    # resume: the replayed agent asks what a tuner that never stopped would ask next
    full = _tuner(datagen_plugins, tmp_path, length_reward, iterations=5, parallel=2)
    full.tune()
    resumed = RLTuner.load(saved, full.generator, length_reward, seeds=["Say something."], method="respond")
    resumed.config.iterations = 5
    resumed.tune()
    assert [r["params"] for r in resumed.records] == [r["params"] for r in full.records]
    out = tuner.generate_with_best(3)
    assert len(out) == 3
    figure = tuner.plot(tmp_path / "rewards.png")
    assert figure is not None and (tmp_path / "rewards.png").stat().st_size > 1000


def test_callback_errors_name_the_iteration(datagen_plugins, tmp_path: Path) -> None:
    tuner = _tuner(datagen_plugins, tmp_path, lambda results: {"accuracy": 0.5})
    with pytest.raises(datagen.UsageError, match=r"iteration 0: the callback returned no 'reward'"):
        tuner.tune()
    tuner = _tuner(datagen_plugins, tmp_path, lambda results: {"reward": math.nan})
    with pytest.raises(datagen.UsageError, match=r"iteration 0: 'reward' is nan"):
        tuner.tune()


def test_early_stopping_and_unknown_agents(datagen_plugins, tmp_path: Path) -> None:
    tuner = _tuner(datagen_plugins, tmp_path, lambda results: {"reward": 1.0}, iterations=20, patience=3)
    tuner.tune()
    assert len(tuner.records) == 4  # the first, then three without improvement
    with pytest.raises(datagen.UsageError, match=r"tune\.agent"):
        _tuner(datagen_plugins, tmp_path, length_reward, agent="genetic")
    misspelt = [{"name": "t", "kind": "continuous", "low": 0.1, "high": 1.0, "target": "sampling.temprature"}]
    with pytest.raises(datagen.ConfigError, match="temprature"):
        _tuner(datagen_plugins, tmp_path, length_reward, space=misspelt)


def test_a_torch_agent_without_torch_refuses_unless_a_fallback_is_configured(monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("no torch here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    pm = datagen.load_plugins()
    cls = pm.registry("agent").get("reinforce")
    with pytest.raises(datagen.UsageError, match=r"needs torch.*fallback"):
        cls(cls.Config())
    agent = cls(cls.Config(fallback="random"))
    agent.setup(space(), 0)
    assert agent.fallback and set(agent.ask()) == {"x0", "x1", "x2", "x3", "c"}
    first, second = cls(cls.Config(fallback="random")), cls(cls.Config(fallback="random"))
    first.setup(space(), 7)
    second.setup(space(), 7)
    assert [first.ask() for _ in range(3)] == [second.ask() for _ in range(3)]  # seeded: reproducible
