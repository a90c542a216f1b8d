"""datagen-inspect is discovered through its entry point and summarises real output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from datagen._datamodel.records import Provenance, Record, Usage
from datagen._datamodel.results import Results


def test_discovered_as_a_third_party_plugin(datagen_plugins) -> None:
    info = {i.name: i for i in datagen_plugins.plugin_infos()}["inspect"]
    assert info.dist == "datagen-inspect" and not info.builtin
    assert info.hooks == ("datagen_register_commands",)
    assert "inspect" in datagen_plugins.registry("command")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "datagen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_summarises_a_generated_file(tmp_path: Path) -> None:
    gen = run("generate", "--backend", "echo", "--count", "4", "--out", "o.parquet", cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr
    out = run("inspect", "o.parquet", "--json", "--head", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary_text, first = out.stdout.rsplit("\n{", 1)
    summary = json.loads(summary_text)
    assert summary["records"] == 4 and summary["methods"] == {"respond": 4}
    assert summary["models"] == {"echo/echo-1": 4} and summary["finish_reasons"] == {"stop": 4}
    assert summary["cost_usd"] == 0.0 and summary["completion_tokens"] > 0
    assert json.loads("{" + first)["provenance"]["method"] == "respond"


def test_unknown_cost_stays_unknown(tmp_path: Path) -> None:
    Results(
        [
            Record(
                output="a", provenance=Provenance(method="m", usage=Usage(1, 2, 0.5), finish_reason="stop")
            ),
            Record(
                output="", provenance=Provenance(method="m", usage=Usage(1, 2, None), finish_reason="length")
            ),
        ]
    ).save(tmp_path / "x.jsonl")
    out = run("inspect", "x.jsonl", "--json", cwd=tmp_path)
    summary = json.loads(out.stdout)
    assert summary["cost_usd"] is None and summary["empty_outputs"] == 1
    assert summary["finish_reasons"] == {"stop": 1, "length": 1}
    table = run("inspect", "x.jsonl", cwd=tmp_path)
    assert table.returncode == 0 and "cost unknown" in table.stdout and "length" in table.stdout


def test_runs_the_users_stages_through_the_host(tmp_path: Path) -> None:
    Results([Record(instruction="q", output=t) for t in ("one", "two words", "three short words")]).save(
        tmp_path / "x.jsonl"
    )
    (tmp_path / "datagen.toml").write_text(
        '[filter]\nchain = ["length"]\n\n[filter.length]\nresponse_min_length = 2\n'
    )
    out = run("--config", "datagen.toml", "inspect", "x.jsonl", "--stages", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["kept_by_stages"] == 2
    assert summary["stages"] == [
        {"stage": "filter:length", "kept": 2, "removed": 1, "reasons": {"output_too_short": 1}}
    ]
