"""Executors as plugins: which one a run takes, and the share of the limits each worker gets (no Ray
needed; tests/test_ray.py runs the ray executor itself)."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from datagen import Pipeline
from datagen._app.pipefile.job import choose_executor, worker_share
from datagen._datamodel.config import load_config
from datagen._engine.pace import HEADER_HEADROOM, REPORT_POLL_S, REPORT_WAIT_S, ClusterPace, SendLog
from datagen.errors import ConfigError, UsageError
from datagen_plugins.executors._limiter import LEARNED, Ask, SharedRate, Shares

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


def granted(shares: Shares, *args: Any, **kwargs: Any) -> float:
    """The share :meth:`Shares.share` grants, per minute."""
    return shares.share(*args, **kwargs)[0]


def lease(grant: float, holding: float, renew_s: float, steady_s: float, **_: Any) -> tuple[float, float]:
    """What the limiter answers a worker granted ``grant`` (see :meth:`Shares.share`): a share that
    came back as the worker held it is renewed after ``steady_s``, a changed one after ``renew_s``."""
    return grant, steady_s if holding and abs(grant - holding) <= 0.01 * holding else renew_s


def play(
    shares: Shares, clock: Clock, op: str, holder: int, seconds: float, held: dict[int, float], ttl_s: float
) -> float:
    """One step of a random schedule against 600 a minute: ``holder`` renews (holding what ``held``
    says, for ``ttl_s``) or hands its share back (it stops sending), or ``seconds`` pass; returns
    what the live leases add up to."""
    if op == "share":
        held[holder] = granted(
            shares, "m", "requests", 600.0, str(holder), holding=held.get(holder, 0.0), ttl_s=ttl_s
        )
    elif op == "release":
        shares.release("m", "requests", str(holder))
        held.pop(holder, None)
    else:
        clock.now += seconds
    leases = shares.leases.get(("m", "requests"), {}).values()
    return sum(rate for rate, expiry in leases if expiry > clock.now)


async def send_from_engine(url: str, name: str, n: int, in_flight: int = 16) -> Any:
    """``n`` requests from one engine (``in_flight`` at most at once) to the loopback server at
    ``url``, prompts named ``name``; the engine, closed."""
    from datagen._datamodel.config import EngineConfig
    from datagen._engine.core import Engine
    from datagen._engine.llm import Request
    from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

    backend = OpenAIBackend(OpenAIConfig(base_url=url + "/v1", api_key="sk-test-0123456789abcdef"))
    engine = Engine(backend, EngineConfig(max_concurrency=in_flight), backend_name="openai")
    try:
        await asyncio.gather(*(engine.complete(Request(prompt=f"{name} {i}")) for i in range(n)))
    finally:
        await engine.aclose()
    return engine


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
        # each holder's own lease (its renewal interval)
        live = play(shares, clock, op, holder, seconds, held, ttl_s=max(0.1, seconds))
        assert live <= 600.0 + 1e-9


def test_a_newcomer_gets_its_fair_share_as_the_others_renew() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, clock=clock)
    assert granted(shares, "m", "requests", 600.0, "a") == 600.0
    assert granted(shares, "m", "requests", 600.0, "b") == 0.0  # a holds it all until it renews
    clock.now += 1
    assert granted(shares, "m", "requests", 600.0, "a", holding=600.0) == 300.0
    assert granted(shares, "m", "requests", 600.0, "b") == 300.0
    shares.release("m", "requests", "b")
    assert granted(shares, "m", "requests", 600.0, "a", holding=300.0) == 600.0
    clock.now += 5  # a stops renewing (it died): its lease runs out, a newcomer gets the whole rate
    assert granted(shares, "m", "requests", 600.0, "c") == 600.0


def test_a_holder_granted_nothing_asks_again_when_a_share_may_free() -> None:
    """A newcomer is told to come back just after the holder's renewal falls due (8 s away), not
    every quarter second, and one given less than its fair share when the next holder's is; while a
    holder that went quiet is late it asks every quarter second, and once it is a whole ``renew_s``
    late, not until its lease ends."""
    clock = Clock()
    shares = Shares(ttl_s=30.0, clock=clock)
    assert shares.share("m", "requests", 600.0, "a", holding=600.0, ttl_s=17.0, steady_s=8.0) == (600.0, 8.0)
    assert shares.share("m", "requests", 600.0, "b") == (0.0, pytest.approx(8.05))
    clock.now = 8.0  # a comes down to its fair share, renewed after renew_s as it changed
    assert shares.share("m", "requests", 600.0, "a", holding=600.0, steady_s=8.0) == (300.0, 1.0)
    clock.now = 8.05
    assert shares.share("m", "requests", 600.0, "b") == (300.0, 1.0)
    clock.now = 9.0
    assert shares.share("m", "requests", 600.0, "a", holding=300.0, steady_s=2.0) == (300.0, 2.0)
    clock.now = 9.05
    assert shares.share("m", "requests", 600.0, "b", holding=300.0, steady_s=4.0) == (300.0, 4.0)
    clock.now = 9.5  # c gets nothing until a, renewing at 11, comes down and leaves it 100 ...
    assert shares.share("m", "requests", 600.0, "c") == (0.0, pytest.approx(1.55))
    clock.now = 11.0
    assert shares.share("m", "requests", 600.0, "a", holding=300.0, steady_s=4.0) == (200.0, 1.0)
    clock.now = 11.05  # ... then it asks again as b, above its fair share, renews at 13.05, not
    # after its own renew_s
    assert shares.share("m", "requests", 600.0, "c", steady_s=3.0) == (100.0, pytest.approx(2.05))
    assert shares.share("m", "requests", 600.0, "c", steady_s=1.5) == (100.0, 1.5)  # its lease's limit

    clock.now = 0.0
    shares = Shares(ttl_s=30.0, clock=clock)
    assert shares.share("m", "requests", 600.0, "a", holding=600.0, ttl_s=5.0, steady_s=2.0) == (600.0, 2.0)
    clock.now = 2.5  # a is due since 2 s and has not renewed
    assert shares.share("m", "requests", 600.0, "b") == (0.0, 0.25)
    clock.now = 3.5
    assert shares.share("m", "requests", 600.0, "b") == (0.0, pytest.approx(1.55))  # a's lease ends at 5
    clock.now = 5.05
    assert shares.share("m", "requests", 600.0, "b") == (600.0, 1.0)


def test_a_restarted_limiter_shares_out_no_more_than_it_was_told_is_held() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, restarted=True, clock=clock)
    assert (
        granted(shares, "m", "requests", 600.0, "a", holding=300.0) == 300.0
    )  # not the 600 a fresh one gives
    assert granted(shares, "m", "requests", 600.0, "b", holding=300.0) == 300.0
    assert granted(shares, "m", "requests", 600.0, "new") == 0.0
    clock.now += 2.5  # still rebuilding: a and b may shrink to a fair third (new holds a lease) ...
    assert granted(shares, "m", "requests", 600.0, "a", holding=300.0) == 200.0
    assert granted(shares, "m", "requests", 600.0, "b", holding=300.0) == 200.0
    clock.now += 1.0  # ... and new, its first lease run out, takes what they leave
    assert granted(shares, "m", "requests", 600.0, "new") == 200.0


@settings(max_examples=80, deadline=None)
@given(
    old=st.lists(st.floats(0, 200), min_size=1, max_size=5),
    ops=st.lists(
        st.tuples(st.sampled_from(["share", "release", "wait"]), st.integers(0, 6), st.floats(0, 2)),
        max_size=60,
    ),
)
def test_a_restarted_limiter_never_lets_more_through_than_the_rate(
    old: list[float], ops: list[tuple[str, int, float]]
) -> None:
    """The lost limiter's leases (``old``, at most the rate together, each running until the
    rebuilding ends) and the restarted one's shares never add up to more than the rate: holders come
    back with what they held, newcomers (5, 6) with nothing, some stop and hand their share back."""
    rate = 600.0
    old = [rate * x / max(rate, sum(old)) for x in old]  # the lost table kept to the rate
    clock = Clock()
    shares = Shares(ttl_s=5.0, restarted=True, expected=len(old), clock=clock)
    held = dict(enumerate(old))  # what each holder paces at: the lost lease until it comes back
    back: set[int] = set()
    for op, holder, seconds in ops:
        live = play(shares, clock, op, holder, seconds, held, ttl_s=1.0)
        if op == "share":
            back.add(holder)
        running = sum(held[h] for h in held if h not in back) if clock.now < 5.0 else 0.0
        assert live + running <= rate + 1e-6


def test_a_share_handed_back_to_a_restarted_limiter_goes_to_the_others() -> None:
    clock = Clock()
    shares = Shares(ttl_s=60.0, restarted=True, clock=clock)
    for holder in "abc":
        assert granted(shares, "m", "requests", 600.0, holder, holding=200.0) == 200.0
    shares.release("m", "requests", "c")  # done: its 200 was reported, so it may go to a and b
    assert granted(shares, "m", "requests", 600.0, "a", holding=200.0) == 300.0
    assert granted(shares, "m", "requests", 600.0, "b", holding=200.0) == 300.0
    # a newcomer finds nothing left: a, b and the 200 c held are all the rate
    assert granted(shares, "m", "requests", 600.0, "new") == 0.0


def test_holders_a_restarted_limiter_keeps_below_a_fair_share_renew_at_their_own_pace() -> None:
    """Four workers renewing a restarted limiter's table one by one: the three back first are held at
    their quarter, below a third (the fourth is not back), and renew at their steady interval, not every
    quarter second as a newcomer waiting for a share; once the rebuilding is over they grow."""
    clock = Clock()
    shares = Shares(ttl_s=61.0, restarted=True, expected=4, clock=clock)
    steady = {"holding": 150.0, "steady_s": 4.0, "settled_s": 4.0}
    for holder in "abc":
        assert shares.share("m", "requests", 600.0, holder, **steady)[0] == 150.0
    clock.now = Shares.EXPECTED_WITHIN_S + 0.1  # the wait for the fourth is over: a fair third is 200
    for holder in "abc":
        assert shares.share("m", "requests", 600.0, holder, **steady) == (150.0, 4.0)
    clock.now = 59.0  # near the end of the rebuilding: asked just after it ends
    assert shares.share("m", "requests", 600.0, "a", **steady) == (150.0, pytest.approx(2.05))
    clock.now = 61.05
    assert shares.share("m", "requests", 600.0, "a", **steady)[0] == 200.0


def test_a_restarted_limiter_keeps_a_learned_pace_at_what_its_holders_held() -> None:
    """Four workers held a quarter each of a pace of 1,095 a minute learned from 429s; one came back
    with its own quarter (277) as its figure of the pace, the last a report of its own sends returned
    before the others reported. The restarted limiter had lost the pace and took each worker's figure:
    that worker's fair share came out at 69, less than the others left it, and it was granted nothing
    until the rebuilding ended (``ray_executor.py --restart-told unannounced``: 3 runs of 5 took up to
    89 s against 66). The pace is now what the holders said they held, and stays once rebuilt; a
    report of a period that began before the restart (its other sends went to the lost limiter)
    teaches nothing."""
    clock = Clock()
    clock.now = 100.0
    shares = Shares(ttl_s=3.0, restarted=True, clock=clock, wall=clock)
    figures = {"a": 1095.0, "b": 1095.0, "c": 1095.0, "d": 277.0}
    for now in (100.0, 102.0, 103.1):  # renewing; rebuilt at 103: the pace is what they held together
        clock.now = now
        for holder, figure in figures.items():
            assert granted(shares, "m", LEARNED, figure, holder, holding=273.75) == pytest.approx(273.75)
    assert shares.stats()["paces"] == {"m": 1095.0} and shares.learned("m", 103.1)[0] == 1095.0
    own = [60.0 + i / 4.5 for i in range(185)]  # d's sends since its last report, a quarter of them
    refused = [101.0 + i / 100 for i in range(5)]
    sends = {"accepted": own, "refused": refused}
    reported = shares.pace(
        "m", "d", sends, first_sent=1.0, ran_out=101.05, retry_after=1.0, refused_sent=101.0
    )
    assert reported == 1095.0


def test_a_restarted_limiters_pace_measures_the_periods_it_heard_whole() -> None:
    """A pace rebuilt after a restart: a period that began before it is not measured (the workers'
    sends then went to the lost limiter), the next one is, and teaches no faster pace."""
    cluster = ClusterPace(history_from=100.0)
    cluster.restore(1095.0)
    assert (
        exhaustion(
            cluster, "a", [90 + i / 10 for i in range(110)], [101.0 + i / 100 for i in range(5)], 101.05, 1.0
        )
        == 1095.0
    )
    slower = [102.0 + i / 10 for i in range(50)]  # the budget reopened at 102.05
    rate = exhaustion(cluster, "a", slower, [107.0 + i / 100 for i in range(5)], 107.05, 1.0)
    assert rate == pytest.approx(49 / 6.0 * 60 * HEADER_HEADROOM)  # (sent after it reopened)
    faster = [108.1 + i / 100 for i in range(400)]
    assert exhaustion(cluster, "a", faster, [112.1 + i / 100 for i in range(5)], 112.15, 1.0) == rate


def test_the_workers_expected_get_their_fair_share_from_their_first_lease() -> None:
    """Told to expect four workers, the limiter grants each a quarter at once, where the first used to
    take the whole rate and the others wait for it to come down. The share is settled (renewed at the
    longest interval) once all four have joined; one joining earlier renews when the wait for the
    others is over. A worker that has not joined by then is a newcomer, as without the count."""
    clock = Clock()
    shares = Shares(ttl_s=61.0, expected=4, clock=clock)
    wait = Shares.EXPECTED_WITHIN_S
    settled = {"steady_s": 2.0, "settled_s": 30.0}
    assert shares.share("m", "requests", 600.0, "a", **settled) == (150.0, pytest.approx(wait + 0.05))
    clock.now = 0.2
    assert shares.share("m", "requests", 600.0, "b", **settled) == (150.0, pytest.approx(wait - 0.15))
    assert shares.share("m", "requests", 600.0, "c", **settled)[0] == 150.0
    assert shares.share("m", "requests", 600.0, "d", **settled) == (150.0, 30.0)  # the last: settled
    clock.now = wait + 0.05
    assert shares.share("m", "requests", 600.0, "a", holding=150.0, **settled) == (150.0, 30.0)
    assert shares.leases["m", "requests"]["a"][1] == pytest.approx(clock.now + SharedRate.lease_s(30.0, 1.0))

    clock.now = 0.0
    shares = Shares(ttl_s=61.0, expected=2, clock=clock)
    assert granted(shares, "m", "requests", 600.0, "a", **settled) == 300.0
    clock.now = wait + 0.05  # b has not come: a takes the whole rate, and b is a newcomer later
    assert shares.share("m", "requests", 600.0, "a", holding=300.0, **settled) == (600.0, 1.0)
    clock.now += 0.5
    assert granted(shares, "m", "requests", 600.0, "b", **settled) == 0.0
    # a learned pace is taken up by one worker at a time, as each meets the budget spent: no count
    assert shares.share("m", LEARNED, 600.0, "a", **settled) == (600.0, 1.0)
    # ... until every worker holds a share: then nobody is left to join, and it is settled at once,
    # where it used to double from 1 s (1, 2, 4, 8 and 10 s: 5 calls per worker, not 1)
    assert shares.share("m", LEARNED, 600.0, "b", **settled) == (0.0, pytest.approx(1.05))
    clock.now += 1.05
    assert shares.share("m", LEARNED, 600.0, "a", holding=600.0, **settled) == (300.0, 10.0)
    assert shares.share("m", LEARNED, 600.0, "b", ttl_s=5.0, **settled) == (300.0, 10.0)
    # the lease lasts past that renewal, though the worker asked for one to suit 2 s
    assert shares.leases["m", LEARNED]["b"][1] == pytest.approx(clock.now + SharedRate.lease_s(10.0, 1.0))


def test_a_restarted_worker_takes_its_own_lease_over() -> None:
    """A worker Ray restarts renews under its old name and gets its share back at once (holding
    nothing), where a new name would get nothing until the dead worker's lease ran out."""
    clock = Clock()
    shares = Shares(ttl_s=61.0, expected=2, clock=clock)
    for holder in ("w0", "w1"):
        shares.share("m", "requests", 600.0, holder, steady_s=2.0, settled_s=30.0)
    clock.now = 10.0  # w0 died at 5 s with a lease until 61 s; its restart asks
    assert granted(shares, "m", "requests", 600.0, "somebody-else") == 0.0
    shares.release("m", "requests", "somebody-else")
    assert granted(shares, "m", "requests", 600.0, "w0") == 300.0
    assert granted(shares, "m", "requests", 600.0, "w1", holding=300.0) == 300.0


