"""The datagen command: generate end to end; bad input gets exit 2 and leaves no partial file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datagen.__about__ import __version__
from datagen._datamodel.results import Results


def test_version(cli) -> None:
    result = cli("--version")
    assert result.code == 0 and __version__ in result.out


def test_generate_streams_jsonl_through_the_plugin_system(cli, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"instruction": "Name a fruit."}\n{"instruction": "Add", "input": "2 and 3"}\n')
    result = cli("generate", "--backend", "echo", "--seeds", str(seeds), "--count", "5", "--out", "out.jsonl")
    assert result.code == 0, result.err
    records = list(Results.load(tmp_path / "out.jsonl"))
    assert len(records) == 5 and len({r.id for r in records}) == 5
    assert sorted(r.output for r in records).count("echo: Name a fruit.") == 3
    assert {r.provenance.backend for r in records} == {"echo"} and {r.provenance.model for r in records} == {
        "echo-1"
    }
    assert "wrote 5 records" in result.err


def test_generate_parquet_with_the_default_seeds(cli, tmp_path: Path) -> None:
    result = cli("generate", "--backend", "echo", "--count", "3", "--out", "out.parquet", "--progress")
    assert result.code == 0, result.err
    records = Results.load(tmp_path / "out.parquet")
    assert len(records) == 3 and all(r.provenance.seed_ids[0].startswith("seed_task_") for r in records)


def test_generate_with_config_file_and_plugin_options(cli, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        '[generate]\ncount = 2\nout = "o.jsonl"\n[backend]\nname = "echo"\n[backend.echo]\nprefix = "A:"\n'
    )
    result = cli("--config", "c.toml", "generate")
    assert result.code == 0, result.err
    assert all(r.output.startswith("A:") for r in Results.load(tmp_path / "o.jsonl"))


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        (
            {"c.toml": "[engine]\nmax_retries = 'three'\n"},
            ["--config", "c.toml"],
            "$.engine.max_retries: expected int, got 'three'",
        ),
        ({"c.toml": "colour = 1\n"}, ["--config", "c.toml"], "$.colour: unknown key"),
        ({"c.toml": "[engine\n"}, ["--config", "c.toml"], "invalid TOML"),
        ({}, ["--config", "missing.toml"], "config file not found: missing.toml"),
        (
            {"s.jsonl": '{"instruction": "a"}\n{bad json\n'},
            ["--seeds", "s.jsonl"],
            "s.jsonl:2: not valid JSON",
        ),
        ({"s.jsonl": '{"output": "no instruction"}\n'}, ["--seeds", "s.jsonl"], "s.jsonl:1: a seed needs"),
        ({}, ["--seeds", "none.jsonl"], "none.jsonl: seeds file not found"),
        (
            {},
            ["--method", "nope"],
            "unknown method 'nope'; registered methods: aug_pe, controlled, conversation, domain, "
            "domain_transfer, evol_instruct, magpie, paraphrase, persona, preference, pretraining, respond, "
            "self_instruct, style_variation, template, translate",
        ),
        (
            {},
            ["--backend", "nope"],
            "unknown backend 'nope'; registered backends: anthropic, echo, litellm, local, openai",
        ),
        ({}, ["--count", "0"], "$.generate.count: must be greater than 0, got 0"),
        (
            {"c.toml": "[backend.echo]\nlatency_s = 'x'\n"},
            ["--config", "c.toml"],
            "$.backend.echo.latency_s: expected float, got 'x'",
        ),
    ],
)
def test_bad_input_is_one_clear_error_with_exit_2(cli, tmp_path, files, args, message) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    config_args = args[:2] if args[0] == "--config" else []
    rest = args[2:] if config_args else args
    result = cli(*config_args, "generate", "--backend", "echo", *rest, "--out", "out.jsonl")
    if "--backend" in rest:
        result = cli(*config_args, "generate", *rest, "--out", "out.jsonl")
    assert result.code == 2, result
    assert message in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out.jsonl").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_unwritable_output_fails_before_any_work(cli, tmp_path: Path) -> None:
    result = cli("generate", "--backend", "echo", "--out", "missing/out.jsonl")
    assert result.code == 2 and "folder missing does not exist" in result.err
    result = cli("generate", "--backend", "echo", "--out", "out.csv")
    assert result.code == 2 and "unsupported file type '.csv'" in result.err
    result = cli("generate", "--backend", "echo")
    assert result.code == 2 and "no output file" in result.err


def test_debug_shows_the_traceback(cli) -> None:
    result = cli("--debug", "generate", "--backend", "nope", "--out", "o.jsonl")
    assert result.code == 2 and "Traceback" in result.err


def test_config_show_masks_secrets_and_reflects_the_environment(cli, monkeypatch) -> None:
    monkeypatch.setenv("DATAGEN_ENGINE__MAX_RETRIES", "4")
    monkeypatch.setenv("DATAGEN_BACKEND__ECHO__PREFIX", "sk-abcdefghijklmnopqrstuv")
    result = cli("config", "show", "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert data["engine"]["max_retries"] == 4
    assert data["backend"]["echo"]["model"] == "echo-1"  # plugin defaults filled in
    assert data["backend"]["echo"]["prefix"] == "****" and "sk-abc" not in result.out
    toml = cli("config", "show").out
    assert "[engine]" in toml and "max_retries = 4" in toml


def test_log_json_goes_to_stderr_as_json_lines(cli) -> None:
    result = cli("--log-json", "--debug", "generate", "--backend", "echo", "--count", "1", "--out", "o.jsonl")
    assert result.code == 0
    events = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    assert any(e["event"] == "run_finished" and e["records"] == 1 for e in events)


def test_console_script_runs_as_a_user_would(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "datagen._app.cli",
            "generate",
            "--backend",
            "echo",
            "--count",
            "2",
            "--out",
            "o.jsonl",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 2
    bad = subprocess.run(
        [sys.executable, "-m", "datagen", "generate", "--backend", "nope", "--out", "o2.jsonl"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown backend 'nope'")


def test_set_overrides_any_config_key(cli, tmp_path: Path) -> None:
    result = cli(
        "generate",
        "--backend",
        "echo",
        "--count",
        "2",
        "--out",
        "o.jsonl",
        "--set",
        "backend.echo.prefix=Q:",
        "--set",
        "sampling.max_tokens=3",
        "--set",
        "method.respond.few_shot=0",
    )
    assert result.code == 0, result.err
    assert sorted(r.output for r in Results.load(tmp_path / "o.jsonl")) == [
        "Q:Is there anything",
        "Q:What is the",
    ]
    bad = cli("generate", "--backend", "echo", "--out", "o.jsonl", "--set", "sampling.max_tokens=many")
    assert bad.code == 2 and "$.sampling.max_tokens: expected int, got 'many'" in bad.err
    assert cli("generate", "--out", "o.jsonl", "--set", "nokey").code == 2


def test_one_runs_output_is_the_next_runs_seeds(cli, tmp_path: Path) -> None:
    assert cli("generate", "--backend", "echo", "--count", "2", "--out", "a.jsonl").code == 0
    result = cli(
        "generate",
        "--backend",
        "echo",
        "--seeds",
        "a.jsonl",
        "--method",
        "paraphrase",
        "--count",
        "2",
        "--out",
        "b.jsonl",
    )
    assert result.code == 0, result.err
    sources = {r.id: r for r in Results.load(tmp_path / "a.jsonl")}
    for record in Results.load(tmp_path / "b.jsonl"):
        assert record.provenance.parent_id in sources and "provenance" not in record.metadata


@pytest.mark.parametrize("missing", ["matplotlib", "sklearn", "textstat"])
def test_a_missing_optional_package_is_one_line_naming_the_pip_command(
    cli, tmp_path, monkeypatch, missing
) -> None:
    import sys

    source = tmp_path / "data.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": str(i), "output": f"Answer number {i} is short."}) + "\n" for i in range(20)
        )
    )
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    result = cli("report", str(source), "-o", str(tmp_path / "r.html"))
    if result.code == 0:  # the report degrades (a metric skipped with the reason) instead of failing
        assert "datagen[metrics]" in (tmp_path / "r.html").read_text()
        return
    assert result.code == 2 and "Traceback" not in result.err
    assert (
        result.err.strip().splitlines()[-1] == "error: plots need matplotlib: pip install 'datagen[metrics]'"
    )


def test_results_to_pandas_without_pandas_names_the_extra(monkeypatch) -> None:
    import sys

    import datagen

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(datagen.UsageError, match=r"to_pandas needs pandas: pip install 'datagen\[pandas\]'"):
        datagen.Results([datagen.Record(instruction="x")]).to_pandas()


def test_metrics_on_data_that_is_not_records_or_gives_no_metric_fails(cli, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"colour": "blue"}\n')  # ({"text": ...} is a document: read through the aliases)
    result = cli("metrics", str(bad))
    assert result.code == 2 and "bad.jsonl:1: not a record" in result.err
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"instruction": "x", "output": ""}\n')
    result = cli("metrics", str(empty), "--metric", "readability")
    assert result.code == 1 and "no metric could run" in result.err


def test_config_problems_of_the_core_and_of_plugin_tables_come_at_once_naming_the_file(cli, tmp_path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[generate]\ncuont = 5\n\n[filter]\nchain = ["length"]\n\n[filter.length]\nmin_lenght = 3\n'
    )
    args = ("--config", str(config), "generate", "--backend", "echo", "-o", str(tmp_path / "o.jsonl"))
    result = cli(*args)
    assert result.code == 2
    assert f"invalid configuration in {config}" in result.err
    assert (
        "$.generate.cuont: unknown key" in result.err
        and "$.filter.length.min_lenght: unknown key" in result.err
    )
    config.write_text('[filter]\nchain = ["length"]\n\n[filter.length]\nmin_lenght = 3\n')
    result = cli(*args)
    assert result.code == 2 and f"invalid configuration in {config}" in result.err


def test_a_stray_key_says_it_chose_the_backend_and_how_to_get_the_offline_model(
    cli, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "garbage")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = cli("generate", "-n", "1", "-o", str(tmp_path / "g.jsonl"))
    assert result.code == 2
    assert "malformed" in result.err and "chosen because OPENAI_API_KEY is set" in result.err
    assert "--backend local" in result.err and "garbage" not in result.err


def test_usage_errors_are_one_error_line_like_every_other_error(cli) -> None:
    result = cli("generate", "--bogus")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: No such option '--bogus'. Did you mean '--out'? (see 'datagen generate --help')"
    ]
