"""``datagen serve``: the GGUF header read for its chat template, the OpenAI-compatible front (through the
official openai SDK) in front of a stand-in for llama.cpp's server, and the real embedded model served
by the command and stopped with Ctrl-C (slow)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen.errors import UsageError

openai = pytest.importorskip("openai")


def gguf(path: Path, metadata: dict[str, Any]) -> Path:
    """A GGUF v3 file holding only ``metadata`` (strings, integers, string arrays), no tensors."""

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, value in metadata.items():
        out += string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + string(value)
        elif isinstance(value, list):
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(string(v) for v in value)
        else:
            out += struct.pack("<IQ", 10, value)
    path.write_bytes(out)
    return path


def test_the_chat_template_is_read_from_the_gguf_header(tmp_path: Path) -> None:
    from datagen_plugins.backends._gguf import chat_template

    template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>{% endfor %}"
    other = {"general.name": "tiny", "tokenizer.ggml.tokens": ["a", "b", "<s>"], "general.file_type": 15}
    assert (
        chat_template(str(gguf(tmp_path / "chat.gguf", {**other, "tokenizer.chat_template": template})))
        == template
    )
    assert chat_template(str(gguf(tmp_path / "base.gguf", other))) is None
    (tmp_path / "junk.gguf").write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(UsageError, match=r"junk\.gguf: not a GGUF file"):
        chat_template(str(tmp_path / "junk.gguf"))
    (tmp_path / "cut.gguf").write_bytes(gguf(tmp_path / "x.gguf", other).read_bytes()[:40])
    with pytest.raises(UsageError, match=r"cut\.gguf: cannot read the GGUF header"):
        chat_template(str(tmp_path / "cut.gguf"))


class FakeLlama:
    """Stands in for llama.cpp's server: answers completions (streamed or not) and chat, and only with
    its private key; records what it was sent."""

    def __init__(self, key: str) -> None:
        from aiohttp import web

        self.key, self.seen = key, []

        async def handle(request: web.Request) -> web.StreamResponse:
            if request.headers.get("Authorization") != f"Bearer {self.key}":
                return web.json_response({"error": "no key"}, status=401)
            body = await request.json()
            self.seen.append((request.path, body))
            if body.get("stream"):
                out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
                await out.prepare(request)
                for word in ("one", " two"):
                    chunk = {"id": "c", "object": "text_completion", "created": 1, "model": "m",
                             "choices": [{"index": 0, "text": word, "finish_reason": None}]}  # fmt: skip
                    await out.write(f"data: {json.dumps(chunk)}\n\n".encode())
                await out.write(b"data: [DONE]\n\n")
                return out
            usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            if request.path.endswith("chat/completions"):
                message = {"role": "assistant", "content": "hello"}
                choice = {"index": 0, "message": message, "finish_reason": "stop"}
                return web.json_response({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
                                          "choices": [choice], "usage": usage})  # fmt: skip
            choice = {"index": 0, "text": " Paris", "finish_reason": "stop"}
            return web.json_response(
                {"id": "x", "object": "text_completion", "created": 1, "model": "m", "choices": [choice],
                 "usage": usage}
            )  # fmt: skip

        self.app = web.Application()
        self.app.router.add_post("/v1/completions", handle)
        self.app.router.add_post("/v1/chat/completions", handle)


@pytest.fixture
def front() -> Iterator[Any]:
    """A function that starts the front (with a stand-in upstream) in a thread; yields its base URL."""
    from aiohttp import web

    from datagen_plugins.backends.serve_command import make_app

    loop = asyncio.new_event_loop()
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> int:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def make(chat: bool, api_key: str | None) -> tuple[str, FakeLlama]:
        llama = FakeLlama("private-key")
        upstream = asyncio.run_coroutine_threadsafe(start(llama.app), loop).result()
        app = make_app(f"http://127.0.0.1:{upstream}", "private-key", "tiny", chat, api_key)
        port = asyncio.run_coroutine_threadsafe(start(app), loop).result()
        return f"http://127.0.0.1:{port}/v1", llama

    yield make
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join()


def test_the_front_serves_the_openai_routes_to_the_sdk(front: Any) -> None:
    url, llama = front(chat=True, api_key="sk-front")
    client = openai.OpenAI(base_url=url, api_key="sk-front", max_retries=0)
    (model,) = client.models.list().data
    assert model.id == "tiny"
    done = client.completions.create(model="tiny", prompt="The capital of France is", max_tokens=4)
    assert done.choices[0].text == " Paris" and done.usage.total_tokens == 5
    streamed = client.completions.create(model="tiny", prompt="Count", max_tokens=4, stream=True)
    assert "".join(chunk.choices[0].text for chunk in streamed) == "one two"
    chat = client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "hello"
    assert [path for path, _ in llama.seen] == ["/v1/completions", "/v1/completions", "/v1/chat/completions"]
    assert llama.seen[0][1]["prompt"] == "The capital of France is"
    stranger = openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.models.list()


def test_a_model_without_a_chat_template_serves_completions_and_refuses_chat(front: Any) -> None:
    url, llama = front(chat=False, api_key=None)
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0)
    assert client.completions.create(model="tiny", prompt="x", max_tokens=2).choices[0].text == " Paris"
    with pytest.raises(
        openai.BadRequestError, match=r"tiny has no chat template .* serves /v1/completions only"
    ):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "hi"}])
    assert [path for path, _ in llama.seen] == ["/v1/completions"]  # the refused chat never reached it


@contextlib.contextmanager
def served(*args: str, cwd: Path, key: str = "x") -> Iterator[tuple[str, Any]]:
    """``datagen serve ARGS --port 0`` in a subprocess: its first line and an openai client on it; on
    leaving, Ctrl-C, and it must stop cleanly."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "datagen", "serve", *args, "--port", "0", "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert port, line
        yield line, openai.OpenAI(base_url=f"http://127.0.0.1:{port.group(1)}/v1", api_key=key, max_retries=0)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "stopped" in err