def test_a_workers_buckets_keep_their_names_when_it_is_restarted() -> None:
    from datagen_plugins.executors._limiter import ray_bucket

    def names() -> list[str]:
        bucket = ray_bucket(object(), 1.0, 30.0, "worker-3")  # as a restarted actor's __init__ runs again
        return [
            bucket(key, kind, 600.0).holder
            for key, kind in [("m", "requests"), ("m", "tokens"), ("m", "requests")]
        ]

    assert names() == names() == ["worker-3/m/requests/1", "worker-3/m/tokens/1", "worker-3/m/requests/2"]


def test_a_worker_paces_at_its_share_and_renews_it() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, clock=clock)
    shares.share("m", "requests", 600.0, "other")  # another worker holds the rate: ours waits for it
    released: list[str] = []

    async def share(key: str, kind: str, rate: float, holder: str, **kw: Any) -> tuple[float, float]:
        if holder != "other":
            shares.share(key, kind, rate, "other", holding=600.0 if clock.now < 1 else 300.0)  # it renews
        return shares.share(key, kind, rate, holder, **kw)

    bucket = SharedRate(
        (share, lambda key, kind, holder: released.append(holder)), "m", "requests", 600.0, clock=clock
    )

    async def send(n: int) -> None:
        for _ in range(n):
            await bucket.take(1, clock.sleep)

    asyncio.run(send(31))
    assert bucket.rate == 5.0  # 300 a minute: half the rate, beside the other worker
    assert 6.0 <= clock.now <= 8.0  # ~1 s waiting for a share, then 30 requests at 5 a second
    assert bucket.calls <= 5  # it asked again as the other worker renewed, not every quarter second
    bucket.release()
    assert released == [bucket.holder]


