"""Executors as plugins: which one a run takes, and the share of the limits each worker gets (no Ray
needed; tests/test_ray.py runs the ray executor itself)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from datagen import Pipeline
from datagen._app.pipefile.job import choose_executor, worker_share
from datagen._datamodel.config import load_config
from datagen.errors import ConfigError, UsageError

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
