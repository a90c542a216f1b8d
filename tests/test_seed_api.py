"""The seed's API as its users type it: names, seed field aliases, str.format templates, cache identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import datagen
from datagen.datamodel.seeds import load_seeds_file, to_seeds
from datagen.testing_server import LoopbackServer
from tests.test_backends_http import keys  # noqa: F401  (fixture)


def test_config_is_the_seeds_name_for_the_configuration() -> None:
    assert datagen.Config is datagen.DatagenConfig
    config = datagen.Config()
    assert config.generate.count == 10
    assert datagen.Generator(config).config is config


@pytest.mark.parametrize("output_key", ["response", "answer", "completion"])
@pytest.mark.parametrize("instruction_key", ["prompt", "question", "instruction"])
def test_seed_field_aliases_are_read(tmp_path: Path, output_key: str, instruction_key: str) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text(
        json.dumps({instruction_key: "Name a colour.", output_key: "Blue.", "source": "x"}) + "\n"
    )
    (seed,) = load_seeds_file(path)
    assert seed.instruction == "Name a colour." and seed.output == "Blue."
    assert seed.metadata == {"source": "x"}


def test_an_explicit_output_wins_over_an_alias() -> None:
    (seed,) = to_seeds([{"instruction": "i", "output": "o", "response": "r"}])
    assert seed.output == "o" and seed.metadata == {"response": "r"}


def test_a_str_format_template_works(datagen_plugins) -> None:
    gen = datagen.Generator({"backend": {"name": "echo"}}, plugins=datagen_plugins)
    results = gen.generate_from_template(
        "Write a {style} poem about {topic}.", {"style": ["short", "long"], "topic": ["sea", "sky"]}, 3
    )
    texts = {r.instruction for r in results}
    assert len(texts) == 3 and all(t.startswith("Write a ") and "{" not in t for t in texts)


def test_a_template_without_variables_says_how_to_write_them(datagen_plugins) -> None:
    gen = datagen.Generator({"backend": {"name": "echo"}}, plugins=datagen_plugins)
    with pytest.raises(datagen.UsageError, match=r"write them as \{\{ name \}\}"):
        gen.generate_from_template("A fixed prompt.", {}, 3)
    with pytest.raises(datagen.UsageError, match=r"undefined variable\(s\) topic.*\{\{ name \}\}"):
        gen.generate_from_template("About {{ topic }}.", {"style": ["a"]}, 1)


def test_generate_from_seed_finds_the_shipped_seed_tasks_from_any_folder(datagen_plugins) -> None:
    assert datagen.SEED_TASKS.is_file() and len(load_seeds_file(datagen.SEED_TASKS)) == 175
    gen = datagen.Generator({"backend": {"name": "echo"}}, plugins=datagen_plugins)
    results = gen.generate_from_seed(count=2, method="respond")
    assert len(results) == 2


def test_cache_identity_shares_answers_between_endpoints_of_one_model(keys, tmp_path: Path) -> None:  # noqa: F811
    def run(srv: LoopbackServer, identity: str | None) -> datagen.Results:
        cache: dict[str, object] = {"dir": str(tmp_path / "cache")}
        if identity is not None:
            cache["identity"] = identity
        config = {"backend": {"name": "openai", "openai": {"base_url": srv.url + "/v1"}}, "cache": cache}
        return datagen.Generator(config).run("respond", ["one", "two"], 2)

    with LoopbackServer() as first, LoopbackServer() as second:
        run(first, None)
        run(second, None)  # another server: its own answers
        assert sum(second.received.values()) == 2
        run(first, "my-vllm")
        shared = run(second, "my-vllm")
        assert sum(second.received.values()) == 2  # answered from the cache of the first endpoint
        assert shared.report.cached == 2
