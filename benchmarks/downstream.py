"""Does the data help? A classifier trained on synthetic reviews, scored on real sentences.

    python benchmarks/downstream.py [--sizes 200 1000] [--pool 1.5] [--tune-budget 8] [--tune-batch 32]
                                    [--real-draws 5] [--seed 0] [--json OUT]

The task is examples/sentiment_task.py's: sentiment of the 3,000 real review sentences of Kotzias et al.
(KDD 2015; phones, films, restaurants). The real sentences are split once (seeded, stratified by source
and label) into a pool to train on (1,000), a validation set the tuner rewards on (500) and a test set
(1,500) that nothing sees before the final scores. Every arm trains the same TF-IDF + logistic regression
on the same number of records and is scored on the test set:

- ``default``: reviews from the embedded model with the default sampling (temperature 0.7, top_p 1.0) and
  the first template;
- ``filters``: the same generation, through datagen's quality filters (length, exact_dedup, near_dedup,
  language, gopher's text-quality rules sized for one or two sentences), then the first N kept;
- ``tuned``: the tuner's best parameters (Bayesian optimisation over temperature, top_p and the template,
  ``--tune-budget`` evaluations of ``--tune-batch`` reviews, rewarded on the validation set only);
- ``tuned+filters``: both;
- ``real``: N real sentences drawn from the training pool (``--real-draws`` draws, mean and spread);
- ``majority``: the test set's majority class.

Generation goes through datagen's cache (``DATAGEN_CACHE_DIR``; a rerun after an interruption continues
without generating again). Nothing is asserted: every row is printed as measured, with the time it cost.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datagen
from datagen.tuning import RLTuner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from sentiment_task import DATA

#: the reviews' variables: 2 x 12 x 8 x 8 = 1,536 distinct combinations (the template method draws each
#: at most once), so a pool of 1,500 reviews has no repeated prompt
VARIABLES: dict[str, list[str]] = {
    "sentiment": ["positive", "negative"],
    "topic": [
        "a mobile phone", "a phone headset", "a phone charger", "a phone case", "a film", "a TV series",
        "an actor's performance", "a film's soundtrack", "a restaurant", "a pizza place", "a sushi bar",
        "a cafe's service",
    ],
    "aspect": [
        "the overall experience", "value for money", "first impressions", "quality", "what stood out",
        "whether they would recommend it", "how it compared to expectations", "the small details",
    ],
    "reviewer": [
        "a student", "a parent", "a retiree", "a busy professional", "a first-time customer",
        "a regular customer", "a critic", "a tourist",
    ],
}  # fmt: skip
TEMPLATES = [
    "Write one short {sentiment} review of {topic} by {reviewer}, about {aspect}. Only the review.",
    "{reviewer} is {sentiment} about {topic}, mostly about {aspect}. "
    "Write the one sentence they post online.",
    "Review of {topic} by {reviewer}, {sentiment} tone, about {aspect}, one sentence:",
]
DEFAULT = {"temperature": 0.7, "top_p": 1.0, "template": TEMPLATES[0]}
SPACE = [
    {"name": "temperature", "kind": "continuous", "low": 0.2, "high": 1.4, "target": "sampling.temperature"},
    {"name": "top_p", "kind": "continuous", "low": 0.6, "high": 1.0, "target": "sampling.top_p"},
    {"name": "template", "kind": "categorical", "choices": TEMPLATES, "target": "method.template.template"},
]
#: the quality filters of the ``filters`` arms: the fields are the review (the output); gopher's rules
#: are sized for one or two sentences (its defaults are for web documents of 50 words or more)
FILTERS: dict[str, Any] = {
    "chain": ["length", "exact_dedup", "near_dedup", "language", "gopher"],
    "length": {"fields": ["output"], "min_length": 4, "max_length": 80},
    "exact_dedup": {"fields": ["output"]},
    "near_dedup": {"fields": ["output"]},
    "language": {"fields": ["output"], "languages": ["en"]},
    "gopher": {"fields": ["output"], "min_words": 4, "min_stop_words": 1},
}


def real_split(seed: int) -> dict[str, list[tuple[str, int]]]:
    """The real sentences split into train pool (1,000), validation (500) and test (1,500), stratified by
    source file and label."""
    rng = random.Random(seed)
    parts: dict[str, list[tuple[str, int]]] = {"pool": [], "validation": [], "test": []}
    for path in sorted(DATA.glob("*_labelled.txt")):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            text, _, label = line.rpartition("\t")
            if text.strip() and label.strip() in {"0", "1"}:
                rows.append((text.strip(), int(label)))
        for label in (0, 1):
            group = [r for r in rows if r[1] == label]
            rng.shuffle(group)
            n = len(group)
            pool, validation = round(n / 3), round(n / 6)
            parts["pool"] += group[:pool]
            parts["validation"] += group[pool : pool + validation]
            parts["test"] += group[pool + validation :]
    return parts


def accuracy(train: Sequence[tuple[str, int]], test: Sequence[tuple[str, int]]) -> float:
    """TF-IDF (1-2 grams) + logistic regression trained on ``train``, accuracy on ``test``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if len({y for _, y in train}) < 2:
        return max(sum(y for _, y in test), sum(1 - y for _, y in test)) / len(test) if test else 0.0
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(max_iter=1000)
    model.fit(vectorizer.fit_transform([t for t, _ in train]), [y for _, y in train])
    predicted = model.predict(vectorizer.transform([t for t, _ in test]))
    return sum(int(p == y) for p, (_, y) in zip(predicted, test, strict=True)) / len(test)


