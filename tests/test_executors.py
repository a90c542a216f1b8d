"""Executors as plugins: which one a run takes, and the share of the limits each worker gets (no Ray
needed; tests/test_ray.py runs the ray executor itself)."""

from __future__ import annotations

import asyncio
import itertools
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from datagen import Pipeline
from datagen._app.pipefile.job import choose_executor, worker_share
from datagen._datamodel.config import load_config
from datagen._engine.core import HEADER_HEADROOM
from datagen.errors import ConfigError, UsageError
from datagen_plugins.executors._limiter import SharedRate, Shares

FILE = "rows: 6\nrow_group: 2\nsteps:\n  - {name: n, sampler: integer, low: 1, high: 9}\n"


def pipeline(tmp_path: Path, **config: object) -> Pipeline:
    path = tmp_path / "p.yaml"
    path.write_text(FILE)
    return Pipeline.from_file(path, config=config or None)


def test_the_default_is_local_and_ray_address_chooses_ray(tmp_path: Path) -> None:
    prepared = pipeline(tmp_path).prepared()
    assert choose_executor(prepared.config, prepared, {}).name == "local"
    assert choose_executor(prepared.config, prepared, {"RAY_ADDRESS": "auto"}).name == "ray"
    named = pipeline(tmp_path, executor={"name": "local"}).prepared()
    assert choose_executor(named.config, named, {"RAY_ADDRESS": "auto"}).name == "local"


def test_an_unknown_executor_is_refused_before_any_work(tmp_path: Path) -> None:
    unknown = r"\$\.executor\.name: no executor plugin named 'nope' \(registered: "
    with pytest.raises(ConfigError, match=unknown):
        pipeline(tmp_path, executor={"name": "nope"}).run(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_ray_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: its import fails
    with pytest.raises(UsageError, match=r"pip install 'datagen\[ray\]'"):
        pipeline(tmp_path, executor={"name": "ray"}).run(tmp_path / "out")


def test_the_local_executor_reports_itself(tmp_path: Path) -> None:
    done = pipeline(tmp_path).run(tmp_path / "out")
    assert done.report["executor"] == {"name": "local", "workers": 1}
    assert len(done.rows()) == 6


@pytest.mark.parametrize("protocol", ["memory", "local"])
def test_checkpoints_go_to_the_store_named_and_a_run_resumes_from_it(tmp_path: Path, protocol: str) -> None:
    """``memory://`` stands for an object store (a checkpoint is written in place); fsspec's ``local://``
    for any other file system (written under a temporary name, then moved)."""
    fsspec = pytest.importorskip("fsspec")
    where = f"datagen-test/{tmp_path.name}" if protocol == "memory" else str(tmp_path / "store")
    url = f"{protocol}://{where}"
    first = pipeline(tmp_path, executor={"checkpoints": url}).run(tmp_path / "one")
    assert not (tmp_path / "one" / ".checkpoints").exists()
    names = sorted(p.rsplit("/", 1)[-1] for p in fsspec.filesystem(protocol).find(url))  # no temporary left
    assert [n.split(".")[0] for n in names] == ["000000", "000001", "000002"]  # three row groups of step 0
    assert first.report["steps"][0]["groups_computed"] == 3
    # another run directory, the same store: every group is taken from it, nothing is made again
    again = pipeline(tmp_path, executor={"checkpoints": url}).run(tmp_path / "two")
    assert (
        again.report["steps"][0]["groups_resumed"] == 3 and again.report["steps"][0]["groups_computed"] == 0
    )
    assert (tmp_path / "two" / "data.jsonl").read_text() == (tmp_path / "one" / "data.jsonl").read_text()


def test_checkpoints_in_a_directory_given_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(FILE)
    for out in ("one", "two"):
        result = cli("run", "p.yaml", "-o", out, "--checkpoints", "shared/ck")
        assert result.code == 0, result.err
    assert "3 groups from checkpoints" in result.err  # the second run resumed every group
    assert len(list((tmp_path / "shared" / "ck").glob("00-n/*.parquet"))) == 3
    assert not (tmp_path / "one" / ".checkpoints").exists()


def test_a_worker_is_given_the_checkpoint_directory_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datagen._app.pipefile.job import Job

    monkeypatch.chdir(tmp_path)
    for named, expected in (("ck", str(tmp_path / "ck")), ("s3://bucket/run", "s3://bucket/run")):
        prepared = pipeline(tmp_path, executor={"checkpoints": named}).prepared()
        spec = Job(prepared, {}, Path("out")).worker_spec(2)
        assert spec.config.section("executor").checkpoints == expected  # type: ignore[attr-defined]
        assert spec.out == tmp_path / "out"


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("nope://user:s3cret@host/x", r"\$\.executor\.checkpoints: nope://host/x cannot be used: .*nope"),
        ("FILE", r"\$\.executor\.checkpoints: .*p\.yaml is a file, not a directory"),
    ],
)
def test_a_store_that_cannot_be_used_is_refused_before_any_work(
    tmp_path: Path, location: str, error: str
) -> None:
    pytest.importorskip("fsspec")
    location = str(tmp_path / "p.yaml") if location == "FILE" else location
    with pytest.raises(UsageError, match=error) as caught:
        pipeline(tmp_path, executor={"checkpoints": location}).run(tmp_path / "out")
    assert "s3cret" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_each_worker_gets_its_share_of_the_limits() -> None:
    config = load_config(
        data={
            "engine": {
                "requests_per_minute": 600,
                "tokens_per_minute": 90_000,
                "max_cost_usd": 3.0,
                "max_tokens": 10,
                "max_concurrency": 3,
            }
        },
        environ={},
    )
    e = worker_share(config, 4).engine
    assert (e.requests_per_minute, e.tokens_per_minute, e.max_cost_usd) == (150, 22_500, 0.75)
    assert (e.max_tokens, e.max_concurrency) == (2, 1)  # rounded down, never below one
    unlimited = worker_share(load_config(environ={}), 4).engine
    assert unlimited.requests_per_minute is None and unlimited.max_cost_usd is None


