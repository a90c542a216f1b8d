"""Metric speed and memory on 10k / 100k (/ 1M) records, one process, this machine.

    python benchmarks/metrics.py [--sizes 10000 100000] [--big 1000000]

Records are 2-5 real review sentences each (examples/data/sentiment_labelled_sentences, drawn with
replacement: ~40 words, real English for readability and topics). For each size: the time of stats,
diversity, readability and topics (each alone, then the four together, the issue's target: under 60 s
at 100k), records per second, and the process's peak memory growth. ``--big`` runs stats and diversity
alone at that size, to show their cost linear in the data. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from pathlib import Path

import datagen
from datagen.metrics import compute

DATA = Path(__file__).resolve().parents[1] / "examples" / "data" / "sentiment_labelled_sentences"


def sentences() -> list[str]:
    out = []
    for path in sorted(DATA.glob("*_labelled.txt")):
        for line in path.read_text().splitlines():
            text, _, label = line.rpartition("\t")
            if text.strip() and label.strip() in {"0", "1"}:
                out.append(text.strip())
    return out


def records(n: int, pool: list[str], seed: int = 0) -> list[datagen.Record]:
    rng = random.Random(seed)
    return [
        datagen.Record(
            id=str(i),
            instruction="Write a short review.",
            output=" ".join(rng.sample(pool, rng.randint(2, 5))),
        )
        for i in range(n)
    ]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--big", type=int, default=0)
    args = parser.parse_args()
    pool = sentences()
    names = ["stats", "diversity", "readability", "topics"]
    print(f"{'records':>9} {'metric':>24} {'seconds':>8} {'records/s':>10} {'peak MB':>8}")
    for size in args.sizes:
        data = datagen.Results(records(size, pool))
        for name in names:
            start = time.perf_counter()
            found = compute(data, [name])
            took = time.perf_counter() - start
            note = " (skipped)" if "skipped" in found[name] else ""
            print(f"{size:>9,} {name + note:>24} {took:8.2f} {size / took:10,.0f} {peak_mb():8.0f}")
        start = time.perf_counter()
        compute(data, names)
        took = time.perf_counter() - start
        print(
            f"{size:>9,} {'all four (target < 60 s)':>24} {took:8.2f} {size / took:10,.0f} {peak_mb():8.0f}"
        )
    if args.big:
        data = datagen.Results(records(args.big, pool))
        for name in ("stats", "diversity"):
            start = time.perf_counter()
            compute(data, [name])
            took = time.perf_counter() - start
            print(f"{args.big:>9,} {name:>24} {took:8.2f} {args.big / took:10,.0f} {peak_mb():8.0f}")


if __name__ == "__main__":
    main()
