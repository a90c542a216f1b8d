"""Tune generation parameters so that a sentiment classifier trained on the synthetic data does best on
real review sentences: random search and Bayesian optimisation over the same budget.

python examples/rl_tuning.py [BATCH] [OUT_DIR]

The parameters: temperature, top_p and which prompt template; each evaluation generates BATCH labelled
reviews on the embedded model (offline), trains TF-IDF + logistic regression on them only, and scores it
on the 3,000 real sentences of examples/data. Small budget: it shows the mechanics, not a converged
tuning (see benchmarks/tuning.py for the measured comparison).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sentiment_task import SPACE, evaluate, generator_config

import datagen
from datagen.tuning import RLTuner, plot_rewards

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

generator = datagen.Generator(generator_config())
curves = {}
for agent in ("random", "bayes"):
    config = {"agent": agent, "iterations": 3, "batch_size": max(2, batch), "space": SPACE, "seed": 0}
    tuner = RLTuner(generator, evaluate, config, seeds=[], checkpoint=out_dir / f"{agent}.json")
    best = tuner.tune(progress=lambda r: print(f"  {r['agent']} #{r['iteration']}: reward {r['reward']:.3f}"))
    curves[agent] = [r["reward"] for r in tuner.records]
    print(f"{agent}: best accuracy {tuner.best_reward():.3f} with {best}")
plot_rewards(curves, out_dir / "rl_tuning.png")
best_results = tuner.generate_with_best(max(2, batch), out=out_dir / "best.jsonl")
if len(best_results) == 0:  # say so, and fail: an empty file is no result
    sys.exit(f"no record with the best parameters: {best_results.report.summary()}")
print(f"{len(best_results)} records with the best parameters in {out_dir / 'best.jsonl'}")
