"""The ``litellm`` backend against the loopback server: records through LiteLLM's chat and text
completions, datagen's retries (not LiteLLM's) through injected 429s and 500s, a rejected key stopping
the run, the compromised releases refused before any request, the price map read locally."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from datagen.results import Results
from datagen.testing_server import Behaviour, LoopbackServer
from tests.test_backends_http import seeds_file, summary

if importlib.util.find_spec("litellm") is None:  # (not imported here: the backend sets its env first)
    pytest.skip("LiteLLM is not installed (pip install 'datagen[litellm]')", allow_module_level=True)
KEY = "sk-litellm-loopback-0123456789"


def args(srv: LoopbackServer, seeds: Path, count: int, *extra: str) -> list[str]:
    return [
        "generate", "--backend", "litellm", "--set", "backend.litellm.model=openai/bench-model",
        "--set", f"backend.litellm.api_base={srv.url}/v1", "--set", f"backend.litellm.api_key={KEY}",
        "--seeds", str(seeds), "--count", str(count), "--out", "o.jsonl", "--no-cache", *extra,
    ]  # fmt: skip


def test_records_through_litellm_chat_and_text_completions(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    seeds = seeds_file(tmp_path / "s.jsonl", 5)
    with LoopbackServer() as srv:
        result = cli(*args(srv, seeds, 5))
        assert result.code == 0, result.err
        records = list(Results.load(tmp_path / "o.jsonl"))
        assert sorted(r.output for r in records) == sorted(f"answer to: Task number {i}." for i in range(5))
        assert {r.provenance.backend for r in records} == {"litellm"}
        assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"  # no price map fetched
        (tmp_path / "o.jsonl").unlink()
        text = cli(*args(srv, seeds, 3, "--set", "backend.litellm.chat=false"))
        assert text.code == 0, text.err
        completions = list(Results.load(tmp_path / "o.jsonl"))  # a completion-style few-shot prompt
        assert len(completions) == 3 and {r.output for r in completions} == {"answer to: ### Response:"}
    assert KEY not in result.err + text.err + (tmp_path / "o.jsonl").read_text()


def test_errors_are_retried_by_datagen_once_each(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    behaviour = Behaviour(error_rate=0.1, error_kinds=("429", "500"), retry_after_ms=5, seed=3)
    with LoopbackServer(behaviour) as srv:
        result = cli(*args(srv, seeds_file(tmp_path / "s.jsonl", 100), 100))
    assert result.code == 0, result.err
    records = list(Results.load(tmp_path / "o.jsonl"))
    assert len(records) == 100 and len({r.id for r in records}) == 100
    injected = sum(srv.errors.values())
    assert injected > 0 and summary(result.err)["retries"] == injected  # LiteLLM itself retried nothing
    assert all(n == 1 for n in srv.answered.values()) and len(srv.answered) == 100


def test_a_rejected_key_stops_the_run(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with LoopbackServer(Behaviour(valid_keys=frozenset({"sk-the-right-one-123456"}))) as srv:
        result = cli(*args(srv, seeds_file(tmp_path / "s.jsonl", 30), 30, "--concurrency", "4"))
    assert result.code == 2 and "litellm rejected the API key (401)" in result.err
    assert "Traceback" not in result.err and KEY not in result.err
    assert sum(srv.received.values()) <= 4


def test_the_compromised_releases_and_a_model_without_provider_are_refused_first(
    cli, tmp_path: Path, monkeypatch
) -> None:
    import datagen_plugins.backends.litellm_backend as backend

    monkeypatch.chdir(tmp_path)
    seeds = seeds_file(tmp_path / "s.jsonl", 3)
    with LoopbackServer() as srv:
        monkeypatch.setattr(backend, "installed_version", lambda: "1.82.8")
        result = cli(*args(srv, seeds, 3))
        assert result.code == 2 and "BerriAI/litellm#24512" in result.err and "1.82.8" in result.err
        monkeypatch.setattr(backend, "installed_version", lambda: "1.110.2")
        bare = cli(*args(srv, seeds, 3, "--set", "backend.litellm.model=gpt-4o-mini"))
        assert bare.code == 2 and "names no provider" in bare.err
        assert sum(srv.received.values()) == 0