# ------------------------------------------------------------------------- the cluster's rate limiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.sampled_from(["share", "release", "wait"]), st.integers(0, 4), st.floats(0, 3)),
        max_size=60,
    )
)
def test_the_shares_never_add_up_to_more_than_the_rate(ops: list[tuple[str, int, float]]) -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, clock=clock)
    held: dict[int, float] = {}
    for op, holder, seconds in ops:
        if op == "share":
            lease = max(0.1, seconds)  # each holder's own lease (its renewal interval)
            held[holder] = shares.share(
                "m", "requests", 600.0, str(holder), holding=held.get(holder, 0.0), ttl_s=lease
            )
        elif op == "release":
            shares.release("m", "requests", str(holder))
            held.pop(holder, None)
        else:
            clock.now += seconds
        live = {
            h: r for h, (r, expiry) in shares.leases.get(("m", "requests"), {}).items() if expiry > clock.now
        }
        assert sum(live.values()) <= 600.0 + 1e-9


def test_a_newcomer_gets_its_fair_share_as_the_others_renew() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, clock=clock)
    assert shares.share("m", "requests", 600.0, "a") == 600.0
    assert shares.share("m", "requests", 600.0, "b") == 0.0  # a holds it all until it renews
    clock.now += 1
    assert shares.share("m", "requests", 600.0, "a", holding=600.0) == 300.0
    assert shares.share("m", "requests", 600.0, "b") == 300.0
    shares.release("m", "requests", "b")
    assert shares.share("m", "requests", 600.0, "a", holding=300.0) == 600.0
    clock.now += 5  # a stops renewing (it died): its lease runs out, a newcomer gets the whole rate
    assert shares.share("m", "requests", 600.0, "c") == 600.0


