"""The ``hf`` exporter's peak memory and time, against the ``openai`` exporter on the same records.

    python benchmarks/hf_export_memory.py [--records 200000] [--chars 600]

Each arm runs in a fresh process that makes its records on the fly (an instruction, an
output of about ``--chars`` characters, metadata and provenance) and exports them, ``openai`` (chat
JSON Lines written line by line: the baseline) or ``hf`` (a dataset folder: shards, the ``sft`` view,
``load_from_disk``'s files and the card). Arms: ``openai`` and ``hf`` on ``--records`` records, and
``hf`` on 1,000 (its fixed cost: datasets and pyarrow imported). Prints each arm's seconds and peak
resident memory (``ru_maxrss``), and ``hf``'s peak on ``--records`` as a ratio to its peak on 1,000:
near 1 when memory does not grow with the dataset. Nothing is asserted.
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
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def records(n: int, chars: int, seed: int = 0) -> Iterator[object]:
    import datagen

    rng = random.Random(seed)
    words = [f"word{i}" for i in range(20_000)]
    usage = datagen.Usage(prompt_tokens=40, completion_tokens=150, cost_usd=0.0001)
    for i in range(n):
        output = " ".join(rng.choices(words, k=chars // 8))
        made = datagen.Provenance(
            method="respond", backend="echo", model="m", usage=usage, params={"temperature": 0.7}
        )
        yield datagen.Record(
            id=str(i),
            instruction=f"Question {i}: " + " ".join(rng.choices(words, k=12)),
            output=output,
            metadata={"topic": rng.choice(words), "score": rng.random()},
            provenance=made,
        )


def arm(fmt: str, n: int, chars: int) -> None:
    """One export in this process; prints its seconds and peak memory as JSON."""
    import datagen
    from datagen._app.exports import export

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("out.jsonl" if fmt == "openai" else "dataset")
        start = time.perf_counter()
        done = export(records(n, chars), fmt, out, plugins=datagen.load_plugins())
        took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": took, "peak_mb": peak, "rows": done["rows"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--chars", type=int, default=600)
    parser.add_argument("--arm", choices=["openai", "hf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        arm(args.arm, args.records, args.chars)
        return
    found = {}
    for fmt, n in (("openai", args.records), ("hf", 1_000), ("hf", args.records)):
        command = [sys.executable, __file__, "--arm", fmt, "--records", str(n), "--chars", str(args.chars)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        f = found[fmt, n] = json.loads(result.stdout.strip().splitlines()[-1])
        peak = f"peak resident memory {f['peak_mb']:,.0f} MB"
        print(f"{fmt:6}: {f['rows']:>9,} records in {f['seconds']:6.1f} s, {peak}")
    big, small = found["hf", args.records], found["hf", 1_000]
    print(
        f"hf peak memory, {args.records:,} records / 1,000 records: {big['peak_mb'] / small['peak_mb']:.2f}x"
    )
    took = big["seconds"] / found["openai", args.records]["seconds"]
    print(f"hf / openai time on {args.records:,} records: {took:.2f}x")


if __name__ == "__main__":
    main()
