"""The adaptive engine against a real server that queues: llama.cpp serving the embedded model.

    python benchmarks/real_queue.py [--parallel 4] [--requests 96] [--max-tokens 24] [--repeats 1]

``datagen serve --parallel P`` runs llama.cpp (through xllamacpp) with P slots: it decodes P requests
at once, batched, and queues the rest without a 429, as a default vLLM or Ollama does. Each arm sends
the same ``--requests`` completion requests (distinct prompts, ``--max-tokens`` each, temperature 0.7, no
cache) through datagen's engine and ``openai`` backend, in this process:

- ``at 1``: one at a time, the unloaded latency;
- ``at P``: the tuned client, one request per slot;
- ``nothing set``: the adaptive default (slow start from 8, the queue signal);
- ``at 4P``: a client that overloads the server.

Printed per arm: seconds, requests and completion tokens per second as a share of the tuned arm, and
the latency per request on the wire (the server's queue included, the engine's own wait for a slot
not), p50 and p95, against the unloaded p50. llama.cpp's own batching
makes a request slower with more in its batch, so the latency at P is above the unloaded one even
without a queue. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from datagen._datamodel.config import EngineConfig
from datagen._engine.core import Engine
from datagen._engine.llm import Request
from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

SUBJECTS = ("rivers", "bridges", "owls", "glass", "tides", "copper", "maple trees", "comets", "salt")


def start_server(parallel: int) -> tuple[subprocess.Popen[str], str]:
    """``datagen serve`` on a free port; the base URL once it listens."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "datagen", "serve", "--port", "0", "--parallel", str(parallel)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "serving" in line and " at " in line:
            return proc, line.split(" at ")[-1].split(";")[0].strip()
    raise RuntimeError(f"datagen serve exited {proc.wait()} before listening")


def requests(n: int, max_tokens: int, offset: int) -> list[Request]:
    """Distinct completion prompts (the embedded model is a base model: no chat template)."""
    return [
        Request(
            prompt=f"A paragraph about {SUBJECTS[i % len(SUBJECTS)]}, fact number {i + offset}:",
            max_tokens=max_tokens,
        )
        for i in range(n)
    ]


class Timed:
    """The backend, with the time each request spent on the wire (the server's queue included, the
    engine's own wait for a slot not)."""

    def __init__(self, backend: OpenAIBackend) -> None:
        self.backend = backend
        self.latencies: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)

    async def complete(self, request: Request) -> Any:
        sent = time.perf_counter()
        try:
            return await self.backend.complete(request)
        finally:
            self.latencies.append(time.perf_counter() - sent)


async def run_arm(url: str, reqs: list[Request], concurrency: int | None) -> dict[str, Any]:
    backend = Timed(OpenAIBackend(OpenAIConfig(base_url=url, api_key="sk-bench", api="completions")))
    config = EngineConfig() if concurrency is None else EngineConfig(max_concurrency=concurrency)
    engine = Engine(backend, config, backend_name="openai")  # type: ignore[arg-type]
    start = time.perf_counter()
    try:
        answers = await asyncio.gather(*(engine.complete(r) for r in reqs))
    finally:
        await engine.aclose()
    took = time.perf_counter() - start
    latencies = sorted(backend.latencies)
    return {
        "seconds": took,
        "tokens": sum(a.usage.completion_tokens for a in answers),
        "p50": latencies[len(latencies) // 2],
        "p95": latencies[int(0.95 * len(latencies))],
        "limit": engine.limit.limit,
        "ceiling": engine.limit.ceiling,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--parallel", type=int, default=4, help="llama.cpp slots")
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    p = args.parallel
    print(f"real queue benchmark, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    proc, url = start_server(p)
    try:
        asyncio.run(run_arm(url, requests(2 * p, args.max_tokens, 10**6), p))  # load and warm the model
        unloaded = asyncio.run(run_arm(url, requests(max(8, p), args.max_tokens, 2 * 10**6), 1))
        base = unloaded["p50"]
        print(
            f"llama.cpp with {p} slots (datagen serve --parallel {p}), {args.requests} completions of "
            f"up to {args.max_tokens} tokens; unloaded latency (one at a time) p50 {base:.2f} s"
        )
        arms: list[tuple[str, int | None]] = [
            (f"at {p} (tuned)", p),
            ("nothing set", None),
            (f"at {4 * p}", 4 * p),
        ]
        tuned: dict[str, Any] | None = None
        for repeat in range(args.repeats):
            for label, concurrency in arms:
                offset = (repeat * len(arms) + arms.index((label, concurrency))) * args.requests
                r = asyncio.run(run_arm(url, requests(args.requests, args.max_tokens, offset), concurrency))
                if concurrency == p:
                    tuned = r
                assert tuned is not None
                rate = args.requests / r["seconds"]
                share = (
                    tuned["seconds"] / r["seconds"],
                    r["tokens"] / r["seconds"] / (tuned["tokens"] / tuned["seconds"]),
                )
                learned = "" if concurrency else f"; limit {r['limit']:.1f}, cap {r['ceiling']}"
                print(
                    f"  {label:16s} {r['seconds']:6.1f} s, {rate:.2f} req/s ({share[0]:.2f}x tuned; tokens/s "
                    f"{share[1]:.2f}x); latency p50 {r['p50'] / base:.2f}x, p95 {r['p95'] / base:.2f}x "
                    f"unloaded{learned}"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