def test_takers_waiting_in_line_follow_a_share_that_changes() -> None:
    """The share drops from 10 to 5 a second after 1 s (another worker joined): the requests already
    waiting go at the new pace, not at the one they found when they queued."""
    clock = Clock()
    sent: list[float] = []

    async def share(
        key: str, kind: str, rate: float, holder: str, *, holding: float, ttl_s: float, **kw: Any
    ) -> tuple[float, float]:
        return lease(600.0 if clock.now < 1 else 300.0, holding, **kw)

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


def test_requests_sent_before_a_shared_bucket_was_made_are_paced_at_its_first_share() -> None:
    """Five sent 0.1 s before a limit was announced, the first share 10 a second: the next goes as if
    the share had paced those five (0.4 s from now), then one every 0.1 s."""
    clock = Clock()
    clock.now = 5.0

    async def share(key: str, kind: str, rate: float, holder: str, **kw: Any) -> tuple[float, float]:
        return 600.0, 30.0

    bucket = SharedRate((share, lambda key, kind, holder: None), "m", "requests", 1200.0, clock=clock)
    bucket.charge([0.1] * 5)
    sent: list[float] = []

    async def send(n: int) -> None:
        for _ in range(n):
            await bucket.take(1, clock.sleep)
            sent.append(round(clock.now - 5.0, 6))

    asyncio.run(send(3))
    assert sent == [0.4, 0.5, 0.6]

    # a token bucket: requests of 30 and 50 tokens sent 0.1 s before, a share of 600 a second
    # (36,000 a minute): paced from when they went, the 80 are paid off 1/30 s from now
    clock.now = 5.0

    async def tokens(key: str, kind: str, rate: float, holder: str, **kw: Any) -> tuple[float, float]:
        return 36_000.0, 30.0

    bucket = SharedRate((tokens, lambda key, kind, holder: None), "m", "tokens", 72_000.0, clock=clock)
    bucket.charge([0.1, 0.1], [30.0, 50.0])
    sent.clear()
    asyncio.run(send(1))
    assert sent == [pytest.approx(1 / 30, abs=1e-6)]


