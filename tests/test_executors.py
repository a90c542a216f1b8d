"""Executors as plugins: which one a run takes, and the share of the limits each worker gets (no Ray
needed; tests/test_ray.py runs the ray executor itself)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from datagen import Pipeline
from datagen._app.pipefile.job import choose_executor, worker_share
from datagen._datamodel.config import load_config
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
            held[holder] = shares.share("m", "requests", 600.0, str(holder), held.get(holder, 0.0))
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
    assert shares.share("m", "requests", 600.0, "a", 600.0) == 300.0
    assert shares.share("m", "requests", 600.0, "b") == 300.0
    shares.release("m", "requests", "b")
    assert shares.share("m", "requests", 600.0, "a", 300.0) == 600.0
    clock.now += 5  # a stops renewing (it died): its lease runs out, a newcomer gets the whole rate
    assert shares.share("m", "requests", 600.0, "c") == 600.0


def test_a_restarted_limiter_lets_no_share_grow_until_its_table_is_rebuilt() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, restarted=True, clock=clock)
    assert shares.share("m", "requests", 600.0, "a", 300.0) == 300.0  # not the 600 a fresh one gives
    assert shares.share("m", "requests", 600.0, "b", 300.0) == 300.0
    assert shares.share("m", "requests", 600.0, "new") == 0.0
    clock.now += 2.5  # still rebuilding: a and b may shrink to a fair third (new holds a lease) ...
    assert shares.share("m", "requests", 600.0, "a", 300.0) == 200.0
    assert shares.share("m", "requests", 600.0, "b", 300.0) == 200.0
    clock.now += 1.0  # ... and new, its first lease run out, takes what they leave
    assert shares.share("m", "requests", 600.0, "new") == 200.0


def test_a_worker_paces_at_its_share_and_renews_it() -> None:
    clock = Clock()
    shares = Shares(ttl_s=3.0, clock=clock)
    shares.share("m", "requests", 600.0, "other")  # another worker holds the rate: ours waits for it
    released: list[str] = []

    async def share(key: str, kind: str, rate: float, holder: str, holding: float) -> float:
        if holder != "other":
            shares.share(key, kind, rate, "other", 600.0 if clock.now < 1 else 300.0)  # it renews
        return shares.share(key, kind, rate, holder, holding)

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
