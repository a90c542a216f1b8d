"""The adaptive concurrency limit against answers whose lengths vary as LLM answers do, on virtual time.

    python benchmarks/latency_spread.py [--requests 60000] [--seeds 20] [--first-seed 600]

LLM answers vary in length, and so in latency: roughly lognormal. Each arm runs ``AdaptiveLimit``
(the engine's limit, nothing set) and a fixed limit in the same process, on a virtual clock, against a
simulated server that serves ``slots`` requests at once and queues the rest first come, first served;
each answer takes 0.1 s times a lognormal draw of ``sigma``:

- *no queue* (100,000 slots: a large API): the adaptive limit's time over the fixed limit's (1,024,
  the adaptive limit's most), and how many runs ended with a learned cap (the server has none);
- *queue* (16, 32 or 64 slots): the adaptive limit's throughput over the fixed limit's (at the
  slots), and p95 latency over the mean service time.

Nothing is asserted; the same seeds give the same figures.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from datagen._engine.core import ADAPTIVE_MAX, AdaptiveLimit
from datagen._engine.simulate import serve_fifo

SERVICE_S = 0.1


class Clock:
    """Virtual time: moves only when the simulated server answers."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(fixed: int | None, slots: int, n: int, sigma: float, seed: int) -> tuple[float, int | None, float]:
    """Seconds, the cap learned (None: none) and p95 latency of one run."""
    clock = Clock()
    limit = AdaptiveLimit(fixed, clock)
    latencies = sorted(serve_fifo(limit, clock, slots, SERVICE_S, n, seed=seed, sigma=sigma))
    return clock.now, limit.ceiling, latencies[int(0.95 * len(latencies))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=60_000, help="requests per no-queue run")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=600)
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    started = time.perf_counter()
    print(f"latency spread benchmark: seeds {seeds.start}-{seeds.stop - 1}, virtual time")
    for sigma in (0.5, 0.75, 1.0):
        ratios, caps = [], []
        for seed in seeds:
            adaptive, cap, _ = run(None, 100_000, args.requests, sigma, seed)
            fixed, _, _ = run(ADAPTIVE_MAX, 100_000, args.requests, sigma, seed)
            ratios.append(adaptive / fixed)
            if cap is not None:
                caps.append(cap)
        print(
            f"no queue, lognormal sigma {sigma}, {args.requests} requests: time / fixed {ADAPTIVE_MAX}: "
            f"median {statistics.median(ratios):.2f}, worst {max(ratios):.2f}; "
            f"capped {len(caps)} of {len(ratios)} runs {sorted(caps)}"
        )
    mean = {sigma: SERVICE_S * math.exp(sigma**2 / 2) for sigma in (0.3, 0.5, 0.75)}
    for slots, sigma in ((16, 0.5), (32, 0.3), (64, 0.75)):
        n = 250 * slots
        shares, p95s = [], []
        for seed in list(seeds)[:6]:
            adaptive, _, p95 = run(None, slots, n, sigma, seed)
            fixed, _, _ = run(slots, slots, n, sigma, seed)
            shares.append(fixed / adaptive)
            p95s.append(p95 / mean[sigma])
        print(
            f"queue of {slots} slots, lognormal sigma {sigma}, {n} requests: throughput / fixed {slots}: "
            f"median {statistics.median(shares):.2f}, worst {min(shares):.2f}; p95 / mean service: "
            f"median {statistics.median(p95s):.2f}, worst {max(p95s):.2f}"
        )
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