def test_a_restarted_limiter_lets_no_share_grow_until_its_table_is_rebuilt() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, restarted=True, clock=clock)
    assert shares.share("m", "requests", 600.0, "a", holding=300.0) == 300.0  # not the 600 a fresh one gives
    assert shares.share("m", "requests", 600.0, "b", holding=300.0) == 300.0
    assert shares.share("m", "requests", 600.0, "new") == 0.0
    clock.now += 2.5  # still rebuilding: a and b may shrink to a fair third (new holds a lease) ...
    assert shares.share("m", "requests", 600.0, "a", holding=300.0) == 200.0
    assert shares.share("m", "requests", 600.0, "b", holding=300.0) == 200.0
    clock.now += 1.0  # ... and new, its first lease run out, takes what they leave
    assert shares.share("m", "requests", 600.0, "new") == 200.0


def test_a_worker_paces_at_its_share_and_renews_it() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, clock=clock)
    shares.share("m", "requests", 600.0, "other")  # another worker holds the rate: ours waits for it
    released: list[str] = []

    async def share(
        key: str, kind: str, rate: float, holder: str, *, holding: float, ttl_s: float, **_: Any
    ) -> float:
        if holder != "other":
            shares.share(key, kind, rate, "other", holding=600.0 if clock.now < 1 else 300.0)  # it renews
        return shares.share(key, kind, rate, holder, holding=holding, ttl_s=ttl_s)

    bucket = SharedRate(
        (share, lambda key, kind, holder: released.append(holder)), "m", "requests", 600.0, clock=clock
    )

    async def send(n: int) -> None:
        for _ in range(n):
            await bucket.take(1, clock.sleep)

    asyncio.run(send(31))
    assert bucket.rate == 5.0  # 300 a minute: half the rate, beside the other worker
    assert 6.0 <= clock.now <= 8.0  # ~1 s waiting for a share, then 30 requests at 5 a second
    assert bucket.calls <= 15
    bucket.release()
    assert released == [bucket.holder]


def test_takers_waiting_in_line_follow_a_share_that_changes() -> None:
    """The share drops from 10 to 5 a second after 1 s (another worker joined): the requests already
    waiting go at the new pace, not at the one they found when they queued."""
    clock = Clock()
    sent: list[float] = []

    async def share(
        key: str, kind: str, rate: float, holder: str, *, holding: float, ttl_s: float, **_: Any
    ) -> float:
        return 600.0 if clock.now < 1 else 300.0

    bucket = SharedRate((share, lambda key, kind, holder: None), "m", "requests", 1200.0, clock=clock)

    async def one() -> None:
        await bucket.take(1, clock.sleep)
        sent.append(clock.now)

    async def all_at_once() -> None:
        await asyncio.gather(*(one() for _ in range(30)))

    asyncio.run(all_at_once())
    gaps = [(at, round(at - before, 6)) for before, at in itertools.pairwise(sent)]
    assert {gap for at, gap in gaps if at < 1} == {0.1}
    assert {gap for at, gap in gaps if at > 1.05} == {0.2}
    assert sent[-1] == pytest.approx(1.0 + 19 * 0.2)


def test_a_steady_share_is_renewed_less_often() -> None:
    """At a steady 50 a second the renewals space out (1, 2, then 4 s: 200 requests' worth), each
    lease lasting past the next renewal; a change brings them back to every second."""
    clock = Clock()
    calls: list[tuple[float, float]] = []  # (when, lease asked)

    async def share(
        key: str, kind: str, rate: float, holder: str, *, holding: float, ttl_s: float, **_: Any
    ) -> float:
        calls.append((clock.now, ttl_s))
        return 3000.0 if clock.now < 40 else 1500.0

    bucket = SharedRate((share, lambda key, kind, holder: None), "m", "requests", 6000.0, clock=clock)

    async def send(n: int) -> None:
        for _ in range(n):
            await bucket.take(1, clock.sleep)

    asyncio.run(send(2000))  # 40 s at 50 a second
    assert len(calls) <= 0.01 * 2000
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(calls)]
    assert gaps[:4] == pytest.approx([1.0, 2.0, 4.0, 4.0], abs=0.05)  # 200 requests: 4 s at 50/s
    assert max(ttl for _, ttl in calls) == pytest.approx(SharedRate.lease_s(4.0, 1.0), abs=0.1)
    asyncio.run(send(200))  # the share halves at 40 s
    after = [when for when, _ in calls if when >= 40]
    assert after[1] - after[0] == pytest.approx(1.0) and bucket.rate == 25.0


