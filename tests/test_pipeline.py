"""A run is a pipeline of stages: filters and privacy mechanisms run, in order, with back-pressure, a
rejected file and a run report; the same stages run on existing files."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import attrs
import pytest

import datagen
from datagen._datamodel.report import RunReport
from datagen._datamodel.results import Results
from datagen.plugin import Rejected, Stage
from tests.conftest import REPO
from tests.fakes import FakeDist, fake_module, install_fake_dists
from tests.test_backends_http import keys  # noqa: F401  (fixture)


def guide_module() -> dict[str, Any]:
    """The filter of docs/plugin-guide.md, sections 1 and 2, executed as written."""
    text = (REPO / "docs" / "plugin-guide.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace: dict[str, Any] = {"__name__": "guide_filter"}
    exec(blocks[0] + "\n" + blocks[1], namespace)
    return namespace


@attrs.define
class KeepEveryOther:
    """Options."""

    reason: str = "odd"


class KeepHalf(Stage):
    """Keeps one record in two (by arrival), removing the others with a reason."""

    name: ClassVar[str] = "keep_half"
    Config: ClassVar[type[Any]] = KeepEveryOther

    def __init__(self, config: KeepEveryOther) -> None:
        self.config = config
        self.seen = 0

    def process(self, ctx: datagen.RunContext, record: datagen.Record) -> datagen.Record | Rejected:
        self.seen += 1
        return record if self.seen % 2 else Rejected(self.config.reason, {"n": self.seen})


@attrs.define
class NoOptions:
    """No options."""


class LastTwo:
    """A whole-dataset stage: keeps only the last two records it is given."""

    name: ClassVar[str] = "last_two"
    Config: ClassVar[type[Any]] = NoOptions
    whole_dataset: ClassVar[bool] = True
    examined: ClassVar[list[int]] = []

    def __init__(self, config: NoOptions) -> None:
        self.config = config

    async def apply(self, ctx: datagen.RunContext, records: AsyncIterator[datagen.Record]) -> Any:
        everything = [r async for r in records]
        LastTwo.examined.append(len(everything))
        for record in everything[:-2]:
            ctx.remove(record, "not_last")
        for record in everything[-2:]:
            yield record


class Shout:
    """A privacy mechanism that upper-cases every instruction (stands in for a scrubber)."""

    name: ClassVar[str] = "shout"
    Config: ClassVar[type[Any]] = NoOptions

    def __init__(self, config: NoOptions) -> None:
        self.config = config
        self.rewritten = 0

    async def apply(self, ctx: datagen.RunContext, records: AsyncIterator[datagen.Record]) -> Any:
        async for record in records:
            self.rewritten += 1
            yield record.evolve(instruction=(record.instruction or "").upper())

    def spent(self) -> dict[str, float]:
        return {"epsilon": 0.5}

    def report(self) -> dict[str, Any]:
        return {"rewritten": self.rewritten}


class Refuses:
    """A filter whose constructor refuses its options."""

    name: ClassVar[str] = "refuses"
    Config: ClassVar[type[Any]] = NoOptions

    def __init__(self, config: NoOptions) -> None:
        raise datagen.UsageError("threshold must be set")

    async def apply(self, ctx: Any, records: Any) -> Any:  # pragma: no cover - never built
        yield None


@pytest.fixture
def stage_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's filter and the stages above as an installed third-party distribution."""
    guide = guide_module()

    @datagen.hookimpl
    def datagen_register_filters(register: Any) -> None:
        register(guide["ShortOnly"])
        register(KeepHalf)
        register(LastTwo)
        register(Refuses)

    @datagen.hookimpl
    def datagen_register_privacy(register: Any) -> None:
        register(Shout)

    fake_module(
        monkeypatch,
        "stage_plugins",
        datagen_register_filters=datagen_register_filters,
        datagen_register_privacy=datagen_register_privacy,
    )
    install_fake_dists(monkeypatch, FakeDist("datagen-stages", "0.3", {"stages": "stage_plugins"}))
    LastTwo.examined.clear()


def seeds_file(tmp_path: Any, n: int) -> str:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"id": f"s{i}", "instruction": f"task {i}"}) + "\n" for i in range(n)))
    return str(path)


