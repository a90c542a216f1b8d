"""A concurrency cap learned on a loaded machine: requests timed from the send, or from the wire.

    python benchmarks/wire_time.py [--runs 40] [--busy 3] [--concurrency 32]

Each run sends 200 requests through the OpenAI backend (``direct`` transport) to the loopback server,
which serves 8 at once in 0.05 s and answers 429 (``Retry-After: 1``) above that, while ``--busy``
other processes spin on the machine's cores. Slow start overshoots to 16: the 8 requests past the
first round open new connections, which on a loaded machine can take longer than serving does. Runs
alternate between two arms in one process:

- *send*: the backend's hook is muted, so the engine times each request from when it was sent;
- *wire*: the backend says when each request went out on an open connection
  (``datagen.plugin.on_the_wire``), and the engine times it from there.

A run went wrong when it ended without the cap of 8, paused for a ``Retry-After``, learned a pace (a
cap is no spent budget) or met more than 20 refusals (slow start overshooting more than once). Prints
each arm's count of such runs and its median run time. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from datagen._datamodel.config import EngineConfig
from datagen._engine.core import Engine
from datagen._engine.llm import Request
from datagen.testing_server import Behaviour, LoopbackServer
from datagen_plugins.backends import _sdk
from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

CAP = 8
REQUESTS = 200


async def one_run(srv: LoopbackServer, concurrency: int | None) -> Engine:
    backend = OpenAIBackend(OpenAIConfig(base_url=srv.url + "/v1", api_key="sk-bench"))
    config = EngineConfig() if concurrency is None else EngineConfig(max_concurrency=concurrency)
    engine = Engine(backend, config, backend_name="openai")
    try:
        requests = [Request(prompt=f"request {i}", max_tokens=8) for i in range(REQUESTS)]
        await asyncio.gather(*(engine.complete(r) for r in requests))
    finally:
        await engine.aclose()
    return engine


def wrong(engine: Engine, srv: LoopbackServer) -> str | None:
    """What went wrong in a run (None: nothing)."""
    if engine.limit.ceiling != CAP:
        return f"ended with cap {engine.limit.ceiling}"
    if engine._cooldown_until:
        return "paused"
    if engine._rpm is not None:
        return "learned a pace"
    if srv.errors["429-cap"] > 20:
        return f"{srv.errors['429-cap']} refusals"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per arm")
    parser.add_argument("--busy", type=int, default=3, help="processes spinning meanwhile")
    parser.add_argument("--concurrency", type=int, help="--concurrency (the engine's most)")
    args = parser.parse_args()
    said = _sdk.on_the_wire
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    failures: dict[str, list[str]] = {"send": [], "wire": []}
    times: dict[str, list[float]] = {"send": [], "wire": []}
    try:
        for run in range(2 * args.runs):
            arm = ("send", "wire")[run % 2]
            _sdk.on_the_wire = said if arm == "wire" else lambda: None  # type: ignore[assignment]
            with LoopbackServer(Behaviour(latency_s=0.05, max_in_flight=CAP)) as srv:
                start = time.perf_counter()
                engine = asyncio.run(one_run(srv, args.concurrency))
                times[arm].append(time.perf_counter() - start)
                if (what := wrong(engine, srv)) is not None:
                    failures[arm].append(what)
    finally:
        _sdk.on_the_wire = said
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    print(f"{args.runs} runs per arm, {args.busy} busy processes, cap {CAP}, {REQUESTS} requests")
    for arm in ("send", "wire"):
        went = failures[arm]
        print(
            f"  timed from the {arm:<4}: {len(went)} of {args.runs} went wrong"
            f" ({', '.join(went) or 'none'}); median run {statistics.median(times[arm]):.2f} s"
        )


if __name__ == "__main__":
    main()
