"""A failed run never looks like a success; the first run says what it did; the flags users reach for."""

from __future__ import annotations

import json
from pathlib import Path

from datagen._datamodel.results import Results
from datagen.testing_server import LoopbackServer
from tests.test_backends_http import OPENAI_KEY


def seeds(tmp_path: Path, n: int = 3) -> str:
    path = tmp_path / "seeds.jsonl"
    path.write_text("".join(json.dumps({"instruction": f"Name thing {i}."}) + "\n" for i in range(n)))
    return str(path)


def test_global_options_after_the_subcommand_and_the_short_flags(cli, tmp_path: Path) -> None:
    (tmp_path / "x.toml").write_text('[backend]\nname = "echo"\n')
    args = ["--seeds", seeds(tmp_path), "-n", "1", "-o", "one.jsonl", "--temperature", "0.2"]
    result = cli(
        "generate", "--config", "x.toml", *args, "--top-p", "0.9", "--max-tokens", "64", "--seed", "7"
    )
    assert result.code == 0, result.err
    (record,) = Results.load(tmp_path / "one.jsonl")
    params = record.provenance.params
    assert (params["temperature"], params["top_p"], params["max_tokens"], params["seed"]) == (0.2, 0.9, 64, 7)
    assert "wrote 1 record of 1 to one.jsonl" in result.err  # not "1 records"


def test_an_existing_output_is_refused_unless_overwrite(cli, tmp_path: Path) -> None:
    base = ["generate", "--backend", "echo", "--seeds", seeds(tmp_path)]
    assert cli(*base, "-n", "3", "-o", "out.jsonl").code == 0
    before = (tmp_path / "out.jsonl").read_bytes()
    refused = cli(*base, "-n", "2", "-o", "out.jsonl")
    assert refused.code == 2 and "exists" in refused.err and "--overwrite" in refused.err
    assert (tmp_path / "out.jsonl").read_bytes() == before
    replaced = cli(*base, "-n", "2", "-o", "out.jsonl", "--overwrite")
    assert replaced.code == 0 and len(Results.load(tmp_path / "out.jsonl")) == 2


def test_every_run_says_which_backend_and_why(cli, tmp_path: Path, monkeypatch) -> None:
    echo = cli("generate", "--backend", "echo", "--seeds", seeds(tmp_path), "-n", "1", "-o", "a.jsonl")
    assert "backend echo, model echo-1 (chosen by --backend / [backend] name)" in echo.err
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    with LoopbackServer() as srv:
        auto = cli(
            "generate", "--base-url", srv.url + "/v1", "--seeds", seeds(tmp_path), "-n", "1", "-o", "b.jsonl"
        )
    assert auto.code == 0, auto.err
    assert (
        "backend openai, model gpt-4o-mini (OPENAI_API_KEY is set; --backend local for the embedded model)"
        in (auto.err)
    )
    assert "via openai (gpt-4o-mini)" in auto.err  # named in the closing summary too


def test_plugins_name_lists_a_methods_options(cli) -> None:
    result = cli("plugins", "evol_instruct")
    assert result.code == 0
    assert "method evol_instruct" in result.out and "[method.evol_instruct]" in result.out
    for option in ("rounds", "weights", "max_attempts", "include_seeds"):
        assert option in result.out
    data = json.loads(cli("plugins", "openai", "--json").out)
    assert sorted(d["family"] for d in data) == ["backend", "exporter"]  # one name, two families
    backend = next(d for d in data if d["family"] == "backend")
    assert {o["name"] for o in backend["options"]} >= {
        "base_url",
        "api_key",
    }
    assert cli("plugins", "no_such_thing").code == 2


def test_tables_are_readable_at_80_columns(cli, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = cli("plugins", "--all").out
    assert "…" not in out and "method:style_variation" in out


def test_config_show_masks_secrets_not_every_key_with_token_in_it(cli, tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text('[backend.openai]\napi_key = "sk-secret-value-123456"\n')
    out = cli("--config", "c.toml", "config", "show").out
    assert "sk-secret-value-123456" not in out and 'api_key = "****"' in out
    assert 'max_tokens_param = "****"' not in out and "max_tokens_param" in out


def test_ids_do_not_collide_across_backends_models_or_sampling(cli, tmp_path: Path) -> None:
    base = ["generate", "--backend", "echo", "--seeds", seeds(tmp_path, 2), "-n", "2"]
    cli(*base, "-o", "a.jsonl")
    cli(*base, "-o", "b.jsonl", "--model", "echo-2")
    cli(*base, "-o", "c.jsonl", "--temperature", "0.1")
    cli(*base, "-o", "d.jsonl")
    ids = {
        name: [r.id for r in Results.load(tmp_path / name)]
        for name in ("a.jsonl", "b.jsonl", "c.jsonl", "d.jsonl")
    }
    assert ids["a.jsonl"] == ids["d.jsonl"]  # the same run again: the same ids
    assert not set(ids["a.jsonl"]) & set(ids["b.jsonl"]) and not set(ids["a.jsonl"]) & set(ids["c.jsonl"])
