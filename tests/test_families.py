"""A plugin family is declared once: a toy family declared here, with one record and its hook spec,
gets its registry, its config section, its place among the stages and its CLI flag from that record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest

import datagen
from datagen._app.pipeline import apply_stages, build_stages
from datagen._datamodel.config import converter, load_config
from datagen._datamodel.families import FAMILIES, Family, StageList, declare_family, forget_family
from datagen._datamodel.records import Record
from datagen._kernel.commands import CliOption
from datagen._kernel.manager import PluginManager, load_plugins
from datagen.errors import ConfigError, PluginError
from tests.fakes import FakeDist, fake_module, install_fake_dists


@pluggy.HookspecMarker("datagen")
def datagen_register_toys(register: Callable[[Any], None]) -> None:
    """Register toy stages (this test's family)."""


#: the one declaration: hook, members, a stage list on the output between filters and privacy, a flag
TOY = Family(
    name="toy",
    hook="datagen_register_toys",
    members=("apply",),
    spec_module=__name__,
    stage_lists=(StageList("chain", "outputs", 250),),
    cli_flag="--toy",
    cli_help="A toy stage, in order; repeatable.",
)


class Shout:
    """Appends its suffix to every output, upper-cased."""

    name = "shout"
    cli_options = (CliOption("--shout-suffix", "suffix", "What to append.", "text"),)

    @attrs.define
    class Config:
        suffix: str = "!"

    def __init__(self, config: Config) -> None:
        self.config = config

    async def apply(self, ctx: Any, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        async for record in records:
            yield record.evolve(output=(record.output or "").upper() + self.config.suffix)


class ToyPlugin:
    @datagen.hookimpl
    def datagen_register_toys(self, register: Callable[[Any], None]) -> None:
        register(Shout)


@pytest.fixture
def toy() -> Iterator[Family]:
    declared = declare_family(TOY)
    try:
        yield declared
    finally:
        forget_family("toy")


def records() -> list[Record]:
    return [Record(instruction=f"say {w}", output=w) for w in ("hello", "a", "world")]


def test_the_record_gives_the_family_its_config_section(toy: Family) -> None:
    config = load_config(data={"toy": {"chain": ["shout"], "shout": {"suffix": "?"}}})
    section = config.section("toy")
    assert section.chain == ["shout"]  # type: ignore[attr-defined]
    assert section.options == {"shout": {"suffix": "?"}}
    assert "toy" in config.sections()
    assert converter.unstructure(config)["toy"] == {"chain": ["shout"], "shout": {"suffix": "?"}}
    with pytest.raises(ConfigError) as err:
        load_config(data={"toy": {"chain": "shout,x", "shout": 3}})
    assert err.value.problems == ["$.toy.shout: unknown key (a plugin's options must be a table, got 3)"]


def test_the_record_gives_the_family_its_registry_and_member_checks(toy: Family) -> None:
    pm = PluginManager(strict=True)
    pm.register(ToyPlugin(), name="toys")
    assert pm.registry("toy").names() == ["shout"]
    assert "datagen_register_toys" in pm.hook_names()

    class NoApply:
        name = "mute"
        Config = Shout.Config

    class BadPlugin:
        @datagen.hookimpl
        def datagen_register_toys(self, register: Callable[[Any], None]) -> None:
            register(NoApply)

    pm.register(BadPlugin(), name="bad")
    with pytest.raises(PluginError, match="lacks apply required of a toy"):
        pm.registry("toy")


def test_the_record_places_the_family_among_the_stages(toy: Family) -> None:
    pm = load_plugins(strict=True, disable=())
    pm.register(ToyPlugin(), name="toys")
    config = load_config(
        data={
            "filter": {"chain": ["length"], "length": {"min_length": 1}},
            "toy": {"chain": ["shout"]},
            "privacy": {"outputs": ["pii"]},
        }
    )
    specs = build_stages(config, pm)
    assert [(s.family, s.position, s.name) for s in specs] == [
        ("filter", "outputs", "length"),
        ("toy", "outputs", "shout"),
        ("privacy", "outputs", "pii"),
    ]
    out = apply_stages(
        records(), [("toy", "shout"), "length"], config={"filter": {"length": {"min_length": 1}}}, plugins=pm
    )
    assert [r.output for r in out] == ["HELLO!", "A!", "WORLD!"]
    assert out.report is not None
    assert [(s["family"], s["name"]) for s in out.report.stages] == [("filter", "length"), ("toy", "shout")]
    with pytest.raises(ConfigError, match=r"\$\.toy\.chain\[0\]: no toy plugin named 'whisper'"):
        build_stages(load_config(data={"toy": {"chain": ["whisper"]}}), pm)


def test_the_record_gives_the_cli_its_flag(
    toy: Family, monkeypatch: pytest.MonkeyPatch, cli: Any, tmp_path: Any
) -> None:
    fake_module(
        monkeypatch,
        "toy_plugin",
        ToyPlugin=ToyPlugin,
        datagen_register_toys=ToyPlugin().datagen_register_toys,
    )
    install_fake_dists(monkeypatch, FakeDist("toy-dist", "1.0", {"toys": "toy_plugin"}))
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"instruction": "x", "output": r.output}) + "\n" for r in records()))
    assert "--toy NAME" in cli("filter", "--help").out
    result = cli("filter", str(source), "-o", str(out), "--toy", "shout", "--set", "toy.shout.suffix=.")
    assert result.code == 0, result.err
    assert [json.loads(line)["output"] for line in out.read_text().splitlines()] == ["HELLO.", "A.", "WORLD."]
    # the flag the plugin declares sets its option, and wins over --set
    args = ("--toy", "shout", "--set", "toy.shout.suffix=.", "--shout-suffix", "?", "--overwrite")
    assert cli("filter", str(source), "-o", str(out), *args).code == 0
    assert [json.loads(line)["output"] for line in out.read_text().splitlines()] == ["HELLO?", "A?", "WORLD?"]
    assert "--toy NAME" in cli("generate", "--help").out


def test_forgetting_the_family_removes_it_everywhere(toy: Family) -> None:
    assert "toy" in FAMILIES
    forget_family("toy")
    assert "toy" not in FAMILIES and "toy" not in load_config().sections()
    with pytest.raises(ValueError, match="built-in"):
        forget_family("filter")
    declare_family(TOY)  # for the fixture's own forgetting


def test_a_declared_family_is_a_step_kind_of_pipeline_files(toy: Family, tmp_path: Path) -> None:
    """The toy family's plugin, registered as a third-party plugin would be, runs in a pipeline file
    under its family's key, with its options; an unknown member is a located error."""
    from datagen import Pipeline

    pm = load_plugins(strict=True, disable=())
    pm.register(ToyPlugin(), name="toys")
    path = tmp_path / "toy.yaml"
    path.write_text(
        "rows: 2\nsteps:\n  - {name: output, sampler: category, values: [hi]}\n"
        "  - {toy: shout, options: {suffix: '?'}}\n"
    )
    assert [r["output"] for r in Pipeline.from_file(path, plugins=pm).preview(2).rows] == ["HI?", "HI?"]
    path.write_text(path.read_text().replace("toy: shout", "toy: whisper"))
    with pytest.raises(
        ConfigError, match=r"toy.yaml:4:6: \$\.steps\[1\]\.toy: no toy plugin named 'whisper'"
    ):
        Pipeline.from_file(path, plugins=pm).validate()
