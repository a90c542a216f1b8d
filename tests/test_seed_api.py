"""The seed's API as its users type it: names, seed field aliases, str.format templates, cache identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import datagen
from datagen._datamodel.seeds import load_seeds_file, to_seeds
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


SEED_PATHS = {
    "datagen.rl_tuning": ["RLTuner", "RLTuningConfig", "ParameterSpace", "BaseAgent"],
    "datagen.quality": ["QualityFilter"],
    "datagen.config": ["Config", "DatagenConfig", "load_config", "SamplingConfig", "RLTuningConfig"],
    "datagen.generator": ["Generator"],
    "datagen.results": ["Results", "Record"],
    "datagen.pipeline": ["load_dataset", "save_dataset"],
    "datagen.pipeline.io": ["load_dataset", "save_dataset", "read_jsonl", "write_jsonl"],
    "datagen.sampling": ["SamplingConfig"],
    "datagen.metrics": ["compute", "compare"],
    "datagen.metrics.basic_stats": ["compute_basic_stats"],
    "datagen.metrics.visualization": ["create_summary_dashboard"],
    "datagen.privacy": ["PrivacyManager"],
    "datagen.tuning": ["RLTuner"],
}


@pytest.mark.parametrize("module", sorted(SEED_PATHS))
def test_every_module_path_of_the_seed_imports_its_names(module: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    for name in SEED_PATHS[module]:
        assert getattr(mod, name) is not None, f"{module}.{name}"
    # the thin modules re-export the real objects, not copies
    assert importlib.import_module("datagen.generator").Generator is datagen.Generator
    assert importlib.import_module("datagen.quality").QualityFilter is datagen.QualityFilter
    assert importlib.import_module("datagen.config").Config is datagen.Config


def test_quality_filter_without_options_applies_the_seeds_default_filters(datagen_plugins) -> None:
    for config in (None, datagen.Config()):
        qf = datagen.QualityFilter(config, plugins=datagen_plugins)
        assert qf.chain == ["length", "exact_dedup"]
    good = datagen.Record(instruction="Name three rivers in Europe.", output="Danube, Rhine, Seine.")
    records = [
        good,
        datagen.Record(instruction="Hi.", output="Hello."),  # instruction under 3 words
        datagen.Record(instruction="Name three colours please.", output=""),  # empty answer
        datagen.Record(instruction=good.instruction, output=good.output),  # exact duplicate
    ]
    kept = datagen.QualityFilter(plugins=datagen_plugins).filter(records)
    assert [r.output for r in kept] == [good.output]
    reasons = {k for stage in kept.report.stages for k in stage["reasons"]}
    assert {"instruction_too_short", "output_too_short"} <= reasons
    # a user's own table still wins over the defaults
    own_table = {"filter": {"length": {"instruction_min_length": 1}}}
    own = datagen.QualityFilter(own_table, plugins=datagen_plugins)
    assert own.config.filter.options["length"]["instruction_min_length"] == 1


def test_rl_tuning_config_takes_the_seeds_policy_gradient_settings(datagen_plugins) -> None:
    from datagen.rl_tuning import RLTuner, RLTuningConfig

    config = RLTuningConfig(
        agent="reinforce", learning_rate=0.1, discount_factor=0.9, entropy_coef=0.0, hidden_size=8
    )
    gen = datagen.Generator(
        {"backend": {"name": "echo"}, "agent": {"reinforce": {"fallback": "random", "learning_rate": 0.5}}},
        plugins=datagen_plugins,
    )
    tuner = RLTuner(gen, lambda results: {"reward": 0.0}, config, seeds=["a"], method="respond")
    agent_config = tuner.agent.config
    assert (agent_config.learning_rate, agent_config.discount, agent_config.entropy_bonus) == (0.1, 0.9, 0.0)
    assert agent_config.hidden == 8 and agent_config.fallback == "random"
    with pytest.raises(ValueError, match="greater than 0"):
        RLTuningConfig(learning_rate=0)
    with pytest.raises(datagen.UsageError, match=r"tune\.learning_rate"):
        datagen.load_config(data={"tune": {"learning_rate": -1}})


def test_generate_from_seed_takes_one_instruction_as_a_string(datagen_plugins, tmp_path: Path) -> None:
    gen = datagen.Generator({"backend": {"name": "echo"}}, plugins=datagen_plugins)
    results = gen.generate_from_seed("Write a haiku.", count=1, method="respond")
    assert [r.instruction for r in results] == ["Write a haiku."]
    with pytest.raises(datagen.UsageError, match="not found"):
        gen.generate_from_seed(str(tmp_path / "missing.jsonl"), count=1, method="respond")


def test_seeds_load_from_csv_json_and_any_parquet_table(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_path = tmp_path / "seeds.csv"
    csv_path.write_text('prompt,response,topic\n"Name a colour.",Blue.,art\n"Say ""hi""\nnicely.",Hi.,x\n')
    first, second = load_seeds_file(csv_path)
    assert (first.instruction, first.output, first.metadata) == ("Name a colour.", "Blue.", {"topic": "art"})
    assert second.instruction == 'Say "hi"\nnicely.'
    json_path = tmp_path / "seeds.json"
    json_path.write_text(json.dumps([{"question": "Why?", "answer": "Because."}]))
    (seed,) = load_seeds_file(json_path)
    assert (seed.instruction, seed.output) == ("Why?", "Because.")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"data": [{"instruction": "One."}]}))
    assert [s.instruction for s in load_seeds_file(wrapped)] == ["One."]
    table = tmp_path / "table.parquet"
    pq.write_table(pa.table({"query": ["Q1", "Q2"], "completion": ["A1", "A2"]}), table)
    assert [(s.instruction, s.output) for s in load_seeds_file(table)] == [("Q1", "A1"), ("Q2", "A2")]
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt\nok\n\n")
    bad.write_text("topic\nno instruction here\n")
    with pytest.raises(datagen.UsageError, match=r"bad\.csv:2: a seed needs"):
        load_seeds_file(bad)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"instruction": "x"},\n oops]')
    with pytest.raises(datagen.UsageError, match=r"broken\.json:2: not valid JSON"):
        load_seeds_file(broken)


def test_pipeline_io_round_trips_a_dataset(tmp_path: Path) -> None:
    from datagen.pipeline.io import load_dataset, read_jsonl, save_dataset, write_jsonl

    rows = tmp_path / "rows.jsonl"
    write_jsonl([{"prompt": "P", "completion": "C"}], rows)
    assert list(read_jsonl(rows)) == [{"prompt": "P", "completion": "C"}]
    data = load_dataset(rows)
    for suffix in (".jsonl", ".parquet"):
        again = load_dataset(save_dataset(data, tmp_path / f"out{suffix}"))
        assert [(r.id, r.instruction, r.output) for r in again] == [(data[0].id, "P", "C")]
    assert not list(tmp_path.glob(".*.tmp"))
