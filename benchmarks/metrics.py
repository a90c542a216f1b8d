"""Metric speed and memory on 10k / 100k (/ 1M) records, one process, this machine.

    python benchmarks/metrics.py [--sizes 10000 100000] [--big 1000000]
    python benchmarks/metrics.py --whole-process 100000 [--seed 1]   # needs faker


Records are 2-5 real review sentences each (examples/data/sentiment_labelled_sentences, drawn with
replacement: ~40 words, real English for readability and topics). For each size: the time of stats,
diversity, readability and topics (each alone, then the four together, the issue's target: under 60 s
at 100k), records per second, and the process's peak memory growth. ``--big`` runs stats and diversity
alone at that size, to show their cost linear in the data. Nothing is asserted.

``--whole-process N`` times ``datagen metrics`` with the four metrics as users run it, a process from
spawn to exit, on N records of 15-50 words made by Faker (``en_US``: its sentences and catch phrases,
English words; a corpus nothing here was tuned on, new with each ``--seed``): once with the metrics in
worker processes (the default) and once with ``DATAGEN_METRICS_WORKERS=1`` (one after the other), as
the baseline; the two outputs are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
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


def faker_corpus(path: Path, n: int, seed: int) -> None:
    """``n`` JSONL records whose outputs are 15-50 words of Faker's English sentences and phrases."""
    from faker import Faker

    rng, fake = random.Random(seed), Faker("en_US")
    fake.seed_instance(seed)
    with open(path, "w") as fh:
        for _ in range(n):
            size, words = rng.randint(15, 50), []
            while len(words) < size:
                if rng.random() < 0.3:
                    words += fake.sentence(nb_words=rng.randint(6, 14)).split()
                else:
                    words += fake.catch_phrase().split() + fake.bs().split()
            fh.write(json.dumps({"instruction": fake.sentence(), "output": " ".join(words[:size])}) + "\n")


def whole_process(n: int, seed: int) -> None:
    """``datagen metrics`` as a process, in workers and one after the other."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        faker_corpus(corpus, n, seed)
        took, outputs = {}, {}
        for label, workers in (("one after the other", "1"), ("worker processes", "")):
            out = Path(tmp) / f"metrics{workers}.json"
            env = {**os.environ, "DATAGEN_METRICS_WORKERS": workers} if workers else dict(os.environ)
            command = [sys.executable, "-m", "datagen", "metrics", str(corpus), "--json", str(out)]
            for name in ("stats", "diversity", "readability", "topics"):
                command += ["--metric", name]
            start = time.perf_counter()
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
            took[label] = time.perf_counter() - start
            outputs[label] = json.loads(out.read_text())
            print(f"{n:,} records, {label}: {took[label]:.1f} s")
        same = outputs["one after the other"] == outputs["worker processes"]
        ratio = took["one after the other"] / took["worker processes"]
        print(f"workers / one after the other: {ratio:.2f}x faster; same output: {same}")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--big", type=int, default=0)
    parser.add_argument("--whole-process", type=int, default=0, help="records of the whole-process run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.whole_process:
        whole_process(args.whole_process, args.seed)
        return
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
