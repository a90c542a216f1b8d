"""Preference pairs on the embedded model: what the judge's fail-closed parsing, the margin and the
two-order pairwise check leave, and the bias figures every run reports.

    python benchmarks/preference.py [--instructions 8] [--candidates 3] [--threads 2]
    python benchmarks/preference.py --loopback [--instructions 200] [--candidates 4]

The instructions are Self-Instruct seed tasks taken from the end of the file (``--offset``), answered and
judged by Gemma 3 270M through the ``local`` backend: the same small model writes and judges, which is
what a user without an API key gets. Printed per mode (rubric only; rubric + pairwise): pairs per
instruction, tie rate, ratings dropped unparsed, position-flip rate, length bias, the score distribution
of one aspect, requests and wall time. Nothing is asserted; the cache is a fresh temporary directory.

With ``--loopback`` the same runs go through the ``openai`` backend to datagen's loopback server, whose
answers differ with each candidate's sampling seed and temperature, and whose
structured answers are judges of known behaviour: scores by the prompt's hash (a judge whose ratings
carry no information) and, for the pairwise verdict, either by the hash too (``--judge hash``: a coin)
or always the first answer shown (``--judge first``: a judge that follows position only). What a run
reports can then be checked against what the judge is: the pairwise check should turn every pair of
the position-following judge into a tie (flip rate 1.0), about half of the coin's, and the length bias
of scores that ignore length should be near 0.5.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=8)
    parser.add_argument("--offset", type=int, default=120, help="first seed task used (0-174)")
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--max-tokens", type=int, default=96, help="per candidate answer")
    parser.add_argument("--rationale-chars", type=int, default=300, help="rationale_max_chars")
    parser.add_argument("--loopback", action="store_true", help="judge through the loopback server")
    parser.add_argument("--judge", nargs="+", default=["hash", "first"], help="loopback pairwise judges")
    args = parser.parse_args()

    import datagen
    from datagen._datamodel.seeds import load_seeds_file

    seeds = load_seeds_file(datagen.SEED_TASKS)
    if args.loopback:
        from datagen.testing_server import Behaviour, LoopbackServer

        # instructions beyond the 175 seeds: the same tasks with a number, so each is another prompt
        asked = [seeds[i % len(seeds)].evolve(id=f"s{i}") for i in range(args.instructions)]
        asked = [s.evolve(instruction=f"{s.instruction} (variant {i})") for i, s in enumerate(asked)]
        for judge in args.judge:
            with LoopbackServer(Behaviour(enum_choice=judge, vary_answers=True)) as srv:
                backend = {"name": "openai", "openai": {"base_url": srv.url + "/v1", "api_key": "sk-bench"}}
                print(f"\n== loopback server, pairwise judge: {judge}")
                run_modes(datagen, asked, args, backend)
        return
    asked = seeds[args.offset : args.offset + args.instructions]
    run_modes(datagen, asked, args, {"name": "local", "local": {"threads": args.threads}})


def run_modes(
    datagen: Any,
    seeds: list[Any],
    args: Any,
    backend: dict[str, Any],
    modes: tuple[bool, ...] = (False, True),
) -> None:
    """Preference pairs from ``seeds`` through ``backend``, rubric only and with the pairwise check."""
    with tempfile.TemporaryDirectory() as cache:
        for pairwise in modes:
            config = datagen.load_config(
                data={
                    "backend": backend,
                    "cache": {"dir": cache},  # the pairwise run reuses the rubric run's answers and ratings
                    "sampling": {"max_tokens": args.max_tokens},
                },
                environ={},
            )
            gen = datagen.Generator(config)
            start = time.perf_counter()
            results = gen.run(
                "preference",
                seeds,
                len(seeds),
                candidates=args.candidates,
                pairwise=pairwise,
                rationale_max_chars=args.rationale_chars,
            )
            took = time.perf_counter() - start
            report = results.report
            d = report.method_details
            mode = "rubric + pairwise" if pairwise else "rubric"
            print(f"\n{mode}: {len(results)} pairs from {len(seeds)} asked")
            for key in (
                "instructions",
                "pairs_per_instruction",
                "tie_rate",
                "ratings",
                "ratings_unparsed_dropped",
                "pairwise_judged",
                "position_flip_rate",
                "length_bias",
                "judge_model",
            ):
                print(f"  {key:26} {d.get(key)}")
            print(f"  {'helpfulness scores':26} {d['score_distribution'].get('helpfulness')}")
            print(f"  {'dropped by reason':26} {report.method_rejections}")
            print(f"  {'requests (cached)':26} {report.requests} ({report.cached}); {took:.0f} s")


if __name__ == "__main__":
    main()
