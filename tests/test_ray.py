"""The ray executor on a local Ray cluster (two CPUs here): the same rows as the local executor, resumes
across executors, and a worker killed with ``kill -9`` mid-run loses and repeats no row. Run in the
``ray`` tox environment; skipped, with the reason, where Ray is not installed or cannot start."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen import Pipeline
from datagen.testing_server import Behaviour, LoopbackServer

ray = pytest.importorskip("ray", reason="the ray executor's tests need Ray: pip install 'datagen[ray]'")


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    """One local Ray cluster for the module (the executor joins it rather than starting its own):
    four logical CPUs on this two-core machine, so four workers fit."""
    try:
        ray.init(num_cpus=4, include_dashboard=False)
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"Ray cannot start here: {exc}")
    yield
    ray.shutdown()


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write(tmp_path: Path, rows: int, group: int) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"rows: {rows}\nrow_group: {group}\nsteps:\n"
        "  - {name: n, sampler: integer, low: 1, high: 3000}\n"
        "  - {name: instruction, template: 'say {{ n }}'}\n"
        "  - {name: output, llm: text, prompt: 'Say {{ n }} for {{ id }}.'}\n"
        "  - {filter: exact_dedup, options: {fields: [instruction]}}\n"
    )
    return path


def run(path: Path, out: Path, cache: Path, **executor: Any) -> dict[str, Any]:
    config = {"cache": {"dir": str(cache)}, "executor": executor}
    report: dict[str, Any] = Pipeline.from_file(path, backend="echo", config=config).run(out).report
    return report


def test_local_and_ray_with_two_and_four_workers_give_the_same_rows(tmp_path: Path) -> None:
    path, cache = write(tmp_path, rows=10_000, group=500), tmp_path / "cache"
    local = run(path, tmp_path / "local", cache, name="local")
    expected = (tmp_path / "local" / "data.jsonl").read_text()
    assert 0 < local["written"] < 10_000  # the dedup step, which sees every group, removed some
    for workers in (2, 4):
        out = tmp_path / f"ray{workers}"
        report = run(path, out, cache, name="ray", workers=workers)
        assert (out / "data.jsonl").read_text() == expected
        assert report["executor"] == {"name": "ray", "workers": workers, "groups_by_workers": 20}
        assert [s["groups_computed"] for s in report["steps"]] == [20, 20, 20, 20]
        assert [s["rows_out"] for s in report["steps"]] == [s["rows_out"] for s in local["steps"]]
        assert report["removed"] == local["removed"]


def test_a_run_resumes_under_the_other_executor(tmp_path: Path) -> None:
    path, cache = write(tmp_path, rows=400, group=50), tmp_path / "cache"
    out = tmp_path / "out"
    run(path, out, cache, name="ray", workers=2)
    whole = (out / "data.jsonl").read_text()
    checkpoints = sorted((out / ".checkpoints").glob("02-output/*.parquet"))
    assert len(checkpoints) == 8

    for stale in checkpoints[2:4]:
        stale.unlink()  # as if the run had died before those groups' answers were committed
    local = run(path, out, cache, name="local")
    assert (out / "data.jsonl").read_text() == whole
    assert local["steps"][2]["groups_computed"] == 2 and local["steps"][2]["groups_resumed"] == 6

    for stale in checkpoints[5:8]:
        stale.unlink()
    again = run(path, out, cache, name="ray", workers=2)
    assert (out / "data.jsonl").read_text() == whole
    assert again["executor"]["groups_by_workers"] == 3
    assert again["steps"][2]["groups_computed"] == 3 and again["steps"][2]["groups_resumed"] == 5


def worker_pids() -> list[int]:
    """The processes of the executor's worker actors (Ray titles them ``ray::_RayWorker``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::_RayWorker"):
                found.append(int(entry.name))
    return found


def test_a_worker_killed_mid_run_loses_and_repeats_no_row(tmp_path: Path) -> None:
    rows, group = 200, 10
    path = tmp_path / "k.yaml"
    path.write_text(
        f"rows: {rows}\nrow_group: {group}\nsteps:\n"
        "  - {name: n, sampler: integer, low: 1, high: 1000000}\n"
        "  - {name: output, llm: text, prompt: 'Say {{ n }} {{ id }}.'}\n"
    )
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_one_worker_mid_run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = len(list((out / ".checkpoints").glob("01-output/*.parquet")))
            pids = worker_pids()
            if done >= 2 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(done)
                return
            time.sleep(0.01)

    with LoopbackServer(Behaviour(latency_s=0.1)) as srv:
        config = {
            "cache": {"dir": str(tmp_path / "cache")},
            "engine": {"max_concurrency": 4},
            "executor": {"name": "ray", "workers": 2},
        }
        killer = threading.Thread(target=kill_one_worker_mid_run)
        killer.start()
        done = Pipeline.from_file(path, base_url=srv.url + "/v1", config=config).run(out)
        killer.join()
        received = sum(srv.received.values())
    assert killed and killed[0] < rows // group  # the kill came before the last group was committed
    data = lines(out / "data.jsonl")
    assert len(data) == rows and len({r["id"] for r in data}) == rows
    assert all(r["output"].strip() for r in data)
    assert done.report["executor"]["groups_by_workers"] == rows // group
    # only the killed worker's group in flight was asked again (less what the response cache kept)
    assert rows <= received <= rows + group
