"""The embedded model: a handful of short real generations (<= 64 tokens), offline, no key."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from datagen._datamodel.config import EngineConfig
from datagen._datamodel.results import Results
from datagen._engine.core import Engine
from datagen._engine.llm import Request
from datagen._engine.structured import complete_json
from datagen.testing import check_backend
from datagen_plugins.backends.local import LocalBackend, LocalConfig
from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local() -> Iterator[LocalBackend]:
    backend = LocalBackend(LocalConfig(threads=1))
    backend.validate()
    yield backend
    asyncio.run(backend.aclose())


def test_local_backend_conforms_and_generates(local: LocalBackend) -> None:
    response = asyncio.run(check_backend(LocalBackend(LocalConfig(threads=1)), max_tokens=16))
    assert response.text.strip() and 0 < response.usage.completion_tokens <= 16
    assert response.usage.cost_usd == 0.0 and response.model == "gemma-3-270m-q4_k_m"


def test_greedy_generation_is_deterministic(local: LocalBackend) -> None:
    request = Request(prompt="The three primary colours are", max_tokens=12, temperature=0.0)

    async def twice() -> tuple[str, str]:
        a = await local.complete(request)
        b = await local.complete(request)
        return a.text, b.text

    first, second = asyncio.run(twice())
    assert first == second and first.strip()


def test_stop_sequences_and_max_tokens(local: LocalBackend) -> None:
    response = asyncio.run(
        local.complete(Request(prompt="1, 2, 3, 4,", max_tokens=40, temperature=0.0, stop=("8",)))
    )
    assert "8" not in response.text and response.finish_reason == "stop"
    cut = asyncio.run(
        local.complete(Request(prompt="Once upon a time", max_tokens=5, temperature=0.0, stop=()))
    )
    assert cut.finish_reason == "length" and cut.usage.completion_tokens == 5


def test_structured_output_through_the_grammar(local: LocalBackend) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 24},
            "country": {"type": "string", "maxLength": 24},
        },
        "required": ["city", "country"],
        "additionalProperties": False,
    }

    async def ask():  # type: ignore[no-untyped-def]
        engine = Engine(local, EngineConfig(), backend_name="local")
        return await complete_json(
            engine, Request(prompt="The capital of France as JSON:", max_tokens=48), schema
        )

    answer = asyncio.run(ask())
    assert set(answer.value) == {"city", "country"} and all(isinstance(v, str) for v in answer.value.values())
    # compact JSON: the grammar leaves no room for whitespace between tokens, which a small model fills
    assert answer.response.text == json.dumps(answer.value, separators=(",", ":"), ensure_ascii=False)


def test_openai_backend_against_the_real_llama_cpp_server(local: LocalBackend, monkeypatch) -> None:
    base_url = local.base_url  # xllamacpp's own OpenAI-compatible HTTP server on 127.0.0.1
    assert base_url.startswith("http://127.0.0.1:")
    backend = OpenAIBackend(OpenAIConfig(base_url=base_url, api="completions", model="gemma-3-270m"))
    response = asyncio.run(check_backend(backend, max_tokens=16))
    assert response.text.strip() and 0 < response.usage.completion_tokens <= 16


def test_generate_defaults_to_the_embedded_model(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATAGEN_SAMPLING__MAX_TOKENS", "24")
    monkeypatch.setenv("DATAGEN_BACKEND__LOCAL__THREADS", "1")
    result = cli("generate", "--count", "2", "--out", "demo.jsonl")
    assert result.code == 0, result.err
    records = list(Results.load(tmp_path / "demo.jsonl"))
    assert len(records) == 2 and all(r.output for r in records)
    assert {(r.provenance.backend, r.provenance.model) for r in records} == {("local", "gemma-3-270m-q4_k_m")}
    assert all(0 < r.provenance.usage.completion_tokens <= 24 for r in records)


def test_evolve_instructions_on_the_embedded_model_evolves_or_says_why() -> None:
    import datagen

    results = datagen.Generator({"backend": {"name": "local"}}).evolve_instructions(
        ["Write a short poem about the sea."], rounds=1
    )
    report = results.report
    assert report is not None
    assert len(results) >= 1 or report.short_reasons, report.to_dict()
    for record in results:
        assert record.instruction and record.instruction != "Write a short poem about the sea."
        assert record.output and "<" not in record.output.replace("<=", "")


def test_a_constraint_call_on_the_embedded_model_returns_a_record_with_its_keyword() -> None:
    import datagen

    results = datagen.Generator(
        {"backend": {"name": "local"}, "cache": {"enabled": False}}
    ).generate_with_constraints(
        ["Explain what a contract is."],
        {
            "domain": "legal",
            "keywords": ["contract"],
            "style": "formal",
            "tone": "authoritative",
            "complexity": "low",
        },
        examples_per_instruction=1,
    )
    assert results.report is not None
    assert len(results) == 1, results.report.to_dict()
    assert "contract" in (results[0].output or "").lower()