def test_a_models_buckets_renew_together_in_one_call() -> None:
    """A worker's requests and tokens buckets of one model (a server announcing both limits): their
    renewals go to the limiter in one call, at the same pace as each renewing on its own."""

    def calls_and_time(together: bool) -> tuple[int, int, float]:
        clock = Clock()
        shares = Shares(ttl_s=61.0, clock=clock)

        async def share(key: str, kind: str, rate: float, holder: str, **kw: Any) -> tuple[float, float]:
            return shares.share(key, kind, rate, holder, **kw)

        async def share_many(asks: Sequence[Ask]) -> list[tuple[float, float]]:
            return shares.share_many(asks)

        limiter = (share, shares.release)
        many = share_many if together else None
        requests = SharedRate(limiter, "m", "requests", 600.0, share_many=many, clock=clock)
        tokens = SharedRate(limiter, "m", "tokens", 60_000.0, share_many=many, clock=clock)
        if together:
            requests.siblings = tokens.siblings = [requests, tokens]

        async def send(n: int) -> None:
            for _ in range(n):  # 10 requests of 100 tokens a second: both limits bind
                await requests.take(1, clock.sleep)
                await tokens.take(100, clock.sleep)

        asyncio.run(send(600))
        return shares.calls, requests.calls + tokens.calls, clock.now

    alone, renewals, took = calls_and_time(False)
    assert alone == renewals > 8
    together, renewals_together, took_together = calls_and_time(True)
    assert together * 2 == renewals_together == renewals  # each renewal rode along with the other's
    assert took_together == pytest.approx(took)