@pytest.mark.slow
def test_datagen_serve_runs_the_embedded_model_until_ctrl_c(tmp_path: Path) -> None:
    with served(cwd=tmp_path) as (line, client):
        assert "completions only (no chat template)" in line
        assert [m.id for m in client.models.list().data] == ["gemma-3-270m-q4_k_m"]
        answer = client.completions.create(
            model="gemma", prompt="One, two, three,", max_tokens=6, temperature=0
        )
        assert answer.choices[0].text.strip() and answer.usage.completion_tokens > 0
        with pytest.raises(openai.BadRequestError, match="no chat template"):
            client.chat.completions.create(model="gemma", messages=[{"role": "user", "content": "hi"}])


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """A copy of the GGUF ``source`` whose header also carries ``template`` as its chat template (the
    tensor data moved to the next aligned offset, as the format asks)."""
    from datagen_plugins.backends._gguf import _read, _skip, _string

    with source.open("rb") as fh:
        fh.read(4)
        version, tensors, count = _read(fh, "I"), _read(fh, "Q"), _read(fh, "Q")
        start = fh.tell()
        alignment = 32
        for _ in range(count):
            key, kind = _string(fh), _read(fh, "I")
            if key == b"general.alignment" and kind == 4:
                alignment = _read(fh, "I")
            else:
                _skip(fh, kind)
        kvs_end = fh.tell()
        for _ in range(tensors):  # name, dimensions, type, offset
            _string(fh)
            fh.seek(8 * _read(fh, "I") + 4 + 8, 1)
        infos_end = fh.tell()
        data_start = -(-infos_end // alignment) * alignment
        fh.seek(start)
        kvs, infos = fh.read(kvs_end - start), fh.read(infos_end - kvs_end)
        data = template.encode()
        extra = struct.pack("<Q", 23) + b"tokenizer.chat_template" + struct.pack("<IQ", 8, len(data)) + data
        head = b"GGUF" + struct.pack("<IQQ", version, tensors, count + 1) + kvs + extra + infos
        with target.open("wb") as out:
            out.write(head + b"\0" * (-len(head) % alignment))
            fh.seek(data_start)
            while chunk := fh.read(1 << 24):
                out.write(chunk)
    return target


@pytest.mark.slow
def test_datagen_serve_chats_through_the_template_the_gguf_carries(tmp_path: Path) -> None:
    from datagen_plugins.backends._gguf import chat_template, model_file

    template = (
        "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    )
    path = with_chat_template(Path(model_file(None)), tmp_path / "chat.gguf", template)
    assert chat_template(str(path)) == template
    with served(str(path), "--api-key", "k", cwd=tmp_path, key="k") as (line, client):
        assert "chat through its own template" in line, line
        assert [m.id for m in client.models.list().data] == ["chat"]
        chat = client.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=8,
            temperature=0,
        )
        assert chat.choices[0].message.role == "assistant" and chat.usage.prompt_tokens > 5


def test_an_address_in_use_is_an_error_before_the_model_loads(cli, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.err
    missing = cli("serve", str(tmp_path / "none.gguf"))
    assert missing.code == 2 and "none.gguf: no such GGUF file" in missing.err
