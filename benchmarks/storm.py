"""A 429 storm and a queueing server: datagen beside Data Designer, Curator and distilabel, whole processes.

    python benchmarks/storm.py [--repeats 3] [--rows 200] [--dd-python /tmp/dd-venv/bin/python]
        [--distilabel-python /tmp/dl-venv/bin/python] [--curator-python /tmp/cur-venv/bin/python]

*Storm*: the loopback server serves at most 8 requests at once and answers 429 with ``Retry-After: 1`` to
any more (``Behaviour.max_in_flight``: a provider's concurrency limit, a proxy in front of a small
deployment), 100 ms per answer; ideal for 200 rows: 200 / 8 x 0.1 = 2.5 s. Each client makes ``--rows``
one-answer rows as a whole process (spawn to exit), tuned (8 in flight), at 32 in flight, and datagen
also with nothing set. Printed per run: seconds, the ratio to the same client's tuned run, the share
of requests answered 429 (counted by the server), rows made.

*Queue*: the server serves 8 at once and queues the rest, never a 429 (``Behaviour.serve_at_once``,
like a default vLLM); datagen with nothing set against ``--concurrency 8``: seconds, throughput as a
share of the server's peak (8 / 0.1 s), and the latency the server saw per request (queue included),
p50 and p95, against the unloaded 0.1 s. 400 and 2,000 requests (start-up, then steady state).
``--spread 0.8``: each answer takes 0.1 s ± up to 80 % (answers of different lengths). ``--slots 4``
(or 1, 2): a server with fewer slots than the engine's first window of 8 (50 and 250 requests per
slot).

*Budget*: the server enforces 600 requests per minute over a 5 s window (50 per window) and answers
429 with only a ``Retry-After`` beyond it, no rate-limit headers (``Behaviour.enforce_limit``: a
provider that does not announce its limit), 400 ms per answer (the limit needs 4 in flight);
datagen with nothing set and at 4, 8 and 16 in flight, against the same told the limit
(``engine.requests_per_minute=600``): seconds, the share of the limit used, 429s.

*Tokens*: the server enforces 60,000 tokens per minute over a 5 s window, 100 ms per answer, and
counts each request either as OpenAI does (``reserved``: its prompt's words and its ``max_tokens``,
64, when it arrives) or as Anthropic counts output (``used``: the same when it arrives, then what it
used once answered); datagen told ``engine.tokens_per_minute=60000`` with each ``engine.token_charge``,
and (counted as OpenAI does) told nothing, the limit announced in the server's rate-limit headers:
seconds, the tokens the server counted per minute while requests arrived, as a share of the limit, 429s.

*Shared*: two datagen processes with nothing set against the storm's server, 400 rows each, the
second started 0.5 s after the first (two jobs against one capped deployment): the seconds until both
are done, against the ideal 800 / 8 x 0.1 = 10 s, and the share answered 429.

Peers run from their own environments (``pip install data-designer`` / ``distilabel requests openai`` /
``bespokelabs-curator``); a peer whose Python is not given is left out. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datagen.testing_server import Behaviour, LoopbackServer

HERE = Path(__file__).resolve().parent
LATENCY = 0.1
CAP = 8
TIMEOUT_S = 600


def datagen_cmd(
    url: str, rows: int, concurrency: int | None, tmp: Path, extra: tuple[str, ...] = ()
) -> list[str]:
    seeds = tmp / "seeds.jsonl"
    lines = (json.dumps({"instruction": f"A one-line fact about the number {i}."}) for i in range(rows))
    seeds.write_text("\n".join(lines) + "\n")
    cmd = [
        sys.executable, "-m", "datagen", "generate", "--method", "respond", "--backend", "openai",
        "--base-url", url + "/v1", "--seeds", str(seeds), "-n", str(rows), "-o", str(tmp / "out.jsonl"),
        "--overwrite", "--no-cache", "--max-tokens", "64", "--set", "engine.max_retries=50",
    ]  # fmt: skip
    return cmd + (["--concurrency", str(concurrency)] if concurrency else []) + list(extra)


def run_client(
    name: str,
    behaviour: Behaviour,
    rows: int,
    concurrency: int | None,
    python: str | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, float] | None:
    """One whole-process run against a fresh server: seconds, requests received, 429s, rows made."""
    with LoopbackServer(behaviour) as srv, tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "BENCH_URL": srv.url + "/v1"}
        env.update(BENCH_ROWS=str(rows), BENCH_CONCURRENCY=str(concurrency), BENCH_CACHE=str(tmp / "cache"))
        if name == "datagen":
            cmd = datagen_cmd(srv.url, rows, concurrency, tmp, extra)
        else:
            assert python is not None
            cmd = [python, str(HERE / "peers" / f"{name}_storm.py")]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, env=env, capture_output=True, text=True, check=False, timeout=TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            print(f"  ! {name} at {concurrency}: still running after {TIMEOUT_S} s, stopped")
            return None
        took = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"  ! {name} at {concurrency} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
            return None
        if name == "datagen":
            made = len((tmp / "out.jsonl").read_text().splitlines())
        else:
            made = int(proc.stdout.split("ROWS ")[-1].split()[0])
        received = sum(srv.received.values())
        refused = srv.errors["429-cap"] + srv.limited
        latencies = sorted(srv.latencies)
        charges = srv.token_charges
        span = charges[-1].at - charges[0].at if len(charges) > 1 else 0.0
        counted = sum(c.tokens for c in charges[:-1]) / span * 60 if span else 0.0
    return {
        "seconds": took,
        "tokens_per_minute": counted,
        "received": received,
        "refused": refused,
        "rows": made,
        "p50": latencies[len(latencies) // 2] if latencies else 0.0,
        "p95": latencies[int(0.95 * len(latencies))] if latencies else 0.0,
    }


def median_run(
    name: str, behaviour: Behaviour, rows: int, concurrency: int | None, repeats: int, python: str | None
) -> list[dict[str, float]]:
    runs = [run_client(name, behaviour, rows, concurrency, python) for _ in range(repeats)]
    return [r for r in runs if r is not None]


def storm(clients: dict[str, str | None], rows: int, repeats: int) -> None:
    ideal = rows / CAP * LATENCY
    print(
        f"\n== a cap of {CAP} in flight (429, Retry-After: 1, above it), {LATENCY * 1000:.0f} ms per answer, "
        f"{rows} rows; ideal {ideal:.1f} s; {repeats} runs each"
    )
    behaviour = Behaviour(latency_s=LATENCY, max_in_flight=CAP, cap_retry_after_s=1)
    for name, python in clients.items():
        settings: list[int | None] = [8, 32] + ([None] if name == "datagen" else [])
        tuned: float | None = None
        for concurrency in settings:
            runs = median_run(name, behaviour, rows, concurrency, repeats, python)
            if not runs:
                continue
            seconds = statistics.median(r["seconds"] for r in runs)
            if concurrency == 8:
                tuned = seconds
            share = [r["refused"] / max(1, r["received"]) for r in runs]
            label = f"{name} " + ("(nothing set)" if concurrency is None else f"at {concurrency}")
            ratio = f"{seconds / tuned:.2f}x tuned" if tuned else "-"
            times = ", ".join(f"{r['seconds']:.1f}" for r in runs)
            shares = ", ".join(f"{x:.0%}" for x in share)
            made = ", ".join(str(int(r["rows"])) for r in runs)
            print(
                f"{label:28s} {times} s (median {seconds:.1f}, {ratio}, {seconds / ideal:.2f}x ideal); "
                f"answered 429: {shares}; rows {made}"
            )


def queue(repeats: int, spread: float = 0.0, slots: int = CAP) -> None:
    peak = slots / LATENCY
    behaviour = Behaviour(latency_s=LATENCY, serve_at_once=slots, latency_spread=spread)
    varies = f" (±{spread:.0%} each)" if spread else ""
    for rows in (50 * slots, 250 * slots):
        print(
            f"\n== a server that serves {slots} at once and queues the rest (never a 429), "
            f"{LATENCY * 1000:.0f} ms per answer{varies}, {rows} requests; peak {peak:.0f}/s, "
            f"ideal {rows / peak:.1f} s"
        )
        for concurrency in (slots, None):
            runs = median_run("datagen", behaviour, rows, concurrency, repeats, None)
            if not runs:
                continue
            label = "datagen " + ("(nothing set)" if concurrency is None else f"at {concurrency}")
            seconds = statistics.median(r["seconds"] for r in runs)
            p50 = statistics.median(r["p50"] for r in runs)
            p95 = statistics.median(r["p95"] for r in runs)
            print(
                f"{label:28s} {seconds:.1f} s ({rows / peak / seconds:.0%} of peak, start-up included); "
                f"server latency p50 {p50:.3f} s, p95 {p95:.3f} s ({p95 / LATENCY:.2f}x unloaded)"
            )


def shared(repeats: int, rows: int, stagger: float = 0.5) -> None:
    """Two datagen processes, nothing set, against one server's cap: the second starts ``stagger`` s
    after the first, while the first holds the slots."""
    ideal = 2 * rows / CAP * LATENCY
    print(
        f"\n== two clients sharing a cap of {CAP} in flight (429, Retry-After: 1, above it), "
        f"{LATENCY * 1000:.0f} ms per answer, {rows} rows each, the second {stagger} s after the first; "
        f"ideal {ideal:.1f} s; {repeats} runs"
    )
    behaviour = Behaviour(latency_s=LATENCY, max_in_flight=CAP, cap_retry_after_s=1)
    for _ in range(repeats):
        with LoopbackServer(behaviour) as srv, tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
            start = time.perf_counter()
            procs: list[tuple[subprocess.Popen[bytes], Path]] = []
            for client in range(2):
                tmp = Path(folder) / str(client)
                tmp.mkdir()
                cmd = datagen_cmd(srv.url, rows, None, tmp)
                quiet = subprocess.DEVNULL
                procs.append((subprocess.Popen(cmd, cwd=tmp, env=env, stdout=quiet, stderr=quiet), tmp))
                time.sleep(stagger if client == 0 else 0)
            took = []
            for client, (proc, _) in enumerate(procs):
                if proc.wait(timeout=TIMEOUT_S):
                    raise SystemExit(f"shared: client {client} exited with status {proc.returncode}")
                took.append(time.perf_counter() - start)
            made = [len((tmp / "out.jsonl").read_text().splitlines()) for _, tmp in procs]
            received = sum(srv.received.values())
            refused = srv.errors["429-cap"] + srv.limited
        share = refused / max(1, received)
        print(
            f"datagen x2 (nothing set)     {max(took):.1f} s ({max(took) / ideal:.2f}x ideal; each done at "
            f"{took[0]:.1f} s and {took[1]:.1f} s); answered 429: {share:.0%}; rows {made}"
        )


def budget(repeats: int, rows: int) -> None:
    rpm, window, latency = 600, 5.0, 0.4
    behaviour = Behaviour(
        latency_s=latency, enforce_limit=True, requests_per_minute=rpm, limit_window_s=window
    )
    allowed = rpm * window / 60
    print(
        f"\n== a limit of {rpm} requests per minute over {window:.0f} s ({allowed:.0f} per window), "
        f"Retry-After only, {latency * 1000:.0f} ms per answer, {rows} requests; {repeats} runs each"
    )
    told: float | None = None
    arms: list[tuple[str, int | None, tuple[str, ...]]] = [
        (f"told requests_per_minute={rpm}", None, ("--set", f"engine.requests_per_minute={rpm}")),
        ("nothing set", None, ()),
        ("at 4", 4, ()),
        ("at 8", 8, ()),
        ("at 16", 16, ()),
    ]
    for label, concurrency, extra in arms:
        runs = [run_client("datagen", behaviour, rows, concurrency, None, extra) for _ in range(repeats)]
        done = [r for r in runs if r is not None]
        if not done:
            continue
        seconds = statistics.median(r["seconds"] for r in done)
        told = told or seconds
        # the first window's requests go at once; after that the limit allows rpm / 60 per second
        used = (rows - allowed) / max(seconds - window, 1e-9) / (rpm / 60)
        refused = ", ".join(str(int(r["refused"])) for r in done)
        print(
            f"datagen {label:34s} {seconds:.1f} s ({seconds / told:.2f}x told; {used:.2f} of the limit "
            f"after the first window); 429s: {refused}"
        )


def tokens(repeats: int, rows: int) -> None:
    tpm, window = 60_000, 5.0
    print(
        f"\n== a limit of {tpm} tokens per minute over {window:.0f} s, {LATENCY * 1000:.0f} ms per answer, "
        f"{rows} requests (max_tokens 64), told engine.tokens_per_minute={tpm}; {repeats} runs each"
    )
    arms = [(counts, False) for counts in ("reserved", "used")] + [("reserved", True)]
    for counts, announced in arms:
        behaviour = Behaviour(
            latency_s=LATENCY,
            enforce_tokens=True,
            tokens_per_minute=tpm,
            token_charge=counts,
            limit_window_s=window,
            rate_limit_headers=announced,
        )
        for charge in ("auto", "reserved", "used"):
            extra = ("--set", f"engine.token_charge={charge}")
            if not announced:
                extra += ("--set", f"engine.tokens_per_minute={tpm}")
            runs = [run_client("datagen", behaviour, rows, None, None, extra) for _ in range(repeats)]
            done = [r for r in runs if r is not None]
            if not done:
                continue
            seconds = statistics.median(r["seconds"] for r in done)
            share = statistics.median(r["tokens_per_minute"] for r in done) / tpm
            refused = ", ".join(str(int(r["refused"])) for r in done)
            told = "announced in headers" if announced else "told"
            print(
                f"server counts {counts:8s} ({told}) datagen token_charge={charge:8s} {seconds:5.1f} s, "
                f"{share:.2f} of the limit counted while sending; 429s: {refused}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--only", choices=["storm", "queue", "budget", "tokens", "shared"])
    parser.add_argument(
        "--spread", type=float, default=0.0, help="queue: each answer's latency varies by up to this share"
    )
    parser.add_argument("--slots", type=int, default=CAP, help="queue: requests the server serves at once")
    parser.add_argument("--dd-python", help="a Python with data-designer installed")
    parser.add_argument("--distilabel-python", help="a Python with distilabel, requests, openai installed")
    parser.add_argument("--curator-python", help="a Python with bespokelabs-curator installed")
    args = parser.parse_args()
    print(f"storm benchmark, python {sys.version.split()[0]}, {os.cpu_count()} cores")
    clients: dict[str, str | None] = {"datagen": None}
    for name, python in (
        ("data_designer", args.dd_python),
        ("curator", args.curator_python),
        ("distilabel", args.distilabel_python),
    ):
        if python:
            clients[name] = python
    if args.only in (None, "storm"):
        storm(clients, args.rows, args.repeats)
    if args.only in (None, "queue"):
        queue(args.repeats, args.spread, args.slots)
    if args.only in (None, "budget"):
        budget(args.repeats, 300)
    if args.only in (None, "tokens"):
        tokens(args.repeats, 300)
    if args.only in (None, "shared"):
        shared(args.repeats, 2 * args.rows)


if __name__ == "__main__":
    main()
