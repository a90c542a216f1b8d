"""The example scripts run as-is, offline, on the embedded default model, with a tiny count."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

#: per script, each file it must write and the method every record of it comes from
EXAMPLES = {
    "basic_usage.py": {"self_instruct.jsonl": "self_instruct"},
    "evolve_instructions.py": {"evolved.jsonl": "evol_instruct"},
    "template_generation.py": {"templated.jsonl": "template"},
    "controlled_generation.py": {"controlled.jsonl": "controlled"},
    "data_augmentation.py": {"paraphrased.jsonl": "paraphrase", "styled.jsonl": "style_variation"},
    "quality_filtering.py": {"answers.jsonl": "respond"},
    "privacy_features.py": {"answers.jsonl": "respond", "dp_tickets.jsonl": "aug_pe"},
    "evaluation_metrics.py": {"answers.jsonl": "respond"},
    "rl_tuning.py": {"best.jsonl": "template"},
    "policy_gradient_tuning.py": {"best.jsonl": "template"},
}
#: methods that write texts alone (no instruction): differentially private text, documents
TEXT_ONLY = {"aug_pe", "pretraining"}
#: the example runs alone while the test waits for it: llama.cpp may use every core (the default, half
#: of them, leaves room for a client doing work of its own)
ALL_CORES = str(os.cpu_count() or 1)
#: what each kind of record must carry besides a non-empty answer
LINEAGE = {
    "evol_instruct": ("round", "operation", "lineage"),
    "controlled": ("attempts",),
    "paraphrase": ("attempts",),
    "style_variation": ("attempts",),
}


def check_records(path: Path, method: str) -> None:
    """At least one record, each made by ``method`` on the embedded model, with an instruction and a
    non-empty answer, and the metadata its kind carries."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert records, f"{path.name} is empty"
    for record in records:
        assert record["provenance"]["backend"] == "local"
        assert record["provenance"]["model"] == "gemma-3-270m-q4_k_m"
        assert record["provenance"]["method"] == method
        if method not in TEXT_ONLY:
            assert (record.get("instruction") or "").strip() or record.get("messages")
        assert (record.get("output") or "").strip(), record
        for key in LINEAGE.get(method, ()):
            assert key in record["metadata"], (key, record["metadata"])
    if method == "evol_instruct":  # each evolution names the instruction it evolved from
        assert all(r["provenance"]["parent_id"] for r in records)
    if method == "template":
        assert not any("{{" in r["instruction"] for r in records)


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_makes_what_it_is_for_offline_on_the_embedded_model(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}}
    env["DATAGEN_BACKEND__LOCAL__THREADS"] = ALL_CORES
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / script), "1", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name, method in EXAMPLES[script].items():
        path = tmp_path / "out" / name
        assert path.exists(), proc.stdout
        check_records(path, method)
    if script == "evaluation_metrics.py":
        page = (tmp_path / "out" / "report.html").read_text()
        assert "<html" in page.lower() and "stats" in page
    if script == "quality_filtering.py":
        # a filter that keeps nothing writes no file that looks like a result: the model's one answer
        # may be dropped (a bulleted one, as in a CI run)
        kept, rejected = (
            p.read_text().splitlines() if p.exists() else []
            for p in (tmp_path / "out" / "filtered.jsonl", tmp_path / "out" / "rejected.jsonl")
        )
        assert len(kept) + len(rejected) >= 1


def run_example(script: str, arg: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}}
    env["DATAGEN_BACKEND__LOCAL__THREADS"] = ALL_CORES
    return subprocess.run(
        [sys.executable, str(REPO / "examples" / script), arg, str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_the_data_pipeline_example_loads_transforms_samples_and_exports(tmp_path: Path) -> None:
    proc = run_example("data_pipeline.py", "12", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "out"
    rows = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["metadata"]["prompt"].startswith("### Instruction") for r in rows)
    assert len(json.loads((out / "tasks.json").read_text())) == 12
    assert (out / "tasks.csv").read_text().count("seed_task_") == 12 and (
        out / "tasks.parquet"
    ).stat().st_size
    assert "sampled 12: 2 classification, 10 generation tasks" in proc.stdout  # 27 of the 174 classify


def test_the_cli_example_runs_every_command_on_the_embedded_model(tmp_path: Path) -> None:
    proc = run_example("cli_usage.py", "1", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    check_records(tmp_path / "out" / "scrubbed.jsonl", "respond")
    report = json.loads((tmp_path / "out" / "questions_run" / "report.json").read_text())
    assert report["written"] == 1 and report["requests"] + report["cached"] >= 1
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["stats"]["records"] == 1


def test_the_ml_integration_example_trains_for_real(tmp_path: Path) -> None:
    """Synthetic reviews from the embedded model train a classifier scored on the real sentences, and
    their trl-sft export trains a tiny model with TRL's SFTTrainer, its loss going down."""
    pytest.importorskip("torch")
    pytest.importorskip("trl")
    proc = run_example("ml_integration.py", "12", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    check_records(tmp_path / "out" / "reviews.jsonl", "template")
    accuracy = float(re.search(r"accuracy (\d\.\d+) on 3,000 real sentences", proc.stdout).group(1))
    assert 0.0 <= accuracy <= 1.0
    losses = json.loads((tmp_path / "out" / "sft_losses.json").read_text())
    assert len(losses) == 30 and sum(losses[-5:]) < sum(losses[:5])
    rows = [json.loads(line) for line in (tmp_path / "out" / "sft.jsonl").read_text().splitlines()]
    assert rows and all(set(row) == {"prompt", "completion"} for row in rows)


def test_every_example_script_is_run_by_the_suite() -> None:
    scripts = {p.name for p in (REPO / "examples").glob("*.py")} - {"sentiment_task.py"}
    assert scripts == {*EXAMPLES, "data_pipeline.py", "cli_usage.py", "ml_integration.py"}
