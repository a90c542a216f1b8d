"""A simulated server on virtual time, to measure the adaptive limit without sockets or waiting
(tests and ``benchmarks/latency_spread.py``)."""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from typing import Protocol

from datagen._engine.core import AdaptiveLimit, Flight


class VirtualClock(Protocol):
    """A clock whose time the simulation sets (the limit reads it through its own ``clock``)."""

    now: float


def serve_fifo(
    limit: AdaptiveLimit,
    t: VirtualClock,
    slots: int,
    service: float,
    n: int,
    *,
    spread: float = 0.0,
    seed: int = 7,
    sigma: float = 0.0,
) -> list[float]:
    """``n`` requests, as many in flight as the limit allows, through a server that serves ``slots``
    at once (``service`` seconds each, ± ``spread`` of it, or times a lognormal draw of ``sigma``, as
    LLM answers' lengths vary, drawn with ``seed``) and queues the rest first come, first served; each
    request's latency, in the order answered."""
    rng = random.Random(seed)
    waiting: deque[Flight] = deque()
    serving: list[tuple[float, int, Flight]] = []
    latencies: list[float] = []
    sent, order = 0, itertools.count()
    while len(latencies) < n:
        while sent < n and limit.in_flight < int(limit.limit):
            limit.in_flight += 1
            waiting.append(limit.sent())
            sent += 1
        while waiting and len(serving) < slots:
            took = service * (rng.lognormvariate(0, sigma) if sigma else 1 + rng.uniform(-spread, spread))
            heapq.heappush(serving, (t.now + took, next(order), waiting.popleft()))
        t.now, _, flight = heapq.heappop(serving)
        limit.in_flight -= 1
        latencies.append(t.now - flight.sent_at)
        limit.on_success(flight)  # before landed, as the engine does
        limit.landed(flight)
    return latencies