def test_a_steady_token_share_is_renewed_as_seldom_as_the_requests() -> None:
    """A token rate's renewals count requests, not tokens: at 50 requests a second of 100 tokens each
    (5,000 tokens a second) the share is renewed every 4 s, as a request rate of 50 would be, not every
    second (200 tokens' worth)."""
    clock = Clock()
    calls: list[float] = []

    async def share(key: str, kind: str, rate: float, holder: str, **_: Any) -> float:
        calls.append(clock.now)
        return 300_000.0

    bucket = SharedRate((share, lambda key, kind, holder: None), "m", "tokens", 600_000.0, clock=clock)

    async def send(n: int) -> None:
        for _ in range(n):
            await bucket.take(100, clock.sleep)

    asyncio.run(send(2000))
    assert clock.now == pytest.approx(40.0, abs=0.1) and len(calls) <= 0.01 * 2000
    assert calls[-1] - calls[-2] == pytest.approx(4.0, abs=0.05)


def test_engines_sharing_a_limiter_share_the_limit_a_server_announces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three engines as a cluster's workers, against a server that announces and enforces 3,000
    requests a minute (2 s windows) in its headers: they share it through the limiter, where each
    used to take the whole announced rate for itself (three times the limit, the rest refused)."""
    from datagen import services
    from datagen._datamodel.config import EngineConfig
    from datagen._engine.core import Engine
    from datagen._engine.llm import Request
    from datagen.testing_server import Behaviour, LoopbackServer
    from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

    shares = Shares(ttl_s=21.0)
    buckets: list[SharedRate] = []

    async def share(*args: Any, **kwargs: Any) -> float:
        return shares.share(*args, **kwargs)

    def bucket(key: str, kind: str, rate: float) -> SharedRate:
        buckets.append(SharedRate((share, shares.release), key, kind, rate))
        return buckets[-1]

    monkeypatch.setitem(services._PROVIDED, "shared_rate_bucket", bucket)
    behaviour = Behaviour(
        enforce_limit=True, requests_per_minute=3000, limit_window_s=2.0, rate_limit_headers=True
    )

    async def worker(srv: LoopbackServer, name: str) -> Engine:
        backend = OpenAIBackend(OpenAIConfig(base_url=srv.url + "/v1", api_key="sk-test-0123456789abcdef"))
        engine = Engine(backend, EngineConfig(max_concurrency=16), backend_name="openai")
        try:
            await asyncio.gather(*(engine.complete(Request(prompt=f"{name} {i}")) for i in range(100)))
        finally:
            await engine.aclose()
        return engine

    async def cluster(srv: LoopbackServer) -> list[Engine]:
        return await asyncio.gather(*(worker(srv, name) for name in "abc"))

    with LoopbackServer(behaviour) as srv:
        engines = asyncio.run(cluster(srv))
    assert sum(srv.answered.values()) == 300 and not any(e.stats.failed for e in engines)
    # each engine paced the announced rates (less the headroom) through one lease of each
    requests = [b for b in buckets if b.kind == "requests"]
    assert len(requests) == 3 and {b.rate_per_min for b in requests} == {3000 * HEADER_HEADROOM}
    assert sorted(b.kind for b in buckets) == ["requests"] * 3 + ["tokens"] * 3
    # at most slow start's first requests, sent before any header was seen, go over: 8 each
    assert srv.limited <= 24
    assert not any(shares.leases.values())  # every engine handed its shares back
