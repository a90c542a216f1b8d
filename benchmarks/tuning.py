"""RL tuning: every agent over the same budget and seeds, on a cheap objective and on the real task.

    python benchmarks/tuning.py [--seeds 3] [--budget 40] [--real-budget 8] [--batch 16] [--real-seeds 2]

1. A cheap objective with a known optimum (no LLM): a smooth bowl over four continuous parameters
   plus a categorical one; best reward after ``--budget`` evaluations, mean and spread over seeds.
2. The real task (examples/sentiment_task.py): each evaluation generates ``--batch`` labelled reviews on
   the embedded model, trains TF-IDF + logistic regression on them only and scores accuracy on the 3,000
   real sentences. Default parameters (temperature 0.7, top_p 1.0, the first template) are the baseline;
   every agent gets ``--real-budget`` evaluations per seed. Nothing is asserted; times are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import datagen
from datagen.tuning import Param, ParameterSpace, RLTuner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

AGENTS = ("random", "bayes", "reinforce", "ppo")
OPTIMUM = [0.8, 0.2, 0.65, 0.35]


def objective(p: dict) -> float:
    return -sum((p[f"x{i}"] - OPTIMUM[i]) ** 2 for i in range(4)) + (0.3 if p["c"] == "c" else 0.0)


def cheap(seeds: int, budget: int) -> None:
    pm = datagen.load_plugins()
    space = ParameterSpace(
        [
            *(Param(f"x{i}", "continuous", 0.0, 1.0) for i in range(4)),
            Param("c", "categorical", choices=list("abcd")),
        ]
    )
    print(f"\n== cheap objective (optimum 0.3), budget {budget}, {seeds} seeds")
    for name in AGENTS:
        bests, start = [], time.perf_counter()
        for seed in range(seeds):
            cls = pm.registry("agent").get(name)
            agent = cls(cls.Config())
            agent.setup(space, seed)
            for _ in range(budget):
                p = agent.ask()
                agent.tell(p, objective(p))
            bests.append(agent.best()[1])
        spread = statistics.stdev(bests) if len(bests) > 1 else 0.0
        took = time.perf_counter() - start
        print(f"{name:10} best {statistics.mean(bests):.4f} ± {spread:.4f}   ({took:.1f} s)")


def real(seeds: int, budget: int, batch: int) -> None:
    from sentiment_task import SPACE, TEMPLATES, evaluate, generator_config

    generator = datagen.Generator(generator_config())
    space = SPACE
    print(
        f"\n== sentiment task on the embedded model: {budget} evaluations of {batch} records, {seeds} seeds"
    )
    start = time.perf_counter()
    default = {"temperature": 0.7, "top_p": 1.0, "template": TEMPLATES[0]}
    tuner = RLTuner(generator, evaluate, {"space": space, "batch_size": batch}, seeds=[])
    scores = [evaluate(tuner._generate(default, batch))["accuracy"] for _ in range(1)]
    print(f"{'default':10} accuracy {statistics.mean(scores):.4f}   ({time.perf_counter() - start:.0f} s)")
    for name in AGENTS:
        bests, curves, start = [], [], time.perf_counter()
        for seed in range(seeds):
            config = {"agent": name, "iterations": budget, "batch_size": batch, "space": space, "seed": seed}
            tuner = RLTuner(generator, evaluate, config, seeds=[])
            tuner.tune()
            bests.append(tuner.best_reward() or 0.0)
            curves.append([round(r["reward"], 3) for r in tuner.records])
        spread = statistics.stdev(bests) if len(bests) > 1 else 0.0
        took = time.perf_counter() - start
        mean = statistics.mean(bests)
        print(f"{name:10} best accuracy {mean:.4f} ± {spread:.4f}   ({took:.0f} s)  curves {curves}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=40)
    parser.add_argument("--real-seeds", type=int, default=2)
    parser.add_argument("--real-budget", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    cheap(args.seeds, args.budget)
    if args.real_budget:
        real(args.real_seeds, args.real_budget, args.batch)


if __name__ == "__main__":
    main()