def test_a_steady_share_is_renewed_less_often() -> None:
    """At a steady 50 a second the renewals space out (1, 2, then 4 s: 200 requests' worth), each
    lease lasting past the next renewal; a change brings them back to every second."""
    clock = Clock()
    calls: list[tuple[float, float]] = []  # (when, lease asked)

    async def share(
        key: str, kind: str, rate: float, holder: str, *, holding: float, ttl_s: float, **kw: Any
    ) -> tuple[float, float]:
        calls.append((clock.now, ttl_s))
        return lease(3000.0 if clock.now < 40 else 1500.0, holding, **kw)

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

    async def share(key: str, kind: str, rate: float, holder: str, **kw: Any) -> tuple[float, float]:
        calls.append(clock.now)
        return lease(300_000.0, **kw)

    bucket = SharedRate((share, lambda key, kind, holder: None), "m", "tokens", 600_000.0, clock=clock)

    async def send(n: int) -> None:
        for _ in range(n):
            await bucket.take(100, clock.sleep)

    asyncio.run(send(2000))
    assert clock.now == pytest.approx(40.0, abs=0.1) and len(calls) <= 0.01 * 2000
    assert calls[-1] - calls[-2] == pytest.approx(4.0, abs=0.05)


def shared_buckets(monkeypatch: pytest.MonkeyPatch) -> tuple[Shares, list[SharedRate]]:
    """The ``shared_rate_bucket`` service over a :class:`Shares` in this process, as the ray executor
    provides it over the limiter actor; returns the shares and every bucket it made."""
    from datagen import services

    shares = Shares(ttl_s=21.0)
    buckets: list[SharedRate] = []

    async def share(*args: Any, **kwargs: Any) -> tuple[float, float]:
        return shares.share(*args, **kwargs)

    def bucket(key: str, kind: str, rate: float) -> SharedRate:
        buckets.append(SharedRate((share, shares.release), key, kind, rate))
        return buckets[-1]

    monkeypatch.setitem(services._PROVIDED, "shared_rate_bucket", bucket)
    return shares, buckets


