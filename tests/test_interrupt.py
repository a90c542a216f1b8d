"""Ctrl-C at any moment of a run: exit 130 with one line, no traceback, no partial file; a rerun resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datagen.datamodel.results import Results
from datagen.testing_server import Behaviour, LoopbackServer
from tests.test_backends_http import generate_args, keys, seeds_file, summary  # noqa: F401


def interrupt(cmd: list[str], cwd: Path, when: float) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, send SIGINT after ``when`` seconds, and collect what it printed."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
    time.sleep(when)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".o.jsonl") or p.name == "o.jsonl")


@pytest.mark.parametrize("when", [0.05, 0.5, 1.2])  # starting up, warming up, in full flow
def test_sigint_exits_130_cleanly_and_the_rerun_resumes(keys, tmp_path, when) -> None:  # noqa: F811
    count = 400
    seeds = seeds_file(tmp_path / "s.jsonl", count)
    with LoopbackServer(Behaviour(latency_s=0.05)) as srv:
        cmd = [
            sys.executable,
            "-m",
            "datagen",
            *generate_args("openai", srv, seeds, count, "--concurrency", "8"),
        ]
        first = interrupt(cmd, tmp_path, when)
        assert first.returncode == 130, first.stderr
        assert "Traceback" not in first.stderr and "unhandled exception" not in first.stderr
        errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
        assert errors == ["error: interrupted"]
        assert leftovers(tmp_path) == []  # no output file, no temporary file
        answered = sum(srv.answered.values())
        rerun = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stderr
    assert len(Results.load(tmp_path / "o.jsonl")) == count
    assert summary(rerun.stderr)["from cache"] >= answered - 8  # all but what was in flight at the signal


@pytest.mark.slow
@pytest.mark.parametrize("when", [0.6, 2.5, 5.0, 8.0])  # loading the model, first and later generations
def test_sigint_on_the_embedded_model_stops_llama_cpp_cleanly(tmp_path, when) -> None:
    seeds = seeds_file(tmp_path / "s.jsonl", 30)
    cmd = [sys.executable, "-m", "datagen", "generate", "--seeds", str(seeds), "-n", "30", "-o", "o.jsonl"]
    cmd += ["--max-tokens", "64", "--set", "backend.local.threads=1"]  # about 30 s: interrupted for sure
    first = interrupt(cmd, tmp_path, when)
    assert first.returncode == 130, first.stderr  # not 139: llama.cpp stopped before the interpreter
    assert "Traceback" not in first.stderr and "unhandled exception" not in first.stderr
    assert [line for line in first.stderr.splitlines() if line.startswith("error:")] == ["error: interrupted"]
    assert leftovers(tmp_path) == []
