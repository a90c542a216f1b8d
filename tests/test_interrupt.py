"""Ctrl-C at any moment of a run: exit 130 with one line, no traceback, no partial file; a rerun resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datagen._datamodel.results import Results
from datagen.testing_server import Behaviour, LoopbackServer
from tests.test_backends_http import generate_args, keys, seeds_file, summary  # noqa: F401


def interrupt(
    cmd: list[str], cwd: Path, when: float, sig: int = signal.SIGINT
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``, send ``sig`` ``when`` s after datagen set its handlers; collect what it printed."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
    handlers_set(proc.pid)
    time.sleep(when)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err)


def handlers_set(pid: int, timeout: float = 30.0) -> None:
    """Wait until process ``pid`` catches SIGTERM: datagen's first statement sets its handlers (for SIGINT
    too), and a signal before the interpreter gets there kills any program. Linux reads it from /proc."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        time.sleep(0.3)  # no /proc: past the interpreter's start-up on any machine that runs this suite
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.002)
    raise AssertionError(f"process {pid} set no SIGTERM handler within {timeout} s")


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".o.jsonl") or p.name == "o.jsonl")


@pytest.mark.parametrize(
    ("sig", "code", "word"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],  # Ctrl-C; kill, timeout
)
@pytest.mark.parametrize("when", [0, 0.5, 1.2])  # importing (handlers just set), warming up, in full flow
def test_a_signal_exits_cleanly_and_the_rerun_resumes(keys, tmp_path, when, sig, code, word) -> None:  # noqa: F811
    count = 400
    seeds = seeds_file(tmp_path / "s.jsonl", count)
    with LoopbackServer(Behaviour(latency_s=0.05)) as srv:
        cmd = [
            sys.executable,
            "-m",
            "datagen",
            *generate_args("openai", srv, seeds, count, "--concurrency", "8"),
        ]
        first = interrupt(cmd, tmp_path, when, sig)
        assert first.returncode == code, first.stderr
        assert "Traceback" not in first.stderr and "unhandled exception" not in first.stderr
        errors = [line for line in first.stderr.splitlines() if line.startswith("error:")]
        assert errors == [f"error: {word}"]
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


def test_a_rerun_removes_temporary_files_a_killed_run_left(keys, tmp_path) -> None:  # noqa: F811
    seeds = seeds_file(tmp_path / "s.jsonl", 5)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    stale = tmp_path / f".o.jsonl.{int(dead.stdout)}.tmp"  # as kill -9 leaves it: that process is gone
    stale.write_text('{"half": ')
    running = tmp_path / f".o.jsonl.{os.getpid()}.tmp"  # a live process's: another run still writing
    running.write_text("")
    with LoopbackServer() as srv:
        cmd = [sys.executable, "-m", "datagen", *generate_args("openai", srv, seeds, 5)]
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and running.exists()
    assert (tmp_path / "o.jsonl").is_file()