def test_engines_sharing_a_limiter_share_the_limit_a_server_announces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three engines as a cluster's workers, against a server that announces and enforces 3,000
    requests a minute (2 s windows) in its headers: they share it through the limiter, where each
    used to take the whole announced rate for itself (three times the limit, the rest refused)."""
    from datagen._engine.core import Engine
    from datagen.testing_server import Behaviour, LoopbackServer

    shares, buckets = shared_buckets(monkeypatch)
    behaviour = Behaviour(
        enforce_limit=True, requests_per_minute=3000, limit_window_s=2.0, rate_limit_headers=True
    )

    async def cluster(srv: LoopbackServer) -> list[Engine]:
        return await asyncio.gather(*(send_from_engine(srv.url, name, 100) for name in "abc"))

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


def test_a_period_that_ends_in_refusals_in_a_row_teaches_a_pace() -> None:
    """A spent budget refuses everything sent after it ran out: five refusals in a row end a period
    that reached a limit, however few of its sends they are; four do not, nor do five with an
    accepted request after them (a busy server's occasional 429s among answers)."""
    accepted = [i / 100 for i in range(40)]  # 40 accepted over 0.4 s

    def log(refused: list[float], capped: list[float] = (), more: list[float] = ()) -> SendLog:  # type: ignore[assignment]
        sends = SendLog()
        sends.extend({"accepted": [*accepted, *more], "refused": refused, "capped": capped})
        return sends

    pace = log([0.41, 0.42, 0.43, 0.44, 0.45]).pace(0.0, 0.45, 2.0)
    assert pace is not None and pace.accepted == 40 and pace.last_accepted == 0.39
    assert pace.requests_per_minute == pytest.approx(40 / 2.0 * 60 * HEADER_HEADROOM)
    assert log([0.41, 0.42, 0.43, 0.44]).pace(0.0, 0.45, 2.0) is None  # 4 of 44: 9 %
    assert log([0.41, 0.42, 0.43], capped=[0.44, 0.45]).pace(0.0, 0.45, 2.0) is not None
    assert log([0.41, 0.42, 0.43, 0.44, 0.45], more=[0.445]).pace(0.0, 0.45, 2.0) is None
    # a share of refusals over 20 % teaches a pace too, but not one among fewer than 10 sends
    assert log([i / 100 for i in range(0, 40, 3)]).pace(0.0, 0.45, 2.0) is not None  # 14 of 54
    few = SendLog()
    few.extend({"accepted": [0.0, 0.1], "refused": [0.05, 0.15]})
    assert few.pace(0.0, 0.2, 1.0) is None


def exhaustion(
    cluster: ClusterPace,
    worker: str,
    accepted: list[float],
    refused: list[float],
    ran_out: float,
    retry_after: float,
) -> float | None:
    """``worker`` reports a spent budget (its first refusal is the one that said so)."""
    sends = {"accepted": accepted, "refused": refused}
    return cluster.report(
        worker,
        sends,
        first_sent=min(accepted + refused),
        ran_out=ran_out,
        retry_after=retry_after,
        refused_sent=min(refused),
    )


def test_the_cluster_learns_the_pace_from_every_workers_requests() -> None:
    """Two workers each had 50 of a budget of 100 a 5 s window accepted, then five refused: each one's
    part is half the rate; the cluster's is the sum."""
    cluster = ClusterPace()
    burst = [i / 1000 for i in range(50)]
    refused = [0.06, 0.061, 0.062, 0.063, 0.064]
    first = exhaustion(cluster, "a", burst, refused, ran_out=0.07, retry_after=4.93)
    assert first == pytest.approx(50 / 5.0 * 60 * HEADER_HEADROOM)  # a's part, until b reports
    both = exhaustion(cluster, "b", burst, refused, ran_out=0.071, retry_after=4.93)
    assert both == pytest.approx(100 / 5.0 * 60 * HEADER_HEADROOM) == cluster.rate


def test_a_period_shorter_than_a_window_is_measured_back_to_an_earlier_reopening() -> None:
    """A sliding window reopens one request at a time: an exhaustion 20 ms after it reopened, with
    the 8 requests accepted in them, is measured from the first request (the longest Retry-After, 4.9
    s, says how long a window is), not over 21 ms (22,000 a minute)."""
    cluster = ClusterPace()
    burst = [i / 1000 for i in range(100)]
    # the first exhaustion: 2 refused of 102, too few to say a limit was reached
    assert exhaustion(cluster, "a", burst, [0.1, 0.101], ran_out=0.1, retry_after=4.9) is None
    reopened = [5.0 + i / 1000 for i in range(8)]
    rate = exhaustion(cluster, "a", reopened, [5.008 + i / 1000 for i in range(10)], 5.02, 0.001)
    assert rate == pytest.approx(108 / 5.021 * 60 * HEADER_HEADROOM)


def test_a_budget_spent_at_a_pace_never_teaches_a_faster_one() -> None:
    cluster = ClusterPace()
    burst = [i / 1000 for i in range(100)]
    refused = [0.1 + i / 1000 for i in range(5)]
    learned = exhaustion(cluster, "a", burst, refused, ran_out=0.11, retry_after=4.9)
    assert learned == pytest.approx(100 / 5.01 * 60 * HEADER_HEADROOM)
    # the next window: 120 accepted in it (an earlier burst's slots reopening at its start)
    paced = [5.01 + i / 24 for i in range(120)]
    again = exhaustion(cluster, "a", paced, [10.02 + i / 1000 for i in range(5)], 10.03, 0.5)
    assert again == learned


def test_a_busy_servers_occasional_429_teaches_no_pace() -> None:
    cluster = ClusterPace()
    steady = [i / 20 for i in range(200)]  # 20 a second for 10 s, then one 429
    assert exhaustion(cluster, "a", steady, [10.0], ran_out=10.01, retry_after=1.0) is None


def test_a_worker_that_starts_waits_for_the_spent_budget_and_the_pace_it_teaches() -> None:
    cluster = ClusterPace()
    assert cluster.known(0.0) == (None, 0.0)
    cluster.spent("a", 1.0, 4.0)  # a met the budget spent at 1 s: it reopens at 5 s
    assert cluster.known(2.0) == (None, 3.0)
    assert cluster.known(5.2) == (None, REPORT_POLL_S)  # reopened, and a has not reported yet
    assert cluster.known(5.0 + REPORT_WAIT_S) == (None, 0.0)  # ... for too long: go
    burst = [0.5 + i / 1000 for i in range(100)]
    rate = exhaustion(cluster, "a", burst, [0.6 + i / 1000 for i in range(5)], 1.0, 4.0)
    assert rate is not None and cluster.known(5.2) == (rate, 0.0)


class InProcessPace:
    """The ``shared_pace`` service over a :class:`Shares` in this process (the ray executor's reaches
    it in the limiter actor); it keeps every pace it was answered."""

    def __init__(self, shares: Shares, key: str, answers: list[float | None]) -> None:
        self.shares, self.key, self.answers = shares, key, answers
        self.holder = f"worker-{id(self)}"

    async def known(self) -> tuple[float | None, float]:
        return self.shares.learned(self.key, time.monotonic())

    def spent(self, retry_after: float) -> None:
        self.shares.spent(self.key, self.holder, time.monotonic(), retry_after)

    async def report(self, sends: Any, *, now: float, **exhaustion: float) -> float | None:
        self.answers.append(self.shares.pace(self.key, self.holder, sends, **exhaustion))
        return self.answers[-1]


def test_engines_sharing_a_limiter_learn_one_pace_of_a_limit_nobody_announced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three engines as a cluster's workers, against a server that enforces 1,800 requests a minute
    over 2 s windows without announcing it: they report their requests to the limiter, which learns
    one pace from all of them, and each leases a share of it."""
    from datagen import services
    from datagen._engine.core import Engine
    from datagen.testing_server import Behaviour, LoopbackServer

    shares, buckets = shared_buckets(monkeypatch)
    answers: list[float | None] = []
    monkeypatch.setitem(services._PROVIDED, "shared_pace", lambda key: InProcessPace(shares, key, answers))
    limit = 1800

    async def cluster(srv: LoopbackServer) -> list[Engine]:
        return await asyncio.gather(*(send_from_engine(srv.url, name, 60) for name in "abc"))

    behaviour = Behaviour(enforce_limit=True, requests_per_minute=limit, limit_window_s=2.0)
    with LoopbackServer(behaviour) as srv:
        engines = asyncio.run(cluster(srv))
    assert sum(srv.answered.values()) == 180 and not any(e.stats.failed for e in engines)
    # every engine paced at a share of the one pace the limiter learned
    assert [b.kind for b in buckets] == ["learned"] * 3 and len(shares.paces) == 1
    learned = [a for a in answers if a is not None]
    print(f"paces answered: {[round(a) for a in learned]}; {srv.limited} answered 429")
    assert learned and max(learned) <= limit and max(learned) >= 0.6 * limit


def test_requests_woken_while_the_pace_is_being_learned_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The requests refused by a spent budget wake together when it reopens. The first reports to the
    cluster's limiter (a round trip); the others used to go unpaced meanwhile, and that burst on top
    of the pace spent the budget a second time, 1-2 s later in the Ray runs. (The engine before the
    change failed this in 6 of 6 runs here; with 120 requests at 16 in flight, the first exhaustion
    sometimes refused too few to teach a pace before the run ended.)"""
    from datagen import services
    from datagen.testing_server import Behaviour, LoopbackServer

    shares, _ = shared_buckets(monkeypatch)
    answers: list[float | None] = []

    learned_at: list[float] = []

    class SlowPace(InProcessPace):
        async def report(self, sends: Any, *, now: float, **exhaustion: float) -> float | None:
            await asyncio.sleep(0.2)  # the limiter's answer takes a while
            rate = await super().report(sends, now=now, **exhaustion)
            if rate is not None:
                learned_at.append(time.monotonic())  # the server's clock too
            return rate

    monkeypatch.setitem(services._PROVIDED, "shared_pace", lambda key: SlowPace(shares, key, answers))

    # 40 requests per 2 s window: the first burst spends it, the pace learned is 0.95 of the limit
    behaviour = Behaviour(enforce_limit=True, requests_per_minute=1200, limit_window_s=2.0)
    with LoopbackServer(behaviour) as srv:
        engine = asyncio.run(send_from_engine(srv.url, "r", 200, in_flight=32))
    assert sum(srv.answered.values()) == 200 and not engine.stats.failed
    assert learned_at, "no pace was learned"
    # (on a loaded machine the first exhaustion may refuse too few to teach a pace: the next does)
    later = [round(t - learned_at[0], 2) for t in srv.limited_at if t > learned_at[0]]
    assert not later, f"the budget was spent again: 429s {later} s after the pace was learned"


def test_the_limiters_calls_are_counted_over_its_restarts() -> None:
    """The driver reads the limiter's count as the run goes: a limiter Ray restarted counts from 0,
    and the count read last before the drop is kept (the report used to give the new one's alone)."""
    from datagen_plugins.executors.ray_executor import _CallTally

    tally = _CallTally()
    seen = [tally.seen({"calls": calls}) for calls in (3, 9, 2, 5, 5, 1)]
    assert seen == [3, 9, 11, 14, 14, 15]
