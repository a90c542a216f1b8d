"""``translate`` on the embedded model: the share of records that come back in the asked language.

    python benchmarks/translate.py [--count 20] [--languages fr de es] [--threads 2]

Self-Instruct seed tasks (instruction and output, taken from ``--offset`` on) are translated into each
language by Gemma 3 270M base through completion prompts, with the language check off, and the result is
identified with the ``language`` filter's identifier: printed per language, the share of records whose
every field of 20+ characters is in that language (what the check would keep), and the wall time. The
same run with the check on would drop and count the rest. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--offset", type=int, default=140)
    parser.add_argument("--languages", nargs="+", default=["fr", "de", "es"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    import datagen
    from datagen._datamodel.seeds import load_seeds_file
    from datagen.plugin import Rejected
    from datagen_plugins.filters.language import Language, LanguageConfig

    seeds = [s for s in load_seeds_file(datagen.SEED_TASKS)[args.offset :] if s.output][: args.count]
    with tempfile.TemporaryDirectory() as cache:
        config = datagen.load_config(
            data={"backend": {"name": "local", "local": {"threads": args.threads}}, "cache": {"dir": cache}},
            environ={},
        )
        gen = datagen.Generator(config)
        for code in args.languages:
            start = time.perf_counter()
            results = gen.run("translate", seeds, len(seeds), language=code, check_language=False)
            took = time.perf_counter() - start
            checker = Language(LanguageConfig(languages=[code]))
            kept = sum(not isinstance(checker.process(None, r), Rejected) for r in results)  # type: ignore[arg-type]
            print(
                f"{code}: {kept} of {len(results)} records in {code} ({kept / max(1, len(results)):.0%}); "
                f"languages seen {dict(checker.seen.most_common(4))}; {took:.0f} s"
            )


if __name__ == "__main__":
    main()
