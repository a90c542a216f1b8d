"""Quality figures of the generation methods on the embedded model (offline), as docs/methods.md reports them.

    python benchmarks/methods_quality.py self_instruct [--count 200]   # ~40 s per kept task on 2 cores
    python benchmarks/methods_quality.py evol [--count 100]            # 2 rounds
    python benchmarks/methods_quality.py copy_rate [--count 20]        # paraphrase: naive prompt vs datagen's

Everything runs through the response cache in ``.datagen/cache``, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections import Counter
from typing import Any

import datagen
from datagen import load_config, load_plugins
from datagen._app.runner import execute, prepare, run_sync
from datagen._datamodel.seeds import load_seeds_file, to_seeds
from datagen._text.rouge import RougeLIndex, tokenize

SEEDS = load_seeds_file(datagen.SEED_TASKS)


THREADS = [2]


def run(method: str, seeds: Any, count: int, **options: Any) -> tuple[Any, Any]:
    """Run ``method`` on the local backend; returns (results, run stats)."""
    config = load_config(
        data={"backend": {"name": "local", "local": {"threads": THREADS[0]}}, "method": {method: options}},
        environ={},
    )
    pm = load_plugins()
    prepared = prepare(config, pm, to_seeds(seeds), count=count, method=method)
    started = time.perf_counter()
    results = run_sync(execute(prepared, pm))
    stats = prepared.run.stats
    print(
        f"{method}: {len(results)} records, {stats.requests} requests ({stats.cached} cached), "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return results, stats


def self_instruct(count: int, classify_with: str) -> None:
    results, stats = run(
        "self_instruct",
        SEEDS,
        count,
        instruction_max_tokens=160,
        instance_max_tokens=128,
        classify_with=classify_with,
    )
    rejected = {k: v for k, v in stats.dropped.items() if k not in {"request_failed"}}
    candidate_reasons = {k: v for k, v in rejected.items() if not k.startswith(("instance_", "no_instance"))}
    candidates = (
        len(results)
        + sum(candidate_reasons.values())
        + sum(v for k, v in rejected.items() if k.startswith(("instance_", "no_instance")))
    )
    instructions = [r.instruction for r in results]
    seed_index = RougeLIndex(0.0001, (s.instruction or "" for s in SEEDS))
    to_seeds_max = [seed_index.best_match(i)[0] for i in instructions]
    print(
        f"kept {len(results)} of {candidates} candidate tasks: ratio {len(results) / max(1, candidates):.3f}"
    )
    print(
        f"distinct instructions: {len({' '.join(tokenize(i)) for i in instructions})} of {len(instructions)}"
    )
    print(
        f"max ROUGE-L to the seeds: max {max(to_seeds_max, default=0):.3f}, "
        f"mean {statistics.mean(to_seeds_max) if to_seeds_max else 0:.3f}"
    )
    print(f"classification tasks: {sum(r.metadata['is_classification'] for r in results)}")
    print("rejected by reason: " + ", ".join(f"{k}={v}" for k, v in Counter(rejected).most_common()))
    for record in itertools.islice(results, 5):
        print(f"  e.g. {record.instruction!r} -> {record.output[:80]!r}")


def evol(count: int, rounds: int) -> None:
    instructions = [s.instruction for s in SEEDS[:count]]
    results, stats = run(
        "evol_instruct", instructions, count * rounds, rounds=rounds, max_tokens=96, answer_max_tokens=128
    )
    by_round = Counter(r.metadata["round"] for r in results)
    eliminated = {k: v for k, v in stats.dropped.items() if k.startswith("eliminated_")}
    attempted = len(results) + sum(eliminated.values())
    print(
        f"evolutions attempted {attempted}, kept {len(results)} ({dict(sorted(by_round.items()))} by round)"
    )
    print(
        f"eliminated {sum(eliminated.values())}: "
        + ", ".join(f"{k}={v}" for k, v in Counter(eliminated).most_common())
    )
    print(
        "operations kept: "
        + ", ".join(f"{k}={v}" for k, v in Counter(r.metadata["operation"] for r in results).most_common())
    )


def copy_rate(count: int) -> None:
    examples = [{"instruction": s.instruction} for s in SEEDS[:count]]
    naive = {"paraphrase_completion": "Paraphrase the following text.\n\nText: {{ text }}\nParaphrase:"}
    for label, prompts in (("naive prompt", naive), ("datagen prompt", {})):
        results, stats = run(
            "paraphrase",
            examples,
            count,
            variations_per_example=1,
            max_attempts=1,
            prompts=prompts,
            max_tokens=64,
        )
        copies = stats.dropped.get("copy", 0)
        reasons = ", ".join(f"{k}={v}" for k, v in stats.dropped.most_common())
        print(
            f"{label}: {copies} of {count} answers were copies or near-copies ({copies / count:.0%}); "
            f"kept {len(results)}; rejected: {reasons}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("what", choices=["self_instruct", "evol", "copy_rate"])
    parser.add_argument("--count", type=int)
    parser.add_argument("--classify-with", default="model", choices=["model", "keywords"])
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads of the local model")
    args = parser.parse_args()
    THREADS[0] = args.threads
    if args.what == "self_instruct":
        self_instruct(args.count or 200, args.classify_with)
    elif args.what == "evol":
        evol(args.count or 100, 2)
    else:
        copy_rate(args.count or 20)


if __name__ == "__main__":
    sys.exit(main())
