"""The ray executor on a local Ray cluster (two CPUs here): the same rows as the local executor, resumes
across executors, a worker killed with ``kill -9`` mid-run loses and repeats no row, and two workers
hold one rate limit through the cluster's limiter, also when it is killed mid-run. Run in the ``ray``
tox environment; skipped, with the reason, where Ray is not installed or cannot start."""

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


@pytest.fixture(scope="module")
def s3() -> Iterator[str | None]:
    """A loopback S3 (moto's server) for checkpoints in an object store, its endpoint and made-up
    credentials in the environment before Ray starts, so the workers reach it as the driver does.
    None when moto or s3fs is not installed."""
    try:
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL")}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_ENDPOINT_URL=f"http://{host}:{port}"
    )
    yield "s3://datagen-runs"
    server.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module", autouse=True)
def cluster(s3: str | None) -> Iterator[None]:
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
        info = {"name": "ray", "workers": workers, "groups_by_workers": 20, "limiter_calls": 0}
        # no rate configured, and every answer from the cache: the limiter is never called
        assert report["executor"] == {**info, "paces_learned": {}}
        assert [s["groups_computed"] for s in report["steps"]] == [20, 20, 20, 20]
        assert [s["rows_out"] for s in report["steps"]] == [s["rows_out"] for s in local["steps"]]
        assert report["removed"] == local["removed"]


@pytest.mark.parametrize("store", ["run directory", "s3"])
def test_a_run_resumes_under_the_other_executor(tmp_path: Path, store: str, s3: str | None) -> None:
    fsspec = pytest.importorskip("fsspec", reason="datagen[remote] lists and removes the checkpoints")
    if store == "s3" and s3 is None:
        pytest.skip(
            "checkpoints in S3 are tested with moto's loopback server: pip install s3fs 'moto[server]'"
        )
    path, cache = write(tmp_path, rows=400, group=50), tmp_path / "cache"
    out = tmp_path / "out"
    where = f"{s3}/{tmp_path.name}" if store == "s3" else str(out / ".checkpoints")
    fs, root = fsspec.core.url_to_fs(where)
    at = {"checkpoints": where} if store == "s3" else {}
    run(path, out, cache, name="ray", workers=2, **at)
    whole = (out / "data.jsonl").read_text()
    assert (out / ".checkpoints").exists() == (store == "run directory")
    fs.invalidate_cache()
    checkpoints = sorted(fs.glob(f"{root}/02-output/*.parquet"))
    assert len(checkpoints) == 8

    fs.rm(checkpoints[2:4])  # as if the run had died before those groups' answers were committed
    local = run(path, out, cache, name="local", **at)
    assert (out / "data.jsonl").read_text() == whole
    assert local["steps"][2]["groups_computed"] == 2 and local["steps"][2]["groups_resumed"] == 6

    fs.rm(checkpoints[5:8])
    again = run(path, out, cache, name="ray", workers=2, **at)
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


def limited_run(
    tmp_path: Path,
    *,
    rows: int,
    kill_limiter: bool = False,
    limit: int = 6000,
    window_s: float = 2.0,
    told: bool = True,
) -> tuple[dict[str, Any], Any]:
    """``rows`` requests from two workers to a server enforcing ``limit`` a minute over ``window_s``,
    with ``[engine] requests_per_minute`` set to it (unless not ``told``) and room for far more (16 in
    flight per worker)."""
    path = tmp_path / "r.yaml"
    path.write_text(
        f"rows: {rows}\nrow_group: 100\nsteps:\n"
        "  - {name: n, sampler: integer, low: 1, high: 1000000000}\n"
        "  - {name: output, llm: text, prompt: 'Say {{ n }} {{ id }}.'}\n"
    )
    behaviour = Behaviour(
        enforce_limit=True, requests_per_minute=limit, limit_window_s=window_s, retry_after_ms=200
    )
    config = {
        "cache": {"enabled": False},
        "engine": {"max_concurrency": 32, **({"requests_per_minute": limit} if told else {})},
        "executor": {"name": "ray", "workers": 2, "ray": {"renew_s": 1.0}},
    }

    def kill_the_limiter() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
            limiters = [n for n in names if n.startswith("datagen-limiter-")]
            if limiters and sum(srv.answered.values()) > rows // 3:
                ray.kill(ray.get_actor(limiters[0], namespace="datagen"), no_restart=False)
                return
            time.sleep(0.01)

    with LoopbackServer(behaviour) as srv:
        killer = threading.Thread(target=kill_the_limiter) if kill_limiter else None
        if killer:
            killer.start()
        done = Pipeline.from_file(path, base_url=srv.url + "/v1", config=config).run(tmp_path / "out")
        if killer:
            killer.join()
    return done.report, srv


def sending_rate(srv: Any) -> float:
    """Requests a minute the server answered, from its first answer to its last."""
    stamps = sorted(srv.answered_at)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) * 60


def test_two_workers_hold_one_limit_through_the_cluster_limiter(tmp_path: Path) -> None:
    report, srv = limited_run(tmp_path, rows=1500)
    received, answered = sum(srv.received.values()), sum(srv.answered.values())
    assert answered == 1500 == report["written"]
    assert 0.95 <= sending_rate(srv) / 6000 <= 1.05
    assert (received - answered) / received <= 0.02  # answered 429
    # a renewal per 200 requests per worker once the shares settle, and a few quick ones at the start
    calls = report["executor"]["limiter_calls"]
    print(f"limiter calls: {calls} for {received} requests")
    assert 0 < calls <= 0.01 * received + 8


def test_a_restarted_limiter_keeps_the_limit(tmp_path: Path) -> None:
    report, srv = limited_run(tmp_path, rows=1000, kill_limiter=True)
    assert sum(srv.answered.values()) == 1000 == report["written"]
    assert sending_rate(srv) / 6000 <= 1.05


def test_two_workers_learn_one_pace_of_a_limit_nobody_told_them(tmp_path: Path) -> None:
    """A server that enforces 1,200 requests a minute over 5 s windows, and neither announces it nor
    is it configured: the workers report their requests to the limiter, which learns the cluster's
    pace from all of them. Learned by each worker alone, from its own part, the pace fell to a tenth
    of the limit."""
    report, srv = limited_run(tmp_path, rows=400, limit=1200, window_s=5.0, told=False)
    received, answered = sum(srv.received.values()), sum(srv.answered.values())
    assert answered == 400 == report["written"]
    rate = sending_rate(srv) / 1200
    print(f"{rate:.2f}x the limit, {(received - answered) / received:.1%} answered 429")
    assert 0.7 <= rate <= 1.05
    [(key, learned)] = report["executor"]["paces_learned"].items()  # one pace, the cluster's
    assert key.endswith("|gpt-4o-mini") and 0.7 * 1200 <= learned <= 1200
    # the first burst meets the spent budget; afterwards the cluster keeps under it
    assert (received - answered) / received <= 0.15
