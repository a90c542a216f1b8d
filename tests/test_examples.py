"""The example scripts run as-is, offline, on the embedded default model, with a tiny count."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

EXAMPLES = {
    "basic_usage.py": ["self_instruct.jsonl"],
    "evolve_instructions.py": ["evolved.jsonl"],
    "template_generation.py": ["templated.jsonl"],
    "controlled_generation.py": ["controlled.jsonl"],
    "data_augmentation.py": ["paraphrased.jsonl", "styled.jsonl"],
    "quality_filtering.py": ["answers.jsonl"],
    "privacy_features.py": ["answers.jsonl", "dp_tickets.jsonl"],
    "evaluation_metrics.py": ["answers.jsonl"],
    "rl_tuning.py": ["best.jsonl"],
    "policy_gradient_tuning.py": ["best.jsonl"],
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_offline_on_the_embedded_model(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}}
    env["DATAGEN_BACKEND__LOCAL__THREADS"] = "1"
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
    for name in EXAMPLES[script]:
        path = tmp_path / "out" / name
        assert path.exists(), proc.stdout
        for line in path.read_text().splitlines():
            record = json.loads(line)
            assert record["provenance"]["backend"] == "local"
            assert record["provenance"]["model"] == "gemma-3-270m-q4_k_m"
