"""Batch mode: OpenAI Batch and Anthropic Message Batches via the official SDKs, on the loopback server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from datagen._datamodel.results import Results
from datagen.testing_server import Behaviour, LoopbackServer
from tests.test_backends_http import backend_args, generate_args, seeds_file, summary

BATCH_ENV = {
    "DATAGEN_ENGINE__BATCH": "1",
    "DATAGEN_ENGINE__BATCH_POLL_S": "0.05",
    "DATAGEN_ENGINE__BATCH_WINDOW_S": "0.2",
}


@pytest.fixture
def batch_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnop0123")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-abcdefghijklmnop0123")
    for name, value in BATCH_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_batch_mode_submits_polls_collects_and_resubmits(cli, batch_env, tmp_path, backend) -> None:
    with LoopbackServer(Behaviour(batch_polls=2, batch_expire_first=3, batch_error_first=2)) as srv:
        seeds = seeds_file(tmp_path / "s.jsonl", 30)
        result = cli(
            *generate_args(backend, srv, seeds, 30),
        )
        assert result.code == 0, result.err
        assert len(srv.batches) == 2  # the first, then one resubmitting the 3 expired + 2 errored items
        assert sum(srv.batch_items.values()) == 35 and sum(srv.received.values()) == 0  # no direct calls
        assert all(b["polls"] >= 3 for b in srv.batches.values())
        records = list(Results.load(tmp_path / "o.jsonl"))
        assert len(records) == 30 and len({r.id for r in records}) == 30
        assert summary(result.err)["retries"] == 5
        again = cli(
            *generate_args(backend, srv, seeds, 30, "--overwrite"),
        )
        assert again.code == 0 and summary(again.err)["from cache"] == 30 and len(srv.batches) == 2


def test_batch_prices_are_half(cli, batch_env, tmp_path, monkeypatch) -> None:
    with LoopbackServer() as srv:
        seeds = seeds_file(tmp_path / "s.jsonl", 10)
        args = [*backend_args("openai", srv), "--seeds", str(seeds), "--count", "10", "--no-cache"]
        batched = cli("generate", *args, "--out", "b.jsonl")
        monkeypatch.setenv("DATAGEN_ENGINE__BATCH", "0")
        direct = cli("generate", *args, "--out", "d.jsonl")
    cost = {
        name: sum(r.provenance.usage.cost_usd for r in Results.load(tmp_path / name))
        for name in ("b.jsonl", "d.jsonl")
    }
    assert batched.code == direct.code == 0
    assert cost["b.jsonl"] == pytest.approx(cost["d.jsonl"] / 2) and cost["d.jsonl"] > 0


def test_batch_mode_needs_a_batch_api(cli, batch_env) -> None:
    result = cli("generate", "--backend", "echo", "--count", "1", "--out", "o.jsonl")
    assert result.code == 2 and "$.engine.batch: the echo backend has no batch API" in result.err


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_a_batch_submitted_before_a_crash_is_collected_not_paid_again(batch_env, tmp_path, backend) -> None:
    count = 40
    seeds = seeds_file(tmp_path / "s.jsonl", count)
    with LoopbackServer(Behaviour(batch_polls=10**9)) as srv:  # the first batch never finishes while we watch
        cmd = [
            sys.executable,
            "-m",
            "datagen._app.cli",
            *generate_args(backend, srv, seeds, count),
        ]
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=os.environ.copy(), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not srv.batches and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # it is polling now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(srv.batches) == 1 and not (tmp_path / "o.jsonl").exists()
        srv.behaviour.batch_polls = 0  # the provider finishes the batch while nobody watches
        rerun = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stderr
        assert len(srv.batches) == 1 and sum(srv.batch_items.values()) == count  # nothing submitted twice
    records = list(Results.load(tmp_path / "o.jsonl"))
    assert len(records) == count and len({r.id for r in records}) == count
    assert summary(rerun.stderr)["from cache"] == count
    assert json.loads((tmp_path / "o.jsonl").read_text().splitlines()[0])["provenance"]["backend"] == backend
