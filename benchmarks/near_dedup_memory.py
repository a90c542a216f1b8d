"""near_dedup's peak memory on many short records, streamed through the stage to a file.

    python benchmarks/near_dedup_memory.py [--records 1000000]

Each record is 20 words drawn from a 50,000-word vocabulary; the stage keeps one signature (128
uint32) and one LSH bucket entry per band for every kept record. Prints the time and the process's
peak resident memory (``ru_maxrss``); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator

import datagen
from datagen._app.pipeline import apply_stages


def records(n: int, seed: int = 0) -> Iterator[datagen.Record]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(50_000)]
    for i in range(n):
        yield datagen.Record(id=str(i), output=" ".join(rng.choices(vocab, k=20)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    config = {"filter": {"near_dedup": {"fields": ["output"]}}}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        apply_stages(
            records(args.records), ["near_dedup"], config=config, out=os.path.join(tmp, "kept.jsonl")
        )
        took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"near_dedup: {args.records:,} short records in {took:.1f} s ({args.records / took:,.0f}/s)")
    print(f"peak resident memory {peak:,.0f} MB  (target < 2,048 MB)")


if __name__ == "__main__":
    main()
