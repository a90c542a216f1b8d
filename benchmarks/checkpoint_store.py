"""Checkpoints in an object store against the run directory (``[executor] checkpoints``):

    python benchmarks/checkpoint_store.py [--rows 20000] [--group 500]

A pipeline of ``--rows`` rows (a sampler, a template and an LLM column on the ``echo`` backend: no
network of its own) is run three times, each into a fresh run directory:

1. ``local``: checkpoints in the run directory (the baseline);
2. ``s3``: checkpoints in S3, here moto's server on 127.0.0.1 (``pip install s3fs 'moto[server]'``);
3. ``s3 resumed``: the same file into another run directory with the same S3 prefix, every group
   taken from the store.

Printed for each: seconds as a ratio to the baseline, and the requests the S3 server received by
method, per checkpoint written or read. moto is a Python server on this machine: its seconds say what
the store's requests cost here, not what a real S3 region would; the request counts hold anywhere.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class _Requests(logging.Handler):
    """Counts the requests moto's server logs (werkzeug's access log), by method."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|HEAD|DELETE) ', record.getMessage())
        if found:
            self.seen[found.group(1)] += 1


def _run(path: Path, out: Path, checkpoints: str | None) -> tuple[float, dict[str, Any]]:
    from datagen import Pipeline

    config: dict[str, Any] = {"cache": {"enabled": False}}
    if checkpoints:
        config["executor"] = {"checkpoints": checkpoints}
    t0 = time.perf_counter()
    report = Pipeline.from_file(path, backend="echo", config=config).run(out).report
    return time.perf_counter() - t0, report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--group", type=int, default=500)
    args = parser.parse_args()
    from moto.server import ThreadedMotoServer

    counter = _Requests()
    logging.getLogger("werkzeug").addHandler(counter)
    logging.getLogger("werkzeug").setLevel(logging.INFO)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_ENDPOINT_URL=f"http://{host}:{port}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "p.yaml"
        path.write_text(
            f"rows: {args.rows}\nrow_group: {args.group}\nsteps:\n"
            "  - {name: n, sampler: integer, low: 1, high: 1000000}\n"
            "  - {name: instruction, template: 'say {{ n }}'}\n"
            "  - {name: output, llm: text, prompt: 'Say {{ n }} for {{ id }}.'}\n"
        )
        groups = -(-args.rows // args.group)
        checkpoints = groups * 3
        base, _ = _run(path, folder / "local", None)
        print(f"{args.rows} rows, {groups} row groups, 3 steps: {checkpoints} checkpoints")
        print(f"{'store':<12} {'seconds':>8} {'ratio':>6}  requests to the store (per checkpoint)")
        print(f"{'local':<12} {base:8.2f} {1.0:6.2f}  -")
        for name, out in (("s3", "a"), ("s3 resumed", "b")):
            counter.seen.clear()
            seconds, report = _run(path, folder / out, "s3://datagen-bench/run")
            resumed = sum(s["groups_resumed"] for s in report["steps"])
            each = ", ".join(f"{m} {n / checkpoints:.2f}" for m, n in sorted(counter.seen.items()))
            print(f"{name:<12} {seconds:8.2f} {seconds / base:6.2f}  {each}  ({resumed} groups resumed)")
    server.stop()


if __name__ == "__main__":
    main()
