"""REINFORCE (and PPO) choosing generation parameters for the sentiment task, with the seed's
PolicyNetwork: a shared layer, Gaussian heads for temperature and top_p, a categorical head for the
prompt template; the state is the previous reward and parameters.

python examples/policy_gradient_tuning.py [BATCH] [OUT_DIR]

Needs torch (``pip install 'datagen[rl]'``). Runs offline on the embedded model with a small budget;
the history (a DataFrame when pandas is installed) and the reward curve are written to OUT_DIR.
"""

import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sentiment_task import SPACE, evaluate, generator_config

import datagen
from datagen.tuning import RLTuner

batch = int(sys.argv[1]) if len(sys.argv) > 1 else 8
out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples_output")
out_dir.mkdir(parents=True, exist_ok=True)

config = {
    "agent": "reinforce",
    "iterations": 4,
    "batch_size": max(2, batch),
    "seed": 1,
    "space": SPACE,
}
generator = datagen.Generator(
    {**generator_config(), "agent": {"reinforce": {"batch": 2, "learning_rate": 0.1}}}
)
tuner = RLTuner(generator, evaluate, config, seeds=[], checkpoint=out_dir / "reinforce.json")
tuner.tune(progress=lambda r: print(f"#{r['iteration']}: accuracy {r['reward']:.3f}, {r['params']}"))
print(f"best accuracy {tuner.best_reward():.3f} with {tuner.best_params()}")
tuner.plot(out_dir / "policy_gradient.png")
with contextlib.suppress(datagen.UsageError):  # no pandas: the JSON checkpoint holds the same history
    tuner.history.to_csv(out_dir / "history.csv", index=False)
resumed = RLTuner.load(out_dir / "reinforce.json", generator, evaluate, seeds=[])
print(f"reloaded: {len(resumed.records)} evaluations, best {resumed.best_reward():.3f}")
best = tuner.generate_with_best(max(2, batch), out=out_dir / "best.jsonl")
if len(best) == 0:  # say so, and fail: an empty file is no result
    sys.exit(f"no record with the best parameters: {best.report.summary()}")
