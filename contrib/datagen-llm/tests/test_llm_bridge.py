"""The ``llm`` backend with models registered by a test plugin of llm's own: records from a sync and
an async model, datagen's sampling passed under the option names a model declares, a rate limit
retried after Retry-After by datagen, a rejected key stopping the run, an unknown model named."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import llm
import pytest

import datagen
from datagen.errors import AuthenticationError, UsageError

SEEDS = [{"id": f"s{i}", "instruction": f"Name fruit number {i}."} for i in range(4)]
CALLS: list[tuple[str, dict[str, Any]]] = []


class StatusError(Exception):
    """What an HTTP SDK raises: a status code and the answer with its headers."""

    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status_code = status
        self.response = type("Answer", (), {"headers": headers})()


class EchoOptions(llm.Options):
    temperature: float | None = None
    max_output_tokens: int | None = None


class SyncEcho(llm.Model):
    model_id = "test-echo"

    class Options(EchoOptions):
        pass

    def execute(self, prompt: Any, stream: bool, response: Any, conversation: Any) -> Iterator[str]:
        CALLS.append(("sync", prompt.options.model_dump()))
        response.set_usage(input=len(prompt.prompt.split()), output=3)
        yield f"echo: {prompt.prompt}"


class AsyncEcho(llm.AsyncModel):
    model_id = "test-echo"

    class Options(EchoOptions):
        pass

    async def execute(
        self, prompt: Any, stream: bool, response: Any, conversation: Any
    ) -> AsyncIterator[str]:
        CALLS.append(("async", prompt.options.model_dump()))
        response.set_usage(input=len(prompt.prompt.split()), output=3)
        yield f"echo: {prompt.prompt}" + (f" [{prompt.system}]" if prompt.system else "")


class SyncOnly(SyncEcho):
    model_id = "test-sync-only"


class Limited(llm.Model):
    """Answers 429 with Retry-After to its first request of each prompt, then answers."""

    model_id = "test-limited"
    seen: ClassVar[set[str]] = set()

    def execute(self, prompt: Any, stream: bool, response: Any, conversation: Any) -> Iterator[str]:
        if prompt.prompt not in self.seen:
            self.seen.add(prompt.prompt)
            raise StatusError(429, {"retry-after-ms": "10"})
        yield "after the wait"


class Locked(llm.Model):
    model_id = "test-locked"

    def execute(self, prompt: Any, stream: bool, response: Any, conversation: Any) -> Iterator[str]:
        raise StatusError(401, {})
        yield ""  # (a generator)


class TestModels:
    @llm.hookimpl
    def register_models(self, register: Any) -> None:
        register(SyncEcho(), AsyncEcho())
        register(SyncOnly())
        register(Limited())
        register(Locked())


@pytest.fixture(autouse=True)
def models() -> Iterator[None]:
    plugin = TestModels()
    llm.pm.register(plugin, name="datagen-test-models")
    CALLS.clear()
    yield
    llm.pm.unregister(plugin)


def generator(model: str, sampling: dict[str, Any] | None = None, **extra: Any) -> datagen.Generator:
    config = {
        "backend": {"name": "llm", "llm": {"model": model, **extra}},
        "cache": {"enabled": False},
        "sampling": sampling or {},
    }
    return datagen.Generator(config)


def test_an_async_model_makes_records_with_its_declared_options() -> None:
    results = generator("test-echo", {"temperature": 0.3, "max_tokens": 50}).run("respond", SEEDS, 4)
    assert sorted(r.output for r in results) == sorted(f"echo: {s['instruction']}" for s in SEEDS)
    assert {kind for kind, _ in CALLS} == {"async"}
    assert all(opts["temperature"] == 0.3 and opts["max_output_tokens"] == 50 for _, opts in CALLS)
    assert {r.provenance.backend for r in results} == {"llm"}
    assert results.report.prompt_tokens > 0 and results.report.completion_tokens == 12


def test_a_sync_only_model_runs_in_a_worker_thread() -> None:
    results = generator("test-sync-only").run("respond", SEEDS, 4)
    assert len(results) == 4 and {kind for kind, _ in CALLS} == {"sync"}


def test_a_rate_limit_is_retried_by_datagen_after_retry_after() -> None:
    Limited.seen.clear()
    results = generator("test-limited").run("respond", SEEDS, 4)
    assert [r.output for r in results] == ["after the wait"] * 4
    assert results.report.retries == 4 and results.report.failed == 0


def test_a_rejected_key_stops_the_run_and_an_unknown_model_is_named() -> None:
    with pytest.raises(AuthenticationError, match="test-locked rejected the key"):
        generator("test-locked").run("respond", SEEDS, 4)
    with pytest.raises(UsageError, match="llm knows no model 'nope'"):
        generator("nope").run("respond", SEEDS, 4)
    with pytest.raises(UsageError, match=r"backend\.llm\.options: test-echo refuses them"):
        generator("test-echo", options={"colour": "blue"}).run("respond", SEEDS, 4)