def rejected_lines(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def echo_args(tmp_path: Any, n_seeds: int, count: int, *extra: str) -> list[str]:
    return [
        "generate",
        "--backend",
        "echo",
        "--seeds",
        seeds_file(tmp_path, n_seeds),
        "--count",
        str(count),
        "--out",
        "out.jsonl",
        *extra,
    ]


def test_the_guides_filter_configured_as_documented_drops_every_record(cli, stage_plugins, tmp_path) -> None:
    (tmp_path / "datagen.toml").write_text(
        '[filter]\nchain = ["short_only"]\n\n[filter.short_only]\nmax_words = 0\n'
    )
    args = echo_args(tmp_path, 3, 3, "--rejected", "rejected.jsonl", "--report", "run.json")
    result = cli("--config", "datagen.toml", *args)
    assert result.code == 1, result.err  # nothing written is a failure
    assert not (tmp_path / "out.jsonl").exists()
    rejected = rejected_lines(tmp_path / "rejected.jsonl")
    assert len(rejected) == 12  # 4x the count was tried before stopping short
    assert {(r["stage"], r["family"], r["reason"]) for r in rejected} == {
        ("short_only", "filter", "too_long")
    }
    assert all(r["details"]["words"] > 0 and r["record"]["output"] for r in rejected)
    report = RunReport.load(tmp_path / "run.json")
    assert report.status == "empty" and report.written == 0 and report.generated == 12
    assert report.stages[0]["removed"] == 12 and report.stages[0]["retention"] == 0.0
    assert any("attempts limit" in reason for reason in report.short_reasons)


def test_a_filter_that_keeps_one_in_two_still_gives_the_count(cli, stage_plugins, tmp_path) -> None:
    args = echo_args(
        tmp_path, 50, 20, "--filter", "keep_half", "--rejected", "r.jsonl", "--report", "run.json"
    )
    result = cli(*args)
    assert result.code == 0, result.err
    kept = list(Results.load(tmp_path / "out.jsonl"))
    assert len(kept) == 20
    rejected = rejected_lines(tmp_path / "r.jsonl")
    assert len(rejected) == 19 and {r["reason"] for r in rejected} == {"odd"}
    assert not {r.id for r in kept} & {r["record"]["id"] for r in rejected}
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["written"] == 20 and report["requested"] == 20 and report["status"] == "complete"
    assert report["stages"] == [
        {
            "name": "keep_half",
            "family": "filter",
            "position": "outputs",
            "whole_dataset": False,
            "examined": 39,
            "kept": 20,
            "removed": 19,
            "retention": 20 / 39,
            "reasons": {"odd": 19},
            "details": {},
        }
    ]
    assert report["plugins"]["filter:keep_half"] == "0.3"
    assert "19 removed by 1 stage" in result.err


def test_results_report_and_the_report_file_agree(stage_plugins, tmp_path) -> None:
    gen = datagen.Generator(
        {
            "backend": {"name": "echo"},
            "filter": {"chain": ["keep_half"]},
            "generate": {"report": str(tmp_path / "run.json")},
        }
    )
    results = gen.run("respond", [f"task {i}" for i in range(30)], 10)
    assert len(results) == 10
    on_disk = RunReport.load(tmp_path / "run.json")
    assert results.report is not None
    assert results.report.to_dict() == on_disk.to_dict()
    assert results.report.written == 10
    assert 19 <= results.report.requests <= 24  # the candidates it needed, not 4 x 10


def test_a_short_run_warns_with_its_reasons_and_require_count_fails(cli, stage_plugins, tmp_path) -> None:
    args = echo_args(tmp_path, 6, 5, "--filter", "keep_half", "--set", "generate.max_attempts_factor=1.2")
    result = cli(*args)
    assert result.code == 0, result.err
    assert len(Results.load(tmp_path / "out.jsonl")) == 3
    assert "warning: 3 records of 5 asked" in result.err
    assert "attempts limit reached: 6 candidates" in result.err and "filter keep_half removed 3" in result.err
    strict = cli(*args, "--overwrite", "--require-count")
    assert strict.code == 3 and "--require-count" in strict.err


def test_a_short_api_run_logs_a_warning(stage_plugins, capsys) -> None:
    gen = datagen.Generator(
        {
            "backend": {"name": "echo"},
            "filter": {"chain": ["keep_half"]},
            "generate": {"max_attempts_factor": 1},
        }
    )
    results = gen.run("respond", ["a", "b", "c"], 3)
    assert len(results) == 2 and results.report.status == "short"
    err = capsys.readouterr().err
    assert "run_short" in err and "keep_half removed 1" in err


def test_whole_dataset_stages_get_every_survivor_after_generation(cli, stage_plugins, tmp_path) -> None:
    args = echo_args(
        tmp_path, 40, 10, "--filter", "keep_half", "--filter", "last_two", "--rejected", "r.jsonl"
    )
    result = cli(*args)
    assert result.code == 0, result.err
    assert LastTwo.examined == [10]  # the 10 survivors of keep_half, all at once
    kept = list(Results.load(tmp_path / "out.jsonl"))
    assert [r.provenance.seed_ids[0] for r in kept] == ["s16", "s18"]
    reasons = [r["reason"] for r in rejected_lines(tmp_path / "r.jsonl")]
    assert reasons.count("odd") == 9 and reasons.count("not_last") == 8


def test_privacy_runs_on_the_seeds_before_the_backend_and_on_the_output(stage_plugins, tmp_path) -> None:
    gen = datagen.Generator(
        {"backend": {"name": "echo"}, "privacy": {"inputs": ["shout"], "outputs": ["shout"]}}
    )
    results = gen.run("respond", ["quiet words"], 1)
    (record,) = results
    assert "QUIET WORDS" in (record.output or "")  # the backend only ever saw the rewritten seed
    assert results.report.privacy_spent == {"shout": {"epsilon": 0.5}}
    assert [s["position"] for s in results.report.stages] == ["inputs", "outputs"]
    assert results.report.stages[0]["details"] == {"rewritten": 1}


def test_stage_problems_are_reported_together_before_any_work(cli, stage_plugins, tmp_path) -> None:
    args = echo_args(tmp_path, 3, 3, "--filter", "nope", "--filter", "refuses", "--privacy", "gone")
    result = cli(*args, "--set", "filter.keep_half.bogus=1")
    assert result.code == 2
    for problem in (
        "$.filter.chain[0]: no filter plugin named 'nope'",
        "$.filter.refuses: threshold must be set",
        "$.privacy.inputs[0]: no privacy plugin named 'gone'",
        "$.filter.keep_half.bogus: unknown key",
    ):
        assert problem in result.err
    assert not (tmp_path / "out.jsonl").exists()


def test_datagen_filter_runs_the_stages_on_an_existing_file(cli, stage_plugins, tmp_path) -> None:
    Results([datagen.Record(id=str(i), instruction=f"t{i}", output="x " * i) for i in range(10)]).save(
        tmp_path / "in.parquet"
    )
    result = cli(
        "filter",
        "in.parquet",
        "-o",
        "out.jsonl",
        "--filter",
        "keep_half",
        "--rejected",
        "r.jsonl",
        "--report",
        "rep.json",
    )
    assert result.code == 0, result.err
    assert [r.id for r in Results.load(tmp_path / "out.jsonl")] == ["0", "2", "4", "6", "8"]
    assert [r["record"]["id"] for r in rejected_lines(tmp_path / "r.jsonl")] == ["1", "3", "5", "7", "9"]
    report = json.loads((tmp_path / "rep.json").read_text())
    assert report["kind"] == "filter" and report["generated"] == 10 and report["written"] == 5
    again = cli("filter", "in.parquet", "-o", "out.jsonl", "--filter", "keep_half")
    assert again.code == 2 and "exists" in again.err


def test_results_apply_and_empty_or_all_removed_inputs_give_valid_reports(stage_plugins) -> None:
    records = Results([datagen.Record(id=str(i), instruction="t", output="w " * 5) for i in range(4)])
    kept = records.apply("keep_half")
    assert [r.id for r in kept] == ["0", "2"] and kept.report.stages[0]["retention"] == 0.5
    nothing = Results().apply("keep_half")
    assert len(nothing) == 0 and nothing.report.stages[0]["retention"] is None
    assert nothing.report.status == "empty" and json.dumps(nothing.report.to_dict())
    gone = records.apply("short_only", config={"filter": {"short_only": {"max_words": 1}}})
    assert len(gone) == 0 and gone.report.stages[0]["removed"] == 4
    assert gone.report.stages[0]["reasons"] == {"too_long": 4}
    scrubbed = records.apply(("privacy", "shout"))
    assert scrubbed[0].instruction == "T" and scrubbed.report.privacy_spent == {"shout": {"epsilon": 0.5}}


def test_a_silent_drop_is_counted_and_kept_in_the_rejected_file(stage_plugins, tmp_path) -> None:
    class Silent(Stage):
        name: ClassVar[str] = "silent"
        Config: ClassVar[type[Any]] = NoOptions

        def __init__(self, config: NoOptions) -> None: ...

        async def apply(self, ctx: Any, records: Any) -> Any:
            async for record in records:
                if record.id != "1":
                    yield record

    pm = datagen.load_plugins()

    class Extra:
        @datagen.hookimpl
        def datagen_register_filters(self, register: Any) -> None:
            register(Silent)

    pm.register(Extra(), name="extra")
    records = Results([datagen.Record(id=str(i), instruction="t") for i in range(3)])
    kept = records.apply("silent", plugins=pm, rejected=tmp_path / "r.jsonl")
    assert [r.id for r in kept] == ["0", "2"]
    assert kept.report.stages[0]["reasons"] == {"unexplained": 1}
    assert [r["record"]["id"] for r in rejected_lines(tmp_path / "r.jsonl")] == ["1"]


def test_a_run_without_stages_sends_only_the_requests_it_needs() -> None:
    gen = datagen.Generator({"backend": {"name": "echo"}, "cache": {"enabled": False}})
    results = gen.run("respond", [f"task {i}" for i in range(50)], 3)
    assert len(results) == 3 and results.report.requests == 3


@pytest.mark.parametrize(
    "stages",
    [
        {"privacy": {"outputs": ["pii"], "pii": {"ner": "none"}}},
        {"privacy": {"inputs": ["pii"], "outputs": ["pii"], "pii": {"ner": "none"}}},
        {
            "privacy": {"outputs": ["pii"], "pii": {"ner": "none"}},
            "filter": {"chain": ["length"], "length": {"min_length": 1}},
        },
    ],
)
def test_a_batching_output_stage_makes_a_run_send_only_what_it_needs(keys, tmp_path, stages) -> None:  # noqa: F811
    """A stage that gathers records into batches (the PII scrubber, 64 at a time) used to hold them while
    the method, seeing nothing come out, kept sending: 200 requests for 50 records, 101 of them
    reported. Every request the server saw is in the report."""
    from datagen.testing_server import LoopbackServer

    with LoopbackServer() as srv:
        config = {
            "backend": {"name": "openai", "openai": {"base_url": srv.url + "/v1"}},
            "cache": {"dir": str(tmp_path / "cache")},
            **stages,
        }
        results = datagen.Generator(config).run("respond", [f"task {i}" for i in range(80)], 50)
        seen = sum(srv.received.values())
    assert len(results) == 50 and results.report is not None
    assert seen == results.report.sent == results.report.requests == 50
    assert results.report.abandoned == 0 and results.report.generated == 50


def test_requests_cancelled_in_flight_are_counted_as_sent_and_abandoned(keys, tmp_path) -> None:  # noqa: F811
    """A filter that keeps one record in three: the run stops at its count with requests still on the
    wire; each one the server received is counted (sent), and those never answered as abandoned."""
    from datagen.testing_server import Behaviour, LoopbackServer

    with LoopbackServer(Behaviour(latency_s=0.05)) as srv:
        config = {
            "backend": {"name": "openai", "openai": {"base_url": srv.url + "/v1"}},
            "cache": {"enabled": False},
            "filter": {"chain": ["keep_third"]},
        }
        pm = datagen.load_plugins()
        pm.register(_KeepThirdPlugin(), name="keep-third")
        results = datagen.Generator(config, plugins=pm).run("respond", [f"task {i}" for i in range(300)], 20)
        seen = sum(srv.received.values())
    report = results.report
    assert report is not None and len(results) == 20
    assert report.sent == seen
    assert report.sent == report.requests + report.abandoned + report.retries + report.failed
    assert report.requests >= 58


class _KeepThird(Stage):
    name: ClassVar[str] = "keep_third"

    @attrs.define
    class Config:
        pass

    def __init__(self, config: Any) -> None:
        self.seen = 0

    def process(self, ctx: Any, record: datagen.Record) -> datagen.Record | Rejected:
        self.seen += 1
        return record if self.seen % 3 == 0 else Rejected("not_third")


class _KeepThirdPlugin:
    @datagen.hookimpl
    def datagen_register_filters(self, register: Any) -> None:
        register(_KeepThird)


def test_an_existing_report_or_rejected_file_is_refused_like_the_output(cli, tmp_path) -> None:
    report = tmp_path / "run.json"
    report.write_text("{}")
    args = echo_args(tmp_path, 3, 2, "--report", str(report))
    result = cli(*args)
    assert result.code == 2 and "the report file exists; pass --overwrite" in result.err
    assert report.read_text() == "{}"
    assert cli(*args, "--overwrite").code == 0
    assert json.loads(report.read_text())["written"] == 2
    rejected = tmp_path / "rejected.jsonl"
    rejected.write_text("keep me\n")
    out, kept = str(tmp_path / "out.jsonl"), str(tmp_path / "k.jsonl")
    result = cli("filter", out, "-o", kept, "--filter", "exact_dedup", "--rejected", str(rejected))
    assert (
        result.code == 2 and "the rejected file exists" in result.err and rejected.read_text() == "keep me\n"
    )
