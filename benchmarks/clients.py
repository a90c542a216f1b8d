"""Whole-process client comparison against the loopback server: start-up, clean runs, 5 % errors.

    python benchmarks/clients.py [--repeats 3] [--curator-python PATH]

Each client is its own process, timed from spawn to exit (start-up included), as a user would run it:
raw aiohttp (64 in flight, and uncapped), the plain ``AsyncOpenAI`` SDK (no cap), Bespoke Curator (its
defaults) when ``--curator-python`` names a Python with ``bespokelabs-curator`` installed (the
benchmark's own environment, not datagen's), and the ``datagen`` CLI with ``--concurrency 64``, with its
defaults, and with its defaults through the SDK's client (``transport = "lean"``). The server answers in
200 ms and announces generous rate-limit headers (60,000 rpm, as Curator needs them to go faster than
its 200-rpm fallback); the error runs inject 5 % errors, half 429 and half 500, without Retry-After.
Also: ``datagen --help`` and the time from spawn to the first request on the wire. Medians of
``--repeats``; nothing is asserted, ratios are printed.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import KEY, N, Server, prompts

RAW = """
import asyncio, json, sys, aiohttp
url, n, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    sem = asyncio.Semaphore(cap if cap > 0 else n)
    lost = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
        async def one(i):
            nonlocal lost
            async with sem:
                body = {"model": "gpt-4o-mini", "max_tokens": 64,
                        "messages": [{"role": "user", "content": f"A one-line fact about the number {i}."}]}
                async with s.post(url + "/v1/chat/completions", json=body,
                                  headers={"Authorization": "Bearer API_KEY"}) as r:
                    await r.read()
                    lost += r.status != 200
        await asyncio.gather(*(one(i) for i in range(n)))
    print(json.dumps({"lost": lost}))
asyncio.run(main())
""".replace("API_KEY", KEY)

SDK = """
import asyncio, json, sys, openai
url, n = sys.argv[1], int(sys.argv[2])
async def main():
    client = openai.AsyncOpenAI(api_key="API_KEY", base_url=url + "/v1")
    async def one(i):
        await client.chat.completions.create(model="gpt-4o-mini", max_tokens=64,
            messages=[{"role": "user", "content": f"Write a one-line fact about the number {i}."}])
    await asyncio.gather(*(one(i) for i in range(n)))
    await client.close()
asyncio.run(main())
""".replace("API_KEY", KEY)

CURATOR = """
import importlib.util, os, sys
# offline: tiktoken's cl100k_base as litellm (a Curator dependency) ships it, instead of a download
litellm = importlib.util.find_spec("litellm")
os.environ.setdefault("TIKTOKEN_CACHE_DIR",
                      os.path.join(os.path.dirname(litellm.origin), "litellm_core_utils", "tokenizers"))
from bespokelabs import curator
url, n = sys.argv[1], int(sys.argv[2])
llm = curator.LLM(model_name="gpt-4o-mini", backend="openai",
                  backend_params={"base_url": url + "/v1", "api_key": "API_KEY"},
                  generation_params={"max_tokens": 64})
