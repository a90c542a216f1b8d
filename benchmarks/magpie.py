"""Magpie on the embedded model: the well-formed share of the queries it writes, as it is.

    python benchmarks/magpie.py [--count 20] [--threads 2] [--template tests/data/chat_templates/gemma3.jinja]

The default embedded model is Gemma 3 270M *base*: its GGUF carries no chat template, and a base model
was never aligned to write user turns, so this is a floor, not Magpie's promise. The template given is
Gemma 3's published one (the family the model comes from). Printed: queries written, the well-formed
share, the reasons the others failed, three kept queries, requests and wall time. Nothing is asserted;
the cache is a fresh temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TEMPLATE = Path(__file__).resolve().parents[1] / "tests" / "data" / "chat_templates" / "gemma3.jinja"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--template", default=str(TEMPLATE))
    parser.add_argument("--max-tokens", type=int, default=96, help="per answer")
    args = parser.parse_args()

    import datagen

    with tempfile.TemporaryDirectory() as cache:
        config = datagen.load_config(
            data={
                "backend": {"name": "local", "local": {"threads": args.threads}},
                "cache": {"dir": cache},
                "sampling": {"max_tokens": args.max_tokens},
            },
            environ={},
        )
        start = time.perf_counter()
        results = datagen.Generator(config).run(
            "magpie", [], args.count, chat_template=args.template, bos_token="<bos>", eos_token="<eos>"
        )
        took = time.perf_counter() - start
    d = results.report.method_details
    print(f"template {d['template']}; pre-query {d['pre_query_template']!r}")
    print(f"records {len(results)} of {args.count}; queries written {d['queries']}")
    print(f"well formed {d['well_formed']} ({d['well_formed_share']}); the others: {d['malformed']}")
    for record in list(results)[:3]:
        print(f"  - {record.instruction[:120]!r}")
    print(f"requests {results.report.requests}; {took:.0f} s")


if __name__ == "__main__":
    main()