def labelled(results: datagen.Results) -> list[tuple[str, int]]:
    """(review, label) for every record with a review; the label is its ``sentiment`` variable."""
    rows = []
    for r in results:
        text = (r.output or "").strip()
        if text:
            rows.append((text, int((r.metadata.get("variables") or {}).get("sentiment") == "positive")))
    return rows


def config(params: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "method": {
            "name": "template",
            "template": {"template": params["template"], "variables": VARIABLES, "complete": True},
        },
        "sampling": {"max_tokens": 48, "temperature": params["temperature"], "top_p": params["top_p"]},
        "generate": {"random_seed": seed},
    }


def generate(params: dict[str, Any], count: int, seed: int) -> tuple[datagen.Results, float]:
    start = time.perf_counter()
    results = datagen.Generator(config(params, seed)).run("template", [], count)
    return results, time.perf_counter() - start


def curated(results: datagen.Results) -> tuple[datagen.Results, float]:
    start = time.perf_counter()
    kept = datagen.QualityFilter({"filter": FILTERS}).filter(results)
    return kept, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--pool", type=float, default=1.5, help="reviews per arm, times the largest size")
    parser.add_argument("--tune-budget", type=int, default=8)
    parser.add_argument("--tune-batch", type=int, default=32)
    parser.add_argument("--real-draws", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write every figure here too")
    args = parser.parse_args()

    combos = 1
    for values in VARIABLES.values():
        combos *= len(values)
    pool_size = min(combos, round(max(args.sizes) * args.pool))
    split = real_split(args.seed)
    test, validation = split["test"], split["validation"]
    majority = max(sum(y for _, y in test), sum(1 - y for _, y in test)) / len(test)
    rows: list[dict[str, Any]] = []

    def row(arm: str, size: int, score: float, seconds: float, available: int, note: str = "") -> None:
        rows.append(
            {"arm": arm, "size": size, "accuracy": round(score, 4), "seconds": round(seconds, 1),
             "available": available, "note": note}
        )  # fmt: skip
        print(f"{arm:14} {size:5}  accuracy {score:.3f}  ({available} available, {seconds:.0f} s) {note}")

    print(f"real sentences: pool {len(split['pool'])}, validation {len(validation)}, test {len(test)}")
    print(f"pool of {pool_size} reviews per generated arm; sizes {args.sizes}")
    for size in args.sizes:
        row("majority", size, majority, 0.0, len(test))
        draws = []
        for d in range(args.real_draws):
            draws.append(accuracy(random.Random(args.seed + d).sample(split["pool"], size), test))
        spread = statistics.stdev(draws) if len(draws) > 1 else 0.0
        note = f"± {spread:.3f} over {len(draws)} draws"
        row("real", size, statistics.mean(draws), 0.0, len(split["pool"]), note)

    arms: dict[str, tuple[dict[str, Any], float]] = {"default": (DEFAULT, 0.0)}
    if args.tune_budget:

        def reward(results: datagen.Results) -> dict[str, float]:
            score = accuracy(labelled(results), validation)
            return {"reward": score, "accuracy": score}

        start = time.perf_counter()
        base = datagen.Generator(config(DEFAULT, args.seed))
        tuner = RLTuner(
            base,
            reward,
            {"agent": "bayes", "iterations": args.tune_budget, "batch_size": args.tune_batch,
             "space": SPACE, "seed": args.seed},
            seeds=[],
        )  # fmt: skip
        tuner.tune()
        tuned = {**DEFAULT, **tuner.best_params()}
        tune_seconds = time.perf_counter() - start
        print(
            f"tuner: {args.tune_budget} evaluations of {args.tune_batch} in {tune_seconds:.0f} s; best "
            f"validation accuracy {tuner.best_reward():.3f} at temperature {tuned['temperature']:.2f}, "
            f"top_p {tuned['top_p']:.2f}, template {TEMPLATES.index(tuned['template'])}"
        )
        arms["tuned"] = (tuned, tune_seconds)
    for name, (params, extra) in arms.items():
        results, gen_seconds = generate(params, pool_size, args.seed)
        data = labelled(results)
        per_record = gen_seconds / max(1, len(results))
        for size in args.sizes:
            took = extra + per_record * min(size, len(data))
            row(name, size, accuracy(data[:size], test), took, len(data))
        kept, filter_seconds = curated(results)
        clean = labelled(kept)
        for size in args.sizes:
            needed = min(len(results), size * len(results) / max(1, len(clean)))  # generated per kept
            took = extra + filter_seconds + per_record * needed
            note = "" if len(clean) >= size else f"only {len(clean)} passed the filters"
            row(f"{name}+filters" if name != "default" else "filters", size, accuracy(clean[:size], test),
                took, len(clean), note)  # fmt: skip
        summary = kept.report.summary() if kept.report else ""
        print(f"  {name}: {len(results)} generated in {gen_seconds:.0f} s, {len(clean)} passed the filters "
              f"({filter_seconds:.1f} s); {summary}")  # fmt: skip
    if args.json:
        figures = {"args": vars(args) | {"json": str(args.json)}, "rows": rows}
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
