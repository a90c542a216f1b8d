"""The openai and anthropic backends, straight over HTTP and through the official SDKs, against a real
HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen._datamodel.config import EngineConfig
from datagen._datamodel.records import Message
from datagen._datamodel.results import Results
from datagen._engine.core import Engine
from datagen._engine.llm import _ON_THE_WIRE, Request
from datagen.errors import PermanentError, TransientError, UsageError
from datagen.testing import check_backend
from datagen.testing_server import Behaviour, LoopbackServer
from datagen_plugins.backends.anthropic_backend import AnthropicBackend, AnthropicConfig
from datagen_plugins.backends.openai_backend import OpenAIBackend, OpenAIConfig

OPENAI_KEY = "sk-test-abcdefghijklmnop0123"
ANTHROPIC_KEY = "sk-ant-test-abcdefghijklmnop0123"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def backend_args(backend: str, srv: LoopbackServer) -> list[str]:
    url = srv.url + "/v1" if backend == "openai" else srv.url
    return ["--backend", backend, "--base-url", url]


def generate_args(backend: str, srv: LoopbackServer, seeds: Path, count: int | str, *extra: str) -> list[str]:
    """``datagen generate`` through ``backend`` at ``srv``, ``count`` records from ``seeds`` to o.jsonl."""
    where = ["--seeds", str(seeds), "--count", str(count), "--out", "o.jsonl"]
    return ["generate", *backend_args(backend, srv), *where, *extra]


def seeds_file(path: Path, n: int) -> Path:
    path.write_text(
        "".join(json.dumps({"id": f"s{i}", "instruction": f"Task number {i}."}) + "\n" for i in range(n))
    )
    return path


def summary(err: str) -> dict[str, int]:
    line = next(ln for ln in err.splitlines() if ln.startswith("wrote "))
    return {
        k: int(v)
        for v, k in re.findall(r"(\d+) (records|requests|from cache|retries|failed|dropped|truncated)", line)
    }


@pytest.mark.parametrize("transport", ["direct", "lean"])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_generate_through_each_backend(cli, keys, server, tmp_path, monkeypatch, backend, transport) -> None:
    monkeypatch.setenv(f"DATAGEN_BACKEND__{backend.upper()}__TRANSPORT", transport)
    seeds = seeds_file(tmp_path / "s.jsonl", 5)
    result = cli(*generate_args(backend, server, seeds, 10))
    assert result.code == 0, result.err
    records = list(Results.load(tmp_path / "o.jsonl"))
    assert len(records) == 10 and len({r.id for r in records}) == 10
    assert all(r.output.startswith("answer to: Task number") for r in records)
    assert {r.provenance.backend for r in records} == {backend}
    assert all(r.provenance.usage.completion_tokens > 0 for r in records)
    assert set(server.auth_headers) == {OPENAI_KEY if backend == "openai" else ANTHROPIC_KEY}


def test_openai_completions_api(keys, server, datagen_plugins) -> None:
    from datagen.testing import run_method

    results = run_method(
        datagen_plugins,
        "respond",
        ["Say hi."],
        2,
        backend="openai",
        config={
            "backend": {"name": "openai", "openai": {"base_url": server.url + "/v1", "api": "completions"}}
        },
    )
    assert {r.output for r in results} == {"answer to: ### Response:"}  # a completion-style few-shot prompt


@pytest.mark.parametrize(("backend", "transport"), [("openai", "direct"), ("anthropic", "lean")])
def test_injected_errors_lose_and_duplicate_nothing(
    cli, keys, tmp_path, monkeypatch, backend, transport
) -> None:
    monkeypatch.setenv(f"DATAGEN_BACKEND__{backend.upper()}__TRANSPORT", transport)
    behaviour = Behaviour(error_rate=0.1, error_kinds=("429", "500"), retry_after_ms=5, seed=7)
    with LoopbackServer(behaviour) as srv:
        seeds = seeds_file(tmp_path / "s.jsonl", 200)
        result = cli(
            *generate_args(backend, srv, seeds, 200, "--no-cache"),
        )
    assert result.code == 0, result.err
    records = list(Results.load(tmp_path / "o.jsonl"))
    assert len(records) == 200 and len({r.id for r in records}) == 200
    assert sorted(r.provenance.seed_ids[0] for r in records) == sorted(f"s{i}" for i in range(200))
    injected = sum(srv.errors.values())
    assert injected > 0 and summary(result.err)["retries"] == injected
    assert all(n == 1 for n in srv.answered.values()) and len(srv.answered) == 200


def test_timeouts_are_retried(cli, keys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATAGEN_ENGINE__TIMEOUT_S", "0.3")
    with LoopbackServer(Behaviour(fail_first=1, error_kinds=("timeout",), hang_s=3)) as srv:
        seeds = seeds_file(tmp_path / "s.jsonl", 3)
        result = cli(
            *generate_args("openai", srv, seeds, 3),
        )
    assert result.code == 0, result.err
    assert summary(result.err)["retries"] == 3 and len(Results.load(tmp_path / "o.jsonl")) == 3


def test_permanent_errors_are_not_retried_and_are_counted(cli, keys, tmp_path) -> None:
    with LoopbackServer(Behaviour(fail_first=1, error_kinds=("400",))) as srv:
        seeds = seeds_file(tmp_path / "s.jsonl", 4)
        result = cli(
            *generate_args("openai", srv, seeds, 4),
        )
    assert result.code == 1, result.err  # nothing written: a failure, and no output file
    assert not (tmp_path / "o.jsonl").exists()
    assert set(srv.received.values()) == {1} and len(srv.received) == 4
    counts = summary(result.err)
    assert (
        counts["failed"] == 4 and counts["dropped"] == 4 and counts["retries"] == 0 and counts["records"] == 0
    )


@pytest.mark.parametrize("transport", ["direct", "lean"])
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_a_rejected_key_stops_the_run_at_once(cli, keys, tmp_path, monkeypatch, backend, transport) -> None:
    monkeypatch.setenv(f"DATAGEN_BACKEND__{backend.upper()}__TRANSPORT", transport)
    with LoopbackServer(Behaviour(valid_keys=frozenset({"sk-the-right-one-123456"}))) as srv:
        seeds = seeds_file(tmp_path / "s.jsonl", 50)
        result = cli(
            *generate_args(backend, srv, seeds, 50, "--concurrency", "4"),
        )
    assert result.code == 2
    assert f"{backend} rejected the API key (401)" in result.err and "Traceback" not in result.err
    assert sum(srv.received.values()) <= 4  # only what was already in flight; nothing retried
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    ("backend", "env", "message"),
    [
        ("openai", {}, "no API key: set OPENAI_API_KEY or [backend.openai] api_key"),
        ("openai", {"OPENAI_API_KEY": "not-an-openai-key"}, "should start with 'sk-'"),
        ("openai", {"OPENAI_API_KEY": "sk-has a space"}, "malformed (whitespace"),
        ("anthropic", {}, "no API key: set ANTHROPIC_API_KEY"),
        ("anthropic", {"ANTHROPIC_API_KEY": "sk-proj-wrongprovider"}, "should start with 'sk-ant-'"),
    ],
)
def test_key_validation_before_any_request(cli, monkeypatch, backend, env, message) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = cli("generate", "--backend", backend, "--count", "1", "--out", "o.jsonl")
    assert result.code == 2 and message in result.err
    for value in env.values():
        assert value not in result.err


def test_compatible_servers_need_no_key(cli, server, tmp_path) -> None:
    result = cli("generate", *backend_args("openai", server), "--count", "1", "--out", "o.jsonl")
    assert result.code == 0, result.err
    assert server.auth_headers == ["no-key"]


def test_auto_backend_picks_the_key_in_the_environment(cli, keys, server, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    result = cli("generate", "--count", "2", "--out", "o.jsonl")
    assert result.code == 0, result.err
    assert {r.provenance.backend for r in Results.load(tmp_path / "o.jsonl")} == {"openai"}


def test_secrets_appear_in_no_log_cache_or_output(cli, server, monkeypatch, tmp_path) -> None:
    secret = "sk-test-SUPERSECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    result = cli(
        "--debug",
        "--log-json",
        "generate",
        *backend_args("openai", server),
        "--count",
        "3",
        "--out",
        "o.jsonl",
    )
    assert result.code == 0, result.err
    assert server.auth_headers[0] == secret  # it was really used
    cache_bytes = b"".join(p.read_bytes() for p in (tmp_path / ".datagen" / "cache").iterdir())
    for blob in (result.err, result.out, (tmp_path / "o.jsonl").read_text(), cache_bytes.decode("latin-1")):
        assert "SUPERSECRET" not in blob
    shown = cli("config", "show", "--format", "json")
    assert "SUPERSECRET" not in shown.out


def test_truncation_is_recorded_and_counted(cli, keys, server, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("DATAGEN_SAMPLING__MAX_TOKENS", "3")
    result = cli("generate", *backend_args("anthropic", server), "--count", "2", "--out", "o.jsonl")
    assert result.code == 0, result.err
    assert {r.provenance.finish_reason for r in Results.load(tmp_path / "o.jsonl")} == {"length"}
    assert summary(result.err)["truncated"] == 2


def test_cached_rerun_sends_nothing_and_a_new_parameter_sends_again(cli, keys, server, tmp_path) -> None:
    args = [*backend_args("openai", server), "--count", "5", "--out", "o.jsonl"]
    assert cli("generate", *args).code == 0
    first = sum(server.received.values())
    again = cli("generate", *args, "--overwrite")
    assert again.code == 0 and sum(server.received.values()) == first
    assert summary(again.err)["from cache"] == 5
    changed = cli("generate", *args, "--model", "gpt-4.1-mini", "--overwrite")
    assert changed.code == 0 and sum(server.received.values()) == first + 5
    stats = json.loads(cli("cache", "stats", "--json").out)
    assert stats["entries"] == 10 and {g["model"] for g in stats["groups"]} == {"gpt-4o-mini", "gpt-4.1-mini"}
    assert cli("cache", "clear", "--model", "gpt-4.1-mini").out.strip() == "deleted 5 cached responses"
    nocache = cli("generate", *args, "--no-cache", "--overwrite")
    assert nocache.code == 0 and sum(server.received.values()) == first + 10


def test_kill_and_resume_pays_for_nothing_twice(keys, tmp_path) -> None:
    count = 240
    seeds = seeds_file(tmp_path / "s.jsonl", count)
    with LoopbackServer(Behaviour(latency_s=0.05)) as srv:
        cmd = [
            sys.executable,
            "-m",
            "datagen._app.cli",
            *generate_args("openai", srv, seeds, count, "--concurrency", "8"),
        ]
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while sum(srv.answered.values()) < count // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        answered_first = sum(srv.answered.values())
        assert 0 < answered_first < count and not (tmp_path / "o.jsonl").exists()
        with sqlite3.connect(tmp_path / ".datagen" / "cache" / "responses.sqlite") as db:
            (kept,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
        assert kept >= answered_first - 8  # all but what was still in flight at the kill
        received_before = sum(srv.received.values())
        rerun = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stderr
        assert sum(srv.received.values()) - received_before == count - kept  # only the unanswered
    records = list(Results.load(tmp_path / "o.jsonl"))
    assert len(records) == count and len({r.id for r in records}) == count
    assert summary(rerun.stderr)["from cache"] == kept


def test_structured_output_openai_and_anthropic(keys) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["answer", "n"],
    }
    with LoopbackServer() as srv:
        for backend in (
            OpenAIBackend(OpenAIConfig(base_url=srv.url + "/v1")),
            AnthropicBackend(AnthropicConfig(base_url=srv.url)),
        ):
            backend.validate()

            async def ask(b=backend):  # type: ignore[no-untyped-def]
                from datagen._engine.structured import complete_json

                engine = Engine(b, EngineConfig(), backend_name=b.name)
                try:
                    return await complete_json(engine, Request(messages=(Message("user", "Q?"),)), schema)
                finally:
                    await engine.aclose()

            answer = asyncio.run(ask())
            assert answer.value == {"answer": "answer: Q?", "n": 1} and answer.attempts == 1


def test_rate_limit_headers_are_followed(keys) -> None:
    with LoopbackServer(Behaviour(rate_limit_headers=True, requests_per_minute=1200)) as srv:
        backend = OpenAIBackend(OpenAIConfig(base_url=srv.url + "/v1"))
        backend.validate()

        async def go() -> Engine:
            engine = Engine(backend, EngineConfig(), backend_name="openai")
            await engine.complete(Request(messages=(Message("user", "hi"),)))
            await engine.aclose()
            return engine

        engine = asyncio.run(go())
    assert engine._rpm is not None and engine._rpm.rate_per_s == pytest.approx(1200 * 0.95 / 60)


@pytest.mark.parametrize("transport", ["direct", "lean", "aiohttp", "httpx"])
@pytest.mark.parametrize("cls", [OpenAIBackend, AnthropicBackend])
def test_backends_pass_the_conformance_check(keys, server, cls, transport) -> None:
    config = cls.Config(base_url=server.url + ("/v1" if cls is OpenAIBackend else ""), transport=transport)
    response = asyncio.run(check_backend(cls(config)))
    assert response.text.startswith("answer to:")


@pytest.mark.parametrize("transport", ["direct", "lean", "httpx", "aiohttp"])
@pytest.mark.parametrize("cls", [OpenAIBackend, AnthropicBackend])
def test_a_request_says_when_it_went_out_on_an_open_connection(keys, cls, transport) -> None:
    """Each request through the transports datagen builds says once, from its HTTP client's hook,
    when its headers were written on an open connection: the engine times the server from there,
    not from before a connection was opened (tests/test_engine.py). The SDK's own aiohttp client has
    no such hook: its requests are timed from the send."""
    with LoopbackServer(Behaviour(latency_s=0.05)) as srv:
        url = srv.url + ("/v1" if cls is OpenAIBackend else "")
        backend = cls(cls.Config(base_url=url, transport=transport))

        async def one(i: int) -> tuple[int, float, float]:
            marks: list[float] = []
            _ON_THE_WIRE.set(lambda: marks.append(time.monotonic()))  # (each task has its own)
            start = time.monotonic()
            await backend.complete(Request(prompt=f"request {i}", max_tokens=8))
            # (the server takes 0.05 s after the request went out)
            return len(marks), (marks or [start])[0] - start, time.monotonic() - (marks or [start])[0]

        async def main() -> list[tuple[int, float, float]]:
            try:
                return await asyncio.gather(*(one(i) for i in range(6)))
            finally:
                await backend.aclose()

        said = asyncio.run(main())
    if transport == "aiohttp":
        assert all(count == 0 for count, _, _ in said)
    else:
        assert all(count == 1 and waited >= 0 and served >= 0.05 for count, waited, served in said)


def test_an_unknown_transport_is_a_config_error(keys) -> None:
    with pytest.raises(
        UsageError, match=r"\$\.backend\.openai\.transport: expected one of direct, lean, aiohttp"
    ):
        OpenAIBackend(OpenAIConfig(transport="curl")).validate()


async def ask(backend: OpenAIBackend | AnthropicBackend) -> str:
    """One request through ``backend``, closed afterwards."""
    backend.validate()
    try:
        return (await backend.complete(Request(prompt="hi", max_tokens=8))).text
    finally:
        await backend.aclose()


@contextlib.asynccontextmanager
async def one_handler(handler: Callable[[Any], Awaitable[Any]]) -> AsyncIterator[str]:
    """A throwaway aiohttp server answering every POST with ``handler``; yields its base URL."""
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("transport", ["direct", "lean"])
@pytest.mark.parametrize("cls", [OpenAIBackend, AnthropicBackend])
def test_a_refused_connection_is_a_retryable_error(keys, cls, transport) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientError, match="Connection") as info:
        asyncio.run(ask(cls(cls.Config(base_url=f"http://127.0.0.1:{port}", transport=transport))))
    assert info.value.retryable


@pytest.mark.parametrize("transport", ["direct", "lean"])
def test_a_compressed_answer_is_decoded(keys, transport) -> None:
    import gzip

    from aiohttp import web

    answer = {"choices": [{"message": {"content": "unzipped"}, "finish_reason": "stop"}], "usage": {}}

    async def gzipped(_: web.Request) -> web.Response:
        body = gzip.compress(json.dumps(answer).encode())
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=body, headers=headers)

    async def go() -> str:
        async with one_handler(gzipped) as url:
            return await ask(OpenAIBackend(OpenAIConfig(base_url=url + "/v1", transport=transport)))

    assert asyncio.run(go()) == "unzipped"


@pytest.mark.parametrize("transport", ["direct", "lean"])
@pytest.mark.parametrize("cls", [OpenAIBackend, AnthropicBackend])
def test_a_non_json_answer_is_a_retryable_error(keys, cls, transport) -> None:
    from aiohttp import web

    async def login_page(_: web.Request) -> web.Response:
        return web.Response(text="<html>proxy login</html>")

    async def go() -> str:
        async with one_handler(login_page) as url:
            return await ask(cls(cls.Config(base_url=url, transport=transport)))

    with pytest.raises(TransientError, match="not JSON") as info:
        asyncio.run(go())
    assert info.value.retryable


@pytest.mark.parametrize("transport", ["direct", "lean"])
def test_requests_go_through_the_proxy_in_the_environment(keys, server, monkeypatch, transport) -> None:
    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the loopback server answers as the proxy
    target = "http://api.example.invalid/v1"  # no such host: only a proxy can answer
    config = OpenAIConfig(base_url=target, transport=transport)
    assert asyncio.run(ask(OpenAIBackend(config))) == "answer to: hi"
    monkeypatch.setenv("NO_PROXY", "api.example.invalid")
    with pytest.raises(TransientError):
        asyncio.run(ask(OpenAIBackend(config)))


@pytest.mark.parametrize("transport", ["direct", "lean"])
def test_proxy_credentials_in_the_environment_are_sent_to_the_proxy_only(
    keys, monkeypatch, transport
) -> None:
    import base64

    from aiohttp import web

    seen: list[tuple[str | None, str | None, str]] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(
            (
                request.headers.get("Proxy-Authorization"),
                request.headers.get("Authorization"),
                request.url.host,
            )
        )
        answer = {"choices": [{"message": {"content": "via proxy"}, "finish_reason": "stop"}], "usage": {}}
        return web.json_response(answer)

    for var in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)

    async def go() -> str:
        async with one_handler(proxy) as url:
            monkeypatch.setenv("HTTP_PROXY", url.replace("http://", "http://alice:p%40ss@"))
            config = OpenAIConfig(base_url="http://api.example.invalid/v1", transport=transport)
            return await ask(OpenAIBackend(config))

    assert asyncio.run(go()) == "via proxy"
    [(proxy_auth, auth, host)] = seen
    assert proxy_auth == "Basic " + base64.b64encode(b"alice:p@ss").decode()
    assert auth == f"Bearer {os.environ['OPENAI_API_KEY']}"
    assert host == "api.example.invalid"


@pytest.mark.parametrize("transport", ["direct", "lean"])
def test_https_through_a_proxy_opens_a_tunnel_with_the_proxy_credentials(
    keys, monkeypatch, transport
) -> None:
    """The proxy sees CONNECT with Proxy-Authorization; it then hangs up, so no TLS is needed here."""
    import base64

    connects: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connects.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)

    async def go() -> None:
        server = await asyncio.start_server(proxy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        monkeypatch.setenv("HTTPS_PROXY", f"http://bob:s3cret@127.0.0.1:{port}")
        try:
            config = OpenAIConfig(base_url="https://api.example.invalid/v1", transport=transport)
            with pytest.raises(TransientError):
                await ask(OpenAIBackend(config))
        finally:
            server.close()

    asyncio.run(go())
    head = connects[0].decode("latin-1")
    assert head.startswith("CONNECT api.example.invalid:443 HTTP/1.1\r\n")
    assert "Proxy-Authorization: Basic " + base64.b64encode(b"bob:s3cret").decode() in head
    assert "Authorization: Bearer" not in head  # the API key stays inside the tunnel


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_nothing_listening_stops_at_once_with_one_line(cli, keys, tmp_path, backend) -> None:
    import socket

    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}" + ("/v1" if backend == "openai" else "")
    seeds = seeds_file(tmp_path / "s.jsonl", 3)
    started = time.monotonic()
    result = cli(
        "generate", "--backend", backend, "--base-url", url, "--seeds", str(seeds), "-n", "3", "-o", "d.jsonl"
    )
    assert result.code == 1 and time.monotonic() - started < 10
    errors = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach the server" in errors[0] and f"127.0.0.1:{port}" in errors[0]
    assert not (tmp_path / "d.jsonl").exists()


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_a_run_imports_neither_the_sdk_nor_what_it_does_not_use(keys, server, tmp_path, backend) -> None:
    """The default transport sends without the SDK, whose import alone would delay the first request by
    0.4-1 s; numpy, Jinja2 and the PII rules (imported when plugins load, if at module level) are not
    needed by this run."""
    seeds = seeds_file(tmp_path / "s.jsonl", 3)
    args = generate_args(backend, server, seeds, 3, "--no-cache")
    code = (
        "import sys\nfrom datagen._app.entry import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "unused = {'openai', 'anthropic', 'numpy', 'jinja2', 'datagen_plugins.privacy._detect'}\n"
        "print(sorted(unused & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(Results.load(tmp_path / "o.jsonl")) == 3
    assert set(server.auth_headers) == {OPENAI_KEY if backend == "openai" else ANTHROPIC_KEY}


def test_the_direct_transport_sends_what_the_sdk_sends(keys, monkeypatch) -> None:
    """Organisation and project headers from the environment, as the SDK reads them; errors carry the
    server's message, redacted."""
    from aiohttp import web

    seen: list[dict[str, str]] = []

    async def refuse(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"error": {"message": f"bad model, key {OPENAI_KEY}"}}, status=404)

    monkeypatch.setenv("OPENAI_ORG_ID", "org-123")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-456")

    async def go() -> str:
        async with one_handler(refuse) as url:
            return await ask(OpenAIBackend(OpenAIConfig(base_url=url + "/v1")))

    with pytest.raises(PermanentError) as info:
        asyncio.run(go())
    assert "HTTP 404: bad model" in str(info.value) and OPENAI_KEY not in str(info.value)
    assert info.value.status == 404 and not info.value.retryable
    [headers] = seen
    assert headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert headers["OpenAI-Organization"] == "org-123" and headers["OpenAI-Project"] == "proj-456"
    assert headers["Content-Type"] == "application/json"


def test_a_url_that_answers_404_to_everything_stops_the_run_with_a_hint(keys) -> None:
    """``--base-url http://host:port`` without ``/v1``: every request would be refused the same way."""
    import datagen

    with LoopbackServer() as srv:
        config = {"backend": {"name": "openai", "openai": {"base_url": srv.url}}, "cache": {"enabled": False}}
        with pytest.raises(datagen.DatagenError, match=r"404 Not Found to the first 3 requests.*/v1"):
            datagen.Generator(config).run("respond", [f"task {i}" for i in range(50)], 50)