llm([f"Write a one-line fact about the number {i}." for i in range(n)])
""".replace("API_KEY", KEY)


#: datagen's openai backend through the official SDK's client instead of its own direct HTTP
SDK_TRANSPORT = ("--set", "backend.openai.transport=lean")


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> float:
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, check=False, timeout=300)
    except subprocess.TimeoutExpired:
        print(f"  ! {' '.join(cmd[:3])}... still running after 300 s: stopped", flush=True)
        return float("inf")
    took = time.perf_counter() - start
    if proc.returncode != 0:
        print(
            f"  ! {' '.join(cmd[:3])}... exited {proc.returncode}: {proc.stderr.strip()[-300:]}", flush=True
        )
    return took


def median(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    return statistics.median(fn() for _ in range(repeats))


def datagen_cmd(url: str, seeds: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "datagen", "generate", "--backend", "openai", "--base-url", url + "/v1",
        "--seeds", str(seeds), "-n", str(N), "-o", str(out), "--overwrite", "--no-cache",
        "--max-tokens", "64", "--set", "engine.max_retries=10", *extra,
    ]  # fmt: skip


def first_request_s(*extra: str) -> float:
    """Seconds from spawning ``datagen generate`` to its first request arriving at a socket."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with tempfile.TemporaryDirectory() as tmp:
            seeds = Path(tmp) / "s.jsonl"
            seeds.write_text(json.dumps({"instruction": "hi"}) + "\n")
            env = {**os.environ, "OPENAI_API_KEY": KEY}
            cmd = datagen_cmd(f"http://127.0.0.1:{port}", seeds, Path(tmp) / "o.jsonl", *extra)
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            conn, _ = listener.accept()
            conn.recv(1)
            took = time.perf_counter() - start
            conn.close()
            proc.kill()
            proc.wait()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--curator-python", help="a Python with bespokelabs-curator installed")
    args = parser.parse_args()
    r = args.repeats
    env = {**os.environ, "OPENAI_API_KEY": KEY, "CURATOR_DISABLE_CACHE": "true", "CURATOR_VIEWER": "0"}
    version = sys.version.split()[0]
    # pip byte-compiles a package when it installs it; an editable checkout (and this machine, which sets
    # PYTHONDONTWRITEBYTECODE=1) would otherwise compile datagen's sources again on every start
    import datagen
    import datagen_plugins

    for package in (datagen, datagen_plugins):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
    print(f"clients as whole processes, N = {N}, 200 ms latency, medians of {r}, python {version}")

    print("\n== start-up")
    help_s = median(lambda: run([sys.executable, "-m", "datagen", "--help"]), max(r, 5))
    first = median(first_request_s, max(r, 5))
    first_sdk = median(lambda: first_request_s(*SDK_TRANSPORT), max(r, 5))
    print(f"datagen --help                       {help_s:.3f} s   (target < 0.2)")
    print(f"spawn to first request on the wire   {first:.3f} s   (target < 0.35)")
    print(f"the same through the SDK (lean)      {first_sdk:.3f} s")

    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        seeds = Path(tmp) / "s.jsonl"
        seeds.write_text("".join(json.dumps({"instruction": p}) + "\n" for p in prompts(N)))
        out = Path(tmp) / "o.jsonl"
        for label, server_args in (
            ("clean", ()),
            ("errors", ("--error-rate", "0.05", "--errors", "429,500", "--retry-after-ms", "-1")),
        ):
            base = ("--latency", "0.2", "--rate-limit-headers", "--rpm", "60000")
            with Server(*base, *server_args) as srv:
                url = srv.url
                clients = {
                    "raw aiohttp, 64 in flight": [sys.executable, "-c", RAW, url, str(N), "64"],
                    "raw aiohttp, uncapped": [sys.executable, "-c", RAW, url, str(N), "0"],
                    "AsyncOpenAI, no cap": [sys.executable, "-c", SDK, url, str(N)],
                    "datagen --concurrency 64": datagen_cmd(url, seeds, out, "--concurrency", "64"),
                    "datagen default (adaptive)": datagen_cmd(url, seeds, out),
                    "datagen default, through the SDK": datagen_cmd(url, seeds, out, *SDK_TRANSPORT),
                }
                if args.curator_python:
                    clients["Curator, default"] = [args.curator_python, "-c", CURATOR, url, str(N)]
                for name, cmd in clients.items():
                    took = median(lambda cmd=cmd: run(cmd, env=env, cwd=tmp), r)
                    rows.setdefault(name, {})[label] = took
                    print(f"  {label:6} {name:30} {took:6.2f} s", flush=True)
    print(
        "\n== the table (errors: 5 % injected, half 429 half 500, no Retry-After; raw aiohttp does not retry)"
    )
    print("| client | clean | errors | errors / clean |\n|---|---|---|---|")
    for name, t in rows.items():
        print(f"| {name} | {t['clean']:.2f} s | {t['errors']:.2f} s | {t['errors'] / t['clean']:.2f} |")
    raw64 = rows["raw aiohttp, 64 in flight"]["clean"]
    uncapped = rows["raw aiohttp, uncapped"]["clean"]
    dflt = rows["datagen default (adaptive)"]
    print(f"\nRATIO datagen default, errors / clean: {dflt['errors'] / dflt['clean']:.2f}  (target <= 1.3)")
    print(
        f"RATIO raw aiohttp 64 / datagen default, whole process: {raw64 / dflt['clean']:.2f}  (target >= 0.9)"
    )
    print(f"RATIO datagen default / uncapped raw client: {dflt['clean'] / uncapped:.2f}")

    print("\n== a server without limits: no rate-limit headers (nothing to pace by), clean")
    unlimited: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, Server("--latency", "0.2") as srv:
        seeds = Path(tmp) / "s.jsonl"
        seeds.write_text("".join(json.dumps({"instruction": p}) + "\n" for p in prompts(N)))
        out = Path(tmp) / "o.jsonl"
        for name, cmd in {
            "raw aiohttp, uncapped": [sys.executable, "-c", RAW, srv.url, str(N), "0"],
            "datagen default (adaptive)": datagen_cmd(srv.url, seeds, out),
            "datagen default, through the SDK": datagen_cmd(srv.url, seeds, out, *SDK_TRANSPORT),
        }.items():
            unlimited[name] = median(lambda cmd=cmd: run(cmd, env=env, cwd=tmp), r)
            print(f"  {name:34} {unlimited[name]:6.2f} s", flush=True)
    ratio = unlimited["datagen default (adaptive)"] / unlimited["raw aiohttp, uncapped"]
    print(f"RATIO datagen default / uncapped raw client, no limits announced: {ratio:.2f}  (target <= 2)")

    print("\n== an enforcing server: 600 requests per minute over a 10 s window, Retry-After beyond it")
    for headers in (True, False):
        extra = ("--rate-limit-headers",) if headers else ()
        n = 400  # the first window's 100 at once, then the limit's pace
        with tempfile.TemporaryDirectory() as tmp:
            seeds = Path(tmp) / "s.jsonl"
            seeds.write_text("".join(json.dumps({"instruction": p}) + "\n" for p in prompts(n)))
            with Server("--latency", "0.2", "--enforce", "--rpm", "600", "--window", "10", *extra) as srv:
                cmd = datagen_cmd(srv.url, seeds, Path(tmp) / "o.jsonl", "-n", str(n))
                start = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp, check=False)
                took = time.perf_counter() - start
        retries = next((ln for ln in proc.stderr.splitlines() if ln.startswith("wrote ")), proc.stderr[-200:])
        # the first window's 100 go at once; nothing more is allowed until it ends (10 s), then 10 per
        # second at best: the share of that pace the rest of the run achieved
        used = (n - 100) / max(took - 10.0, 1e-9) / 10
        print(f"headers {'on ' if headers else 'off'}: {n} requests in {took:.1f} s, "
              f"{used:.2f} of the limit after the first window; {retries}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
