"""``RLTuner``: search generation parameters so that a target model trained on the data scores best.

Each iteration asks the agent for ``parallel`` parameter sets, generates ``batch_size`` records with each
(concurrently, through the engine and its cache: an evaluation already paid for is not paid again),
hands each batch to the callback (``evaluate(results) -> {metric: value}``), tells the agent the reward
(``reward_metric``), and records the history. ``save`` writes the history, the config and the agent's
name; ``load`` rebuilds the agent by replaying the history through it (the agents are deterministic
given their seed), so a tuning that stopped resumes with the same next parameters.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from datagen._datamodel.config import (
    DatagenConfig,
    RLTuningConfig,
    converter,
    deep_merge,
    load_config,
    structure,
)
from datagen._datamodel.results import Results, write_file
from datagen._datamodel.space import ParameterSpace
from datagen.errors import UsageError
from datagen.log import get_logger

Callback = Callable[[Results], Mapping[str, Any]]
VERSION = 1


#: the seed's policy-gradient settings on RLTuningConfig, and the agent option each one sets
POLICY_SETTINGS = {
    "learning_rate": "learning_rate",
    "discount_factor": "discount",
    "entropy_coef": "entropy_bonus",
    "hidden_size": "hidden",
    "normalize_rewards": "normalize_rewards",
}


def tuning_config(config: RLTuningConfig | Mapping[str, Any] | None) -> RLTuningConfig:
    """An :class:`RLTuningConfig` from itself, a mapping shaped like ``[tune]`` or None (defaults)."""
    if config is None:
        return RLTuningConfig()
    if isinstance(config, RLTuningConfig):
        return config
    return load_config(data={"tune": dict(config)}).tune


class RLTuner:
    """Tunes a :class:`datagen.Generator`'s parameters against ``target_model_callback``."""

    def __init__(
        self,
        generator: Any,
        target_model_callback: Callback,
        config: RLTuningConfig | Mapping[str, Any] | None = None,
        *,
        seeds: Any = None,
        method: str | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> None:
        self.generator = generator
        self.callback = target_model_callback
        self.config = tuning_config(config)
        self.space = ParameterSpace(list(self.config.space))
        self.method = method
        self.seeds = seeds if seeds is not None else self._seeds_of_config()
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.records: list[dict[str, Any]] = []
        self.log = get_logger("datagen.tuning")
        self.agent = self._agent()
        self._base = converter.unstructure(generator.config)
        self._resolve_targets()

    def _agent(self) -> Any:
        registry = self.generator.plugins.registry("agent")
        from datagen._kernel.capabilities import default_member

        name = default_member(self.generator.plugins, "agent", self.config.agent)
        if name not in registry:
            raise UsageError(registry.unknown(name, "$.tune.agent"))
        cls = registry.get(name)
        raw = dict(self.generator.config.agent.options.get(name, {}))
        fields = {a.name for a in attrs.fields(cls.Config)} if attrs.has(cls.Config) else set()
        for setting, option in POLICY_SETTINGS.items():
            value = getattr(self.config, setting)
            if value is None:
                continue
            if option in fields:
                raw[option] = value
            else:
                self.log.warning("tuning_setting_ignored", setting=setting, agent=name)
        agent = cls(structure(raw, cls.Config, path=f"$.agent.{name}"))
        agent.setup(self.space, self.config.seed)
        return agent

    def _seeds_of_config(self) -> Any:
        """``[generate] seeds``, else the seeds the method declares it uses when none are named."""
        from datagen._datamodel.seeds import load_seeds_file
        from datagen._kernel.capabilities import default_seeds

        config = self.generator.config
        if config.generate.seeds is not None:
            return load_seeds_file(config.generate.seeds)
        return default_seeds(self.generator.plugins, self.method or self._default_method(config))

    def _default_method(self, config: DatagenConfig) -> str:
        from datagen._kernel.capabilities import default_member

        return default_member(self.generator.plugins, "method", config.method.name)

    def _resolve_targets(self) -> None:
        """Every target must be a key the config knows: a config built from a sample point is checked
        now, so a misspelt target is an error naming it before any evaluation."""
        for i, p in enumerate(self.space.params):
            head = p.where.split(".")[0]
            if head not in self._base:
                raise UsageError(f"$.tune.space[{i}].target: {p.where!r} is not a config key")
        import random

        from datagen._kernel.options import validate_plugin_options

        config = self._config_for(self.space.sample(random.Random(self.config.seed)))
        validate_plugin_options(config, self.generator.plugins)

    # ------------------------------------------------------------------------------------ evaluation

    def _config_for(self, params: Mapping[str, Any]) -> DatagenConfig:
        merged = deep_merge(self._base, self.space.overrides(params))
        return load_config(data=merged)

    def _generate(self, params: Mapping[str, Any], count: int) -> Results:
        from datagen._app.generator import Generator

        config = self._config_for(params)
        generator = Generator(config, plugins=self.generator.plugins)
        method = str(params.get("method", self.method or self._default_method(config)))
        results: Results = generator.run(method, self.seeds, count)
        return results

    def _reward(self, metrics: Mapping[str, Any], iteration: int) -> float:
        key = self.config.reward_metric
        if not isinstance(metrics, Mapping) or key not in metrics:
            got = sorted(metrics) if isinstance(metrics, Mapping) else type(metrics).__name__
            raise UsageError(
                f"iteration {iteration}: the callback returned no {key!r} ($.tune.reward_metric); got {got}"
            )
        try:
            reward = float(metrics[key])
        except (TypeError, ValueError):
            raise UsageError(f"iteration {iteration}: {key!r} is not a number: {metrics[key]!r}") from None
        if not math.isfinite(reward):
            raise UsageError(f"iteration {iteration}: {key!r} is {reward} (NaN or infinite)")
        return reward

    def _evaluate(self, params: Mapping[str, Any], iteration: int) -> dict[str, Any]:
        start = time.perf_counter()
        results = self._generate(params, self.config.batch_size)
        metrics = dict(self.callback(results))
        reward = self._reward(metrics, iteration)
        return {
            "iteration": iteration,
            "agent": self.agent.name,
            "params": dict(params),
            "reward": reward,
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool)},
            "records": len(results),
            "seconds": round(time.perf_counter() - start, 3),
            "fallback": bool(getattr(self.agent, "fallback", False)),
        }

    # ------------------------------------------------------------------------------------ the loop

    def tune(self, progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Run the remaining iterations (all, or those after a loaded history); returns the best params."""
        c = self.config
        iteration = self.records[-1]["iteration"] + 1 if self.records else 0
        stale = self._stale()
        while iteration < c.iterations:
            if c.patience is not None and stale >= c.patience:
                self.log.info("tuning_stopped_early", iteration=iteration, patience=c.patience)
                break
            asked = [self.agent.ask() for _ in range(c.parallel)]
            with ThreadPoolExecutor(max_workers=c.parallel) as pool:
                evaluated = list(pool.map(self._evaluate, asked, [iteration] * len(asked)))
            before = self.best_reward()
            for params, record in zip(asked, evaluated, strict=True):
                self.agent.tell(params, record["reward"])
                self.records.append(record)
                if progress is not None:
                    progress(record)
            after = self.best_reward()
            stale = (
                0
                if before is None or (after is not None and after - before > c.min_improvement)
                else stale + 1
            )
            if self.checkpoint is not None:
                self.save(self.checkpoint)
            iteration += 1
        return self.best_params()

    def _stale(self) -> int:
        """Iterations since the last improvement, from the history (for a resumed tuning)."""
        best, stale = None, 0
        for it in sorted({r["iteration"] for r in self.records}):
            top = max(r["reward"] for r in self.records if r["iteration"] == it)
            if best is None or top - best > self.config.min_improvement:
                best, stale = top if best is None else max(best, top), 0
            else:
                stale += 1
        return stale

    # ------------------------------------------------------------------------------------ results

    def best_reward(self) -> float | None:
        """The best reward so far (None before any evaluation)."""
        return max((r["reward"] for r in self.records), default=None)

    def best_params(self) -> dict[str, Any]:
        """The parameters of the best evaluation."""
        if not self.records:
            raise UsageError("no evaluation yet: run tune() first")
        return dict(max(self.records, key=lambda r: r["reward"])["params"])

    def generate_with_best(self, count: int, *, out: str | os.PathLike[str] | None = None) -> Results:
        """``count`` records with the best parameters found."""
        from datagen._app.generator import Generator

        params = self.best_params()
        config = self._config_for(params)
        generator = Generator(config, plugins=self.generator.plugins)
        method = str(params.get("method", self.method or self._default_method(config)))
        results: Results = generator.run(method, self.seeds, count, out=out, overwrite=True if out else None)
        return results

    @property
    def history(self) -> Any:
        """The history as a pandas DataFrame: iteration, agent, reward, each parameter, each metric."""
        try:
            import pandas as pd
        except ImportError:
            raise UsageError("history as a DataFrame needs pandas: pip install 'datagen[pandas]'") from None
        rows = [
            {
                "iteration": r["iteration"], "agent": r["agent"], "reward": r["reward"],
                **{f"param.{k}": v for k, v in r["params"].items()},
                **{f"metric.{k}": v for k, v in r["metrics"].items()},
                "records": r["records"], "seconds": r["seconds"], "fallback": r["fallback"],
            }
            for r in self.records
        ]  # fmt: skip
        return pd.DataFrame(rows)

    def plot(self, save_path: str | os.PathLike[str] | None = None) -> Any:
        """Reward per evaluation and the best so far."""
        return plot_rewards({self.agent.name: [r["reward"] for r in self.records]}, save_path)

    # ------------------------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the tuning (config, agent, history) as JSON, through a temporary file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": VERSION,
            "config": converter.unstructure(self.config),
            "agent": self.agent.name,
            "history": self.records,
            "best": {"params": self.best_params(), "reward": self.best_reward()} if self.records else None,
        }
        return write_file(target, json.dumps(data, indent=2))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        generator: Any,
        target_model_callback: Callback,
        *,
        seeds: Any = None,
        method: str | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
    ) -> RLTuner:
        """A tuner from :meth:`save`'s file, its agent brought to the same state by replaying the history."""
        source = Path(path)
        try:
            data = json.loads(source.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"{source}: not a saved tuning: {exc}") from None
        if data.get("version") != VERSION:
            raise UsageError(f"{source}: tuning file version {data.get('version')}, expected {VERSION}")
        tuner = cls(
            generator, target_model_callback, tuning_config(data["config"]), seeds=seeds, method=method,
            checkpoint=checkpoint,
        )  # fmt: skip
        history: list[dict[str, Any]] = data["history"]
        for it in sorted({r["iteration"] for r in history}):
            step = [r for r in history if r["iteration"] == it]
            asked = [tuner.agent.ask() for _ in step]
            for params, record in zip(asked, step, strict=True):
                tuner.agent.tell(record["params"], record["reward"])
                if params != record["params"]:
                    tuner.log.warning(
                        "replay_diverged", iteration=it, asked=params, recorded=record["params"]
                    )
        tuner.records = history
        return tuner


def plot_rewards(
    curves: Mapping[str, Sequence[float]], save_path: str | os.PathLike[str] | None = None
) -> Any:
    """Reward per evaluation (points) and the best so far (lines), one colour per agent."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), layout="constrained")
    ax = figure.subplots()
    for name, rewards in curves.items():
        xs = list(range(1, len(rewards) + 1))
        best, running = [], -math.inf
        for r in rewards:
            running = max(running, r)
            best.append(running)
        line = ax.plot(xs, best, label=f"{name} (best so far)")[0]
        ax.scatter(xs, rewards, s=12, alpha=0.5, color=line.get_color())
    ax.set_xlabel("evaluation")
    ax.set_ylabel("reward")
    ax.legend(frameon=False)
    ax.set_title("Tuning")
    if save_path is not None:
        Path(save_path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(save_path)
    return figure


__all__ = ["RLTuner", "RLTuningConfig", "plot_rewards", "tuning_config"]
