"""Which JSON library reads and writes datagen's JSON Lines: the standard library's ``json``, ``orjson``
and ``msgspec``, side by side on the same record lines, printed as ratios against ``json``.

    pip install orjson msgspec    # orjson only for the comparison; msgspec is a dependency
    python benchmarks/jsonl.py [--records 100000] [--repeats 5]

Records are datagen's own (instruction, output of 150-250 words, metadata with numbers and nested
values, non-ASCII text), made here with a fixed seed. Decoding is timed from the bytes of each line
(as ``iter_records`` reads them), encoding from the plain dict ``record_to_dict`` gives (as the
writer writes them); medians of ``repeats``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

ENGLISH = (
    "the data model answer question synthetic corpus token training record quality filter dedup privacy "
    "metric report pipeline export language instruction response example seed of a to and is in"
).split()
#: words of French, German, Russian and Chinese text: every character outside ASCII
OTHER = "évaluation Größe naïve données réponse Qualität Übung данные ответ 数据 模型 训练".split()


def make_records(n: int, seed: int = 0, other_share: float = 0.0) -> list[dict[str, Any]]:
    """``n`` record dicts shaped like datagen's output; ``other_share`` of them in other languages."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = OTHER if rng.random() < other_share else ENGLISH
        output = " ".join(rng.choice(words) for _ in range(rng.randint(150, 250)))
        out.append(
            {
                "id": f"{i:032x}",
                "instruction": " ".join(rng.choice(words) for _ in range(rng.randint(5, 20))),
                "input": None,
                "output": output,
                "messages": None,
                "method": "self_instruct",
                "model": "gemma3-270m",
                "metadata": {
                    "attempts": rng.randint(1, 3),
                    "score": rng.random(),
                    "lineage": {"seed": f"s{rng.randint(0, 999)}", "depth": rng.randint(0, 4)},
                    "tags": [rng.choice(words) for _ in range(3)],
                },
            }
        )
    return out


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    libraries: dict[str, tuple[Callable[[bytes], Any], Callable[[Any], Any]]] = {
        "json": (json.loads, lambda r: json.dumps(r, ensure_ascii=False, separators=(",", ":"))),
    }
    try:
        import orjson

        libraries["orjson"] = (orjson.loads, orjson.dumps)
    except ImportError:
        print("orjson is not installed: pip install orjson")
    try:
        import msgspec

        libraries["msgspec"] = (msgspec.json.Decoder().decode, msgspec.json.Encoder().encode)
    except ImportError:
        print("msgspec is not installed: pip install msgspec")

    for label, share in (("English", 0.0), ("a quarter in other scripts", 0.25)):
        records = make_records(args.records, other_share=share)
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() for r in records]
        size = sum(map(len, lines)) / 1e6
        print(f"\n{args.records:,} records, {label}, {size:.0f} MB of JSON Lines; medians of {args.repeats}")
        base: dict[str, float] = {}
        print(f"{'library':10}{'decode s':>10}{'encode s':>10}{'decode vs json':>16}{'encode vs json':>16}")
        for name, (decode, encode) in libraries.items():
            assert [decode(line) for line in lines] == records, f"{name} decodes differently"
            took = {
                "decode": median_seconds(lambda d=decode, ls=lines: [d(line) for line in ls], args.repeats),
                "encode": median_seconds(lambda e=encode, rs=records: [e(r) for r in rs], args.repeats),
            }
            base = base or took
            print(
                f"{name:10}{took['decode']:10.3f}{took['encode']:10.3f}"
                f"{base['decode'] / took['decode']:15.1f}x{base['encode'] / took['encode']:15.1f}x"
            )


if __name__ == "__main__":
    main()
