"""The ray executor against the local one, on this machine (a local Ray cluster):

    python benchmarks/ray_executor.py [--rows 50000] [--group 1000] [--workers 1 2] [--limits 1200 12000]

1. **Start-up overhead**: a one-group pipeline under ``--executor ray`` against ``local``: the seconds
   Ray's start, the workers' start (each loads the plugins and checks the file) and the assembly add.
2. **Throughput per worker**: ``--rows`` rows (a sampler, a template and an LLM column on the ``echo``
   backend: datagen's own work per row, no network) under ``local`` and under ``ray`` with each of
   ``--workers``; printed: rows/s, and rows/s per worker as a share of the local executor's. Then the
   same with ``--io-rows`` rows waiting on the loopback server (``--latency`` s an answer, 8 requests
   in flight per worker), as LLM columns do.
3. **Rate-limit accuracy**: ``--rate-seconds`` of requests to the loopback server enforcing each of
   ``--limits`` (requests a minute over 5 s windows, a 429 with Retry-After beyond), with ``[engine]
   requests_per_minute`` set to it and room for far more (the server answers at once, 16 in flight per
   worker); for 1, 2 and 4 workers: the rate the server saw while sending, as a ratio to the limit, the
   share answered 429, and the calls to the cluster's limiter. Then (``headers``) the limit announced
   in the server's rate-limit headers instead of configured, and (``unannounced``) neither: the
   cluster learns a pace from the 429s, every worker's requests reported to the limiter.
   ``--rate-workers`` chooses the worker counts of these three (1, 2 and 4). And (``tokens``) a
   token limit instead: the server counts what each request may use (its prompt and ``max_tokens``,
   256, as OpenAI counts) against ``TOKENS_PER_REQUEST`` times each limit a minute, with ``[engine]
   tokens_per_minute`` set to that and ``token_charge`` to ``--token-charge`` (``reserved``, as the
   server counts; ``used`` is how the engine charged every server before); printed: the tokens the
   server counted while sending, as a ratio to the limit.
4. **A restarted limiter** (``restart``): the configured arm (or each of ``--restart-told``) for
   ``--restart-seconds`` with ``--restart-workers`` workers, the limiter actor killed (and restarted
   by Ray) a third of the way in, beside the same run without the kill: the rate and the share
   answered 429 before the kill, in the 10 s after it, after that, and in the last 10 s, as the
   workers finish one by one.

Each arm is a fresh run directory and a fresh response cache. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def write(folder: Path, rows: int, group: int) -> Path:
    path = folder / "p.yaml"
    path.write_text(
        f"rows: {rows}\nrow_group: {group}\nsteps:\n"
        "  - {name: n, sampler: integer, low: 1, high: 1000000}\n"
        "  - {name: instruction, template: 'say {{ n }}'}\n"
        "  - {name: output, llm: text, prompt: 'Say {{ n }} for {{ id }}.'}\n"
    )
    return path


def timed(path: Path, folder: Path, executor: dict[str, Any], **options: Any) -> tuple[float, dict[str, Any]]:
    from datagen import Pipeline

    config = {"cache": {"dir": str(folder / "cache")}, "executor": executor, **options.pop("config", {})}
    start = time.perf_counter()
    report = Pipeline.from_file(path, config=config, **options).run(folder / "out").report
    return time.perf_counter() - start, report


def startup(workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write(folder, rows=20, group=20)
        (folder / "a").mkdir()
        (folder / "b").mkdir()
        local, _ = timed(path, folder / "a", {"name": "local"}, backend="echo")
        ray_s, _ = timed(path, folder / "b", {"name": "ray", "workers": workers}, backend="echo")
    overhead = ray_s - local
    print(f"start-up: local {local:.2f} s, ray ({workers} workers) {ray_s:.2f} s: overhead {overhead:.2f} s")


def compare(
    title: str, rows: int, group: int, workers: list[int], in_flight: int | None = None, **options: Any
) -> None:
    """``rows`` under ``local`` and under ``ray`` with each of ``workers``: rows/s, and per worker
    against local. ``options`` go to the Pipeline; ``in_flight``: requests per worker (None: adaptive)."""
    with tempfile.TemporaryDirectory() as tmp:
        arms: list[tuple[str, dict[str, Any], int]] = [("local", {"name": "local"}, 1)]
        arms += [(f"ray x{w}", {"name": "ray", "workers": w}, w) for w in workers]
        local_rate = 0.0
        for label, executor, asked in arms:
            folder = Path(tmp) / label.replace(" ", "")
            folder.mkdir()
            path = write(folder, rows, group)
            # [engine] max_concurrency is divided among the workers: each gets in_flight
            config = {"engine": {"max_concurrency": in_flight * asked}} if in_flight else {}
            seconds, report = timed(path, folder, executor, config=config, **options)
            rate = report["written"] / seconds
            local_rate = local_rate or rate
            started = report["executor"]["workers"] or 1  # a cluster without room starts fewer
            print(
                f"{title} {label:8}: {report['written']} rows in {seconds:.1f} s = {rate:,.0f} rows/s; "
                f"per worker {rate / started / local_rate:.2f}x local"
            )


def waiting(rows: int, group: int, workers: list[int], latency: float) -> None:
    """Throughput when the rows wait on a server (``latency`` s an answer, 8 in flight per worker)."""
    from datagen.testing_server import Behaviour, LoopbackServer

    with LoopbackServer(Behaviour(latency_s=latency)) as srv:
        compare("waiting on a server", rows, group, workers, 8, base_url=srv.url + "/v1")


def enforcing(limit: int, told: str) -> Any:
    """The loopback server's behaviour: ``limit`` requests a minute over 5 s windows, a 429 with
    Retry-After beyond, announced in its rate-limit headers when ``told`` is ``headers``."""
    from datagen.testing_server import Behaviour

    return Behaviour(
        enforce_limit=True,
        requests_per_minute=limit,
        limit_window_s=5.0,
        retry_after_ms=500,
        rate_limit_headers=told == "headers",
    )


#: what the server counts for one request of the pipeline against a token limit: its prompt's ~6
#: words and its max_tokens (the sampling default, 256)
TOKENS_PER_REQUEST = 262


def enforcing_tokens(limit: int) -> Any:
    """The loopback server's behaviour: ``limit`` requests a minute's worth of tokens over 5 s windows
    (each request counted at what it may use, when it arrives), a 429 with Retry-After beyond."""
    from datagen.testing_server import Behaviour

    return Behaviour(
        enforce_tokens=True,
        tokens_per_minute=limit * TOKENS_PER_REQUEST,
        token_charge="reserved",
        limit_window_s=5.0,
        retry_after_ms=500,
    )


def engine_config(limit: int, told: str, workers: int, token_charge: str = "reserved") -> dict[str, Any]:
    """The ``[engine]`` of the rate-limit arms: 16 in flight per worker, the limit when configured."""
    engine: dict[str, Any] = {"max_concurrency": 16 * workers}
    if told == "configured":
        engine["requests_per_minute"] = limit
    if told == "tokens":
        engine["tokens_per_minute"] = limit * TOKENS_PER_REQUEST
        engine["token_charge"] = token_charge
    return engine


def rate_limit(
    limits: list[int],
    seconds: float,
    workers: list[int],
    *,
    told: str = "configured",
    token_charge: str = "reserved",
) -> None:
    """Each limit for ``seconds`` of requests, from each worker count; ``told``: how the workers know
    the limit: set in ``[engine]`` (``configured``), announced in the server's rate-limit headers
    (``headers``), or not at all (``unannounced``: learned from the server's 429s); or (``tokens``)
    a token limit set in ``[engine]``, at ``TOKENS_PER_REQUEST`` times the limit."""
    from datagen.testing_server import LoopbackServer

    for limit in limits:
        rows = round(limit / 60 * seconds)
        for n in workers:
            behaviour = enforcing_tokens(limit) if told == "tokens" else enforcing(limit, told)
            with tempfile.TemporaryDirectory() as tmp, LoopbackServer(behaviour) as srv:
                folder = Path(tmp)
                path = write(folder, rows=rows, group=max(1, rows // (4 * n)))
                engine = engine_config(limit, told, n, token_charge)
                executor = {"name": "ray", "workers": n}
                took, report = timed(
                    path, folder, executor, base_url=srv.url + "/v1", config={"engine": engine}
                )
                stamps = sorted(srv.answered_at)
                answered, received = len(stamps), sum(srv.received.values())
                rate = (answered - 1) / (stamps[-1] - stamps[0]) * 60
                calls = report["executor"]["limiter_calls"]
                held = f"{rate / limit:.2f}x the limit while sending"
                if told == "tokens":
                    charges = srv.token_charges
                    counted = sum(c.tokens for c in charges[:-1]) / (charges[-1].at - charges[0].at) * 60
                    held = (
                        f"{counted / (limit * TOKENS_PER_REQUEST):.2f}x the token limit while sending "
                        f"(token_charge {token_charge}, {charges[0].tokens} tokens a request)"
                    )
                print(
                    f"rate limit {limit}/min ({told}), {n} worker(s): {answered} answered, 429 "
                    f"{(received - answered) / received:.1%}; {held}; "
                    f"limiter calls {calls} ({calls / received:.1%} of requests); whole run {took:.1f} s"
                )


def restarted(
    limit: int, seconds: float, workers: int, *, kill: bool = True, told: str = "configured"
) -> None:
    """The ``told`` arm (see :func:`rate_limit`) at ``limit`` from ``workers`` workers for ``seconds``,
    the limiter killed a third of the way in (Ray restarts it, its table lost); not ``kill``: the same
    run as the baseline, the same spans measured from the moment a third was answered."""
    import threading

    import ray

    from datagen.testing_server import LoopbackServer

    rows = round(limit / 60 * seconds)
    killed: list[float] = []

    def killer(srv: LoopbackServer) -> None:
        deadline = time.monotonic() + seconds * 3
        while time.monotonic() < deadline and not killed:
            if len(srv.answered_at) >= rows // 3:
                if kill:
                    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
                    [limiter] = [n for n in names if n.startswith("datagen-limiter-")]
                    ray.kill(ray.get_actor(limiter, namespace="datagen"), no_restart=False)
                killed.append(time.monotonic())
            time.sleep(0.01)

    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(enforcing(limit, told)) as srv:
        folder = Path(tmp)
        path = write(folder, rows=rows, group=max(1, rows // (4 * workers)))
        engine = engine_config(limit, told, workers)
        thread = threading.Thread(target=killer, args=(srv,))
        thread.start()
        took, report = timed(
            path,
            folder,
            {"name": "ray", "workers": workers},
            base_url=srv.url + "/v1",
            config={"engine": engine},
        )
        thread.join()
        refused = list(srv.limited_at)
    stamps = sorted(srv.answered_at)
    if not killed:
        print(f"restarted limiter: the run ended before a third was answered ({len(stamps)} answered)")
        return
    at = killed[0]
    spans = [
        ("before", stamps[0], at),
        ("10 s after", at, at + 10),
        ("after that", at + 10, stamps[-1]),
        ("last 10 s", stamps[-1] - 10, stamps[-1]),
    ]
    parts = []
    for label, start, end in spans:
        answered = sum(start <= t < end for t in stamps)
        no = sum(start <= t < end for t in refused)
        share = no / max(1, answered + no)
        parts.append(f"{label} {answered / max(end - start, 1e-9) * 60 / limit:.2f}x, 429 {share:.1%}")
    print(
        f"{'restarted' if kill else 'baseline, no'} limiter kill, {limit}/min ({told}), {workers} workers, "
        f"{'killed' if kill else 'a third answered'} at {at - stamps[0]:.1f} s of "
        f"{stamps[-1] - stamps[0]:.1f} s: " + "; ".join(parts) + f"; {len(stamps)} answered, "
        f"whole run {took:.1f} s; limiter calls {report['executor']['limiter_calls']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--group", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--limits", type=int, nargs="+", default=[1200, 12000], help="requests a minute")
    parser.add_argument("--rate-seconds", type=float, default=30.0, help="of requests at each limit")
    parser.add_argument("--rate-workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--io-rows", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["startup", "throughput", "waiting", "rate", "headers", "unannounced", "tokens", "restart"],
    )
    parser.add_argument("--token-charge", default="reserved", choices=["auto", "reserved", "used"])
    parser.add_argument("--restart-seconds", type=float, default=60.0)
    parser.add_argument("--restart-workers", type=int, default=4)
    parser.add_argument(
        "--restart-told", nargs="+", default=["configured"], choices=["configured", "headers", "unannounced"]
    )
    args = parser.parse_args()
    if "startup" not in args.skip:
        startup(2)  # a cold start: the executor starts the local cluster
    import ray

    ray.shutdown()  # the rest share one local cluster with room for four workers on this machine
    ray.init(num_cpus=max(4, *args.workers), include_dashboard=False, logging_level="ERROR")
    if "throughput" not in args.skip:
        compare("throughput", args.rows, args.group, args.workers, backend="echo")
    if "waiting" not in args.skip:
        waiting(args.io_rows, args.group, args.workers, args.latency)
    if "rate" not in args.skip:
        rate_limit(args.limits, args.rate_seconds, args.rate_workers)
    for told in ("headers", "unannounced", "tokens"):
        if told not in args.skip:
            rate_limit(
                args.limits, args.rate_seconds, args.rate_workers, told=told, token_charge=args.token_charge
            )
    if "restart" not in args.skip:
        for limit in args.limits:
            for told in args.restart_told:
                for kill in (False, True):
                    restarted(limit, args.restart_seconds, args.restart_workers, kill=kill, told=told)


if __name__ == "__main__":
    main()
