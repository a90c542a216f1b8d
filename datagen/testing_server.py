"""A real HTTP server on 127.0.0.1 speaking the OpenAI and Anthropic wire formats, for tests and benchmarks.

The official SDKs are pointed at it unchanged. Answers are deterministic; latency, injected errors (429 with
``Retry-After``, 500, 400, 401, hung connections) and rate-limit headers are configurable, and it counts
every request body it receives and answers, so tests can prove nothing was sent twice.

Run it standalone: ``python -m datagen.testing_server --latency 0.2 --error-rate 0.05`` prints its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from typing import Any

import attrs
from aiohttp import web

ERROR_KINDS = ("429", "500", "400", "401", "timeout")


@attrs.define
class Behaviour:
    """How the server misbehaves."""

    latency_s: float = 0.0
    #: each answer takes ``latency_s`` times a factor drawn uniformly from [1 - spread, 1 + spread]
    #: (LLM answers vary in length, and so do their latencies)
    latency_spread: float = 0.0
    error_rate: float = 0.0
    fail_first: int = 0
    error_kinds: tuple[str, ...] = ("429", "500")
    retry_after_ms: int | None = 20
    hang_s: float = 30.0
    rate_limit_headers: bool = False
    requests_per_minute: int = 10_000
    tokens_per_minute: int = 10_000_000
    #: enforce ``requests_per_minute`` over a sliding window: beyond it, 429 with Retry-After (and, with
    #: ``rate_limit_headers``, headers showing the budget spent), like a real API's rate limit
    enforce_limit: bool = False
    #: the window the limit is enforced over (``requests_per_minute * limit_window_s / 60`` requests)
    limit_window_s: float = 60.0
    #: enforce ``tokens_per_minute`` over ``limit_window_s`` too: a request that would take the tokens
    #: counted in the window above it is answered 429 with Retry-After
    enforce_tokens: bool = False
    #: what a request counts against the token limit: ``reserved``, what it may use (its prompt's words
    #: and its ``max_tokens``) when it arrives, as OpenAI counts; ``used``, the same when it arrives,
    #: then what its answer used (prompt and answer) once answered, as Anthropic counts output tokens
    token_charge: str = "reserved"
    valid_keys: frozenset[str] | None = None
    #: a hard cap on requests in flight: one more is answered 429 with ``Retry-After: cap_retry_after_s``
    #: at once (a provider's concurrency limit, or a proxy in front of a small deployment)
    max_in_flight: int | None = None
    cap_retry_after_s: int = 1
    #: serve this many at once and queue the rest, never answering 429 (a default vLLM server): the
    #: latency grows with the queue
    serve_at_once: int | None = None
    #: how a structured answer picks an ``enum`` value: ``hash`` (by the prompt, as if judged) or
    #: ``first`` (always the first listed: a pairwise judge that prefers whatever comes first)
    enum_choice: str = "hash"
    #: chat answers differ with the request's sampling seed and temperature (in text and length), as a
    #: model's samples do; off, an answer depends on the prompt only
    vary_answers: bool = False
    seed: int = 0
    batch_polls: int = 1
    batch_expire_first: int = 0
    batch_error_first: int = 0
    #: ``/v1/moderations`` flags a text for a category when it contains one of that category's words
    moderation_words: tuple[tuple[str, tuple[str, ...]], ...] = (
        ("violence", ("kill", "attack", "stab")),
        ("harassment", ("idiot", "loser")),
        ("self-harm", ("hurt myself",)),
    )


MODERATION_CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)  # fmt: skip


@attrs.define
class TokenCharge:
    """The tokens one admitted request counts against an enforced token limit."""

    at: float  # when it arrived (time.monotonic())
    tokens: int
    in_window: bool = True


def prompt_words(messages: Any) -> int:
    """A chat request's prompt tokens as the server counts them: the words of its messages."""
    return sum(len(str(m.get("content", "")).split()) for m in messages)


def reserved_tokens(body: Mapping[str, Any]) -> int:
    """What a request may use, as the server counts it: its prompt's words and its ``max_tokens``
    (by default what the server's answers are cut at: 16 for a completion prompt, 256 else)."""
    prompt = len(str(body.get("prompt", "")).split())
    prompt += prompt_words(body.get("messages", []))
    default = 16 if "prompt" in body else 256
    return prompt + int(body.get("max_tokens") or body.get("max_completion_tokens") or default)


def body_digest(body: Mapping[str, Any]) -> str:
    """A short stable hash of a request body."""
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _answer_text(source: str, max_tokens: int, vary: Any = None) -> tuple[str, str]:
    """The words "answer to:" and the prompt, cut at ``max_tokens`` words; with ``vary`` (a request's
    sampling seed and temperature) the prompt's words are also cut at a point that depends on it, so
    samples differ in text and length as a model's do."""
    words = source.split()
    if vary is not None and len(words) > 1:
        half = len(words) // 2
        keep = half + int(body_digest({"v": vary, "s": source}), 16) % (len(words) - half)
        words = [*words[:keep], f"({body_digest({'v': vary})[:6]})"]
    words = ["answer", "to:", *words]
    finish = "length" if len(words) > max_tokens else "stop"
    return " ".join(words[:max_tokens]), finish


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def _schema_object(schema: Mapping[str, Any], source: str, choice: str = "hash") -> dict[str, Any]:
    """An object valid against ``schema``: nested objects filled in, an integer within its bounds
    (varying with the prompt, as a model's scores would), one of an ``enum``'s values (by the prompt's
    hash, or with ``choice = "first"`` always the first: a judge that follows position), text quoting
    the prompt (cut at its ``maxLength``)."""
    props = schema.get("properties", {})
    out: dict[str, Any] = {}
    for name, spec in props.items():
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        if isinstance(spec, Mapping) and isinstance(spec.get("enum"), list) and spec["enum"]:
            values = spec["enum"]
            pick = 0 if choice == "first" else int(body_digest({"p": source, "k": name}), 16) % len(values)
            out[name] = values[pick]
        elif kind == "object":
            out[name] = _schema_object(spec, source, choice)
        elif kind == "integer":
            low, high = int(spec.get("minimum", 1)), int(spec.get("maximum", 1))
            out[name] = low + int(body_digest({"p": source, "k": name}), 16) % (high - low + 1)
        else:
            text = f"{name}: {source}"[
                : int(spec.get("maxLength", 10**9)) if isinstance(spec, Mapping) else None
            ]
            out[name] = {"number": 1.0, "boolean": True, "array": []}.get(str(kind), text)
    return out


class LoopbackServer:
    """Serves in a background thread; use as a context manager. ``url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, behaviour: Behaviour | None = None, *, port: int = 0) -> None:
        self.behaviour = behaviour or Behaviour()
        self._port = port
        self.received: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        #: when each answered request was answered (``time.monotonic``): the rate a client kept
        self.answered_at: list[float] = []
        self.errors: Counter[str] = Counter()
        self.auth_headers: list[str] = []
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_items: Counter[str] = Counter()
        self._files: dict[str, bytes] = {}
        self._expired_left = self.behaviour.batch_expire_first
        self._errored_left = self.behaviour.batch_error_first
        self._attempts: Counter[str] = Counter()
        self._rng = random.Random(self.behaviour.seed)
        self._kind = 0
        self._accepted: deque[float] = deque()  # when each request inside the limit window arrived
        self.limited = 0  # requests refused by the enforced limit
        self.limited_at: list[float] = []  # when each was refused (time.monotonic())
        #: the tokens each request admitted under ``enforce_tokens`` counts (in arrival order) ...
        self.token_charges: list[TokenCharge] = []
        self._token_window: deque[TokenCharge] = deque()  # ... those inside the window
        self._tokens_in_window = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        #: seconds each request admitted (not refused at the door) spent in the server, queue included
        self.latencies: list[float] = []
        self._slots: asyncio.Semaphore | None = None  # serve_at_once: made in the server's loop
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    # ------------------------------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        """The server's base URL (Anthropic's SDK takes it as is; OpenAI's wants ``url + "/v1"``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        """Start serving; returns once the port is bound."""
        self._thread = threading.Thread(target=self._serve, name="loopback-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/completions", self._openai_completions)
        app.router.add_post("/v1/messages", self._anthropic_messages)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/moderations", self._openai_moderations)
        app.router.add_post("/v1/files", self._openai_file_upload)
        app.router.add_get("/v1/files/{id}/content", self._openai_file_content)
        app.router.add_post("/v1/batches", self._openai_batch_create)
        app.router.add_get("/v1/batches/{id}", self._openai_batch_get)
        app.router.add_post("/v1/messages/batches", self._anthropic_batch_create)
        app.router.add_get("/v1/messages/batches/{id}", self._anthropic_batch_get)
        app.router.add_get("/v1/messages/batches/{id}/results", self._anthropic_batch_results)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, backlog=1024)
        self._loop.run_until_complete(site.start())
        sockets = getattr(site._server, "sockets", None)
        assert sockets, "the test server bound no socket"
        self.port = sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    # ------------------------------------------------------------------------------------------ helpers

    def _window_allowance(self) -> int:
        b = self.behaviour
        return max(1, int(b.requests_per_minute * b.limit_window_s / 60))

    def _admit(self) -> float | None:
        """Under an enforced limit: None when the request may pass, else seconds until it could."""
        b = self.behaviour
        now = time.monotonic()
        with self._lock:
            while self._accepted and self._accepted[0] <= now - b.limit_window_s:
                self._accepted.popleft()
            if len(self._accepted) >= self._window_allowance():
                self.limited += 1
                self.limited_at.append(now)
                return self._accepted[0] + b.limit_window_s - now
            self._accepted.append(now)
        return None

    def _token_allowance(self) -> int:
        b = self.behaviour
        return max(1, int(b.tokens_per_minute * b.limit_window_s / 60))

    def _age_tokens(self, now: float) -> None:
        """Drop the charges older than the window (with the lock held)."""
        while self._token_window and self._token_window[0].at <= now - self.behaviour.limit_window_s:
            charge = self._token_window.popleft()
            charge.in_window = False
            self._tokens_in_window -= charge.tokens

    def _admit_tokens(self, body: Mapping[str, Any]) -> tuple[float | None, TokenCharge | None]:
        """Under an enforced token limit: (None, the request's charge) when it may pass, else (the
        seconds until enough tokens have aged out of the window, None)."""
        b, tokens = self.behaviour, reserved_tokens(body)
        now = time.monotonic()
        with self._lock:
            self._age_tokens(now)
            over = self._tokens_in_window + tokens - self._token_allowance()
            if over > 0:
                self.limited += 1
                self.limited_at.append(now)
                wait = b.limit_window_s
                for charge in self._token_window:  # the oldest age out first
                    over -= charge.tokens
                    if over <= 0:
                        wait = charge.at + b.limit_window_s - now
                        break
                return max(wait, 0.001), None
            charge = TokenCharge(now, tokens)
            self._token_window.append(charge)
            self._tokens_in_window += tokens
            self.token_charges.append(charge)
        return None, charge

    def _settle_tokens(self, charge: TokenCharge | None, usage: Mapping[str, Any]) -> None:
        """Count what an answered request used, when the server counts ``used`` tokens."""
        if charge is None or self.behaviour.token_charge != "used":
            return
        used = int(usage.get("total_tokens") or 0) or int(usage.get("input_tokens", 0)) + int(
            usage.get("output_tokens", 0)
        )
        with self._lock:
            if charge.in_window:
                self._tokens_in_window += used - charge.tokens
            charge.tokens = used

    def _headers(self) -> dict[str, str]:
        b = self.behaviour
        if not b.rate_limit_headers:
            return {}
        remaining, reset = b.requests_per_minute - 1, 0.06
        if b.enforce_limit:
            with self._lock:
                remaining = self._window_allowance() - len(self._accepted)
                oldest = self._accepted[0] if self._accepted else time.monotonic()
            reset = max(0.0, oldest + b.limit_window_s - time.monotonic())
        headers = {
            "x-ratelimit-limit-requests": str(b.requests_per_minute),
            "x-ratelimit-remaining-requests": str(max(0, remaining)),
            "x-ratelimit-reset-requests": f"{int(reset * 1000)}ms",
            "x-ratelimit-limit-tokens": str(b.tokens_per_minute),
            "anthropic-ratelimit-requests-limit": str(b.requests_per_minute),
            "anthropic-ratelimit-tokens-limit": str(b.tokens_per_minute),
        }
        if b.enforce_tokens:
            with self._lock:
                self._age_tokens(time.monotonic())
                left = max(0, self._token_allowance() - self._tokens_in_window)
            headers["x-ratelimit-remaining-tokens"] = str(left)
            headers["anthropic-ratelimit-tokens-remaining"] = str(left)
        return headers

    def _injected(self, digest: str) -> str | None:
        b = self.behaviour
        with self._lock:
            self._attempts[digest] += 1
            fail = self._attempts[digest] <= b.fail_first or (
                b.error_rate and self._rng.random() < b.error_rate
            )
            if not fail or not b.error_kinds:
                return None
            kind = b.error_kinds[self._kind % len(b.error_kinds)]
            self._kind += 1
            self.errors[kind] += 1
            return kind

    async def _gate(
        self, request: web.Request, style: str
    ) -> tuple[dict[str, Any], str, TokenCharge | None] | web.StreamResponse:
        if request.content_type != "application/json":  # real APIs reject other bodies
            return self._error(400, "invalid_request_error", "Content-Type must be application/json", style)
        body = await request.json()
        digest = body_digest(body)
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        with self._lock:
            self.received[digest] += 1
            self.auth_headers.append(key)
        b = self.behaviour
        if b.enforce_limit and (wait := self._admit()) is not None:
            return self._limited(wait, "rate limit reached", style)
        charge = None
        if b.enforce_tokens:
            wait, charge = self._admit_tokens(body)
            if wait is not None:
                return self._limited(wait, "token rate limit reached", style)
        with self._lock:
            capped = b.max_in_flight is not None and self.in_flight >= b.max_in_flight
            if capped:
                self.errors["429-cap"] += 1
            else:
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if capped:
            headers = {"retry-after": str(b.cap_retry_after_s)}
            return self._error(429, "rate_limit_exceeded", "too many requests in flight", style, headers)
        arrived = time.monotonic()
        try:
            if b.serve_at_once is None:
                served = await self._serve_gated(body, digest, key, style)
            else:
                if self._slots is None:
                    self._slots = asyncio.Semaphore(b.serve_at_once)
                async with self._slots:  # the rest wait in the queue: latency grows, never a 429
                    served = await self._serve_gated(body, digest, key, style)
            return served if isinstance(served, web.StreamResponse) else (*served, charge)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.latencies.append(time.monotonic() - arrived)

    async def _serve_gated(
        self, body: dict[str, Any], digest: str, key: str, style: str
    ) -> tuple[dict[str, Any], str] | web.StreamResponse:
        b = self.behaviour
        if b.latency_s:
            spread = self._rng.uniform(-b.latency_spread, b.latency_spread) if b.latency_spread else 0.0
            await asyncio.sleep(b.latency_s * (1.0 + spread))
        if b.valid_keys is not None and key not in b.valid_keys:
            self.errors["401"] += 1
            return self._error(401, "authentication_error", "invalid api key", style)
        kind = self._injected(digest)
        if kind == "timeout":
            await asyncio.sleep(b.hang_s)
            return self._error(504, "timeout", "hung", style)
        if kind is not None:
            status = int(kind)
            headers = {}
            if status == 429 and b.retry_after_ms is not None:
                headers = {
                    "retry-after-ms": str(b.retry_after_ms),
                    "retry-after": str(max(1, b.retry_after_ms // 1000)),
                }
            return self._error(status, "injected", f"injected {kind}", style, headers)
        with self._lock:
            self.answered[digest] += 1
            self.answered_at.append(time.monotonic())
        return body, digest

    def _limited(self, wait: float, message: str, style: str) -> web.Response:
        """A 429 of an enforced limit, with the seconds until it allows the request again."""
        headers = {"retry-after-ms": str(max(1, int(wait * 1000))), "retry-after": str(max(1, round(wait)))}
        return self._error(429, "rate_limit_exceeded", message, style, {**headers, **self._headers()})

    def _error(
        self, status: int, kind: str, message: str, style: str, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        if style == "anthropic":
            payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            payload = {"error": {"message": message, "type": kind, "code": status}}
        return web.json_response(payload, status=status, headers=dict(headers or {}))

    # ----------------------------------------------------------------------------------------- handlers

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "loopback-1", "object": "model"}]})

    async def _openai_moderations(self, request: web.Request) -> web.StreamResponse:
        gated = await self._gate(request, "openai")
        if isinstance(gated, web.StreamResponse):
            return gated
        body, digest, _ = gated
        inputs = body.get("input", "")
        texts = [inputs] if isinstance(inputs, str) else [str(t) for t in inputs]
        results = []
        for text in texts:
            lower = text.lower()
            scores = dict.fromkeys(MODERATION_CATEGORIES, 0.0005)
            for category, words in self.behaviour.moderation_words:
                if any(w in lower for w in words):
                    scores[category] = 0.93
            results.append(
                {
                    "flagged": any(v > 0.5 for v in scores.values()),
                    "categories": {c: v > 0.5 for c, v in scores.items()},
                    "category_scores": scores,
                    "category_applied_input_types": {c: ["text"] for c in scores},
                }
            )
        payload = {
            "id": f"modr-{digest}",
            "model": body.get("model", "omni-moderation-latest"),
            "results": results,
        }
        return web.json_response(payload, headers=self._headers())

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        gated = await self._gate(request, "openai")
        if isinstance(gated, web.StreamResponse):
            return gated
        body, digest, charge = gated
        result = self._chat_result(body, digest)
        self._settle_tokens(charge, result["usage"])
        return web.json_response(result, headers=self._headers())

    def _chat_result(self, body: Mapping[str, Any], digest: str) -> dict[str, Any]:
        messages = body.get("messages", [])
        source = next((_text_of(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        vary = [body.get("seed"), body.get("temperature")] if self.behaviour.vary_answers else None
        text, finish = _answer_text(source, max_tokens, vary)
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema = fmt["json_schema"].get("schema", {})
            text, finish = json.dumps(_schema_object(schema, source, self.behaviour.enum_choice)), "stop"
        prompt_tokens = prompt_words(messages)
        return {
            "id": f"chatcmpl-{digest}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "loopback-1"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            },
        }

    async def _openai_completions(self, request: web.Request) -> web.StreamResponse:
        gated = await self._gate(request, "openai")
        if isinstance(gated, web.StreamResponse):
            return gated
        body, digest, charge = gated
        result = self._completion_result(body, digest)
        self._settle_tokens(charge, result["usage"])
        return web.json_response(result, headers=self._headers())

    def _completion_result(self, body: Mapping[str, Any], digest: str) -> dict[str, Any]:
        prompt = str(body.get("prompt", ""))
        lines = [ln for ln in prompt.splitlines() if ln.strip()]
        text, finish = _answer_text(lines[-1] if lines else "", int(body.get("max_tokens") or 16))
        return {
            "id": f"cmpl-{digest}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "loopback-1"),
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(text.split()),
                "total_tokens": len(prompt.split()) + len(text.split()),
            },
        }

    async def _anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        gated = await self._gate(request, "anthropic")
        if isinstance(gated, web.StreamResponse):
            return gated
        body, digest, charge = gated
        result = self._message_result(body, digest)
        self._settle_tokens(charge, result["usage"])
        return web.json_response(result, headers=self._headers())

    def _message_result(self, body: Mapping[str, Any], digest: str) -> dict[str, Any]:
        messages = body.get("messages", [])
        source = next((_text_of(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")
        text, finish = _answer_text(str(source), int(body.get("max_tokens", 256)))
        stop_reason = {"stop": "end_turn", "length": "max_tokens"}[finish]
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if body.get("tools"):
            tool = body["tools"][0]
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{digest}",
                    "name": tool["name"],
                    "input": _schema_object(
                        tool.get("input_schema", {}), str(source), self.behaviour.enum_choice
                    ),
                }
            ]
            stop_reason = "tool_use"
        prompt_tokens = prompt_words(messages)
        return {
            "id": f"msg_{digest}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "loopback-1"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": len(text.split())},
        }

    # ------------------------------------------------------------------------------------ batch APIs

    def _authorised(self, request: web.Request) -> bool:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        with self._lock:
            self.auth_headers.append(key)
        return self.behaviour.valid_keys is None or key in self.behaviour.valid_keys

    def _batch_outcome(self, body: Mapping[str, Any]) -> str:
        """``ok``, ``expired`` or ``errored`` for one batch item (the first N of each kind misbehave)."""
        digest = body_digest(body)
        with self._lock:
            self.batch_items[digest] += 1
            if self._expired_left > 0:
                self._expired_left -= 1
                return "expired"
            if self._errored_left > 0:
                self._errored_left -= 1
                return "errored"
        return "ok"

    def _new_batch(self, prefix: str, record: dict[str, Any]) -> str:
        with self._lock:
            batch_id = f"{prefix}{len(self.batches) + 1:06d}"
            self.batches[batch_id] = {"polls": 0, **record}
        return batch_id

    def _poll(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is not None:
                batch["polls"] += 1
                batch["done"] = batch["polls"] > self.behaviour.batch_polls
        return batch

    async def _openai_file_upload(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return self._error(401, "authentication_error", "invalid api key", "openai")
        form = await request.post()
        upload = form["file"]
        data = upload.file.read() if hasattr(upload, "file") else str(upload).encode()
        with self._lock:
            file_id = f"file-{len(self._files) + 1:06d}"
            self._files[file_id] = data
        return web.json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": getattr(upload, "filename", "batch.jsonl"),
                "purpose": form.get("purpose", "batch"),
                "status": "processed",
            }
        )

    async def _openai_file_content(self, request: web.Request) -> web.StreamResponse:
        data = self._files.get(request.match_info["id"])
        if data is None:
            return self._error(404, "not_found", "no such file", "openai")
        return web.Response(body=data, content_type="application/octet-stream")

    def _openai_batch_json(self, batch_id: str, batch: Mapping[str, Any]) -> dict[str, Any]:
        done = batch.get("done", False)
        status = ("expired" if batch["expired"] else "completed") if done else "in_progress"
        total = batch["total"]
        return {
            "id": batch_id,
            "object": "batch",
            "endpoint": batch["endpoint"],
            "input_file_id": batch["input"],
            "completion_window": "24h",
            "status": status,
            "created_at": batch["created_at"],
            "output_file_id": batch["output"] if done else None,
            "error_file_id": batch["errors"] if done else None,
            "request_counts": {
                "total": total,
                "completed": total - batch["failed"] if done else 0,
                "failed": batch["failed"] if done else 0,
            },
        }

    async def _openai_batch_create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return self._error(401, "authentication_error", "invalid api key", "openai")
        spec = await request.json()
        lines = [json.loads(x) for x in self._files[spec["input_file_id"]].decode().splitlines() if x.strip()]
        outputs, errors, expired, failed = [], [], 0, 0
        for line in lines:
            body, key = line["body"], line["custom_id"]
            outcome = self._batch_outcome(body)
            if outcome == "expired":
                expired += 1
                continue
            if outcome == "errored":
                failed += 1
                errors.append(
                    {
                        "id": f"r-{key}",
                        "custom_id": key,
                        "response": {
                            "status_code": 500,
                            "body": {"error": {"message": "injected", "type": "server_error"}},
                        },
                        "error": None,
                    }
                )
                continue
            result = (
                self._chat_result(body, body_digest(body))
                if "messages" in body
                else self._completion_result(body, body_digest(body))
            )
            outputs.append(
                {
                    "id": f"r-{key}",
                    "custom_id": key,
                    "response": {"status_code": 200, "body": result},
                    "error": None,
                }
            )
        with self._lock:
            out_id, err_id = f"file-out-{len(self._files) + 1:06d}", f"file-err-{len(self._files) + 2:06d}"
            self._files[out_id] = "\n".join(json.dumps(o) for o in outputs).encode()
            self._files[err_id] = "\n".join(json.dumps(e) for e in errors).encode()
        batch_id = self._new_batch(
            "batch_",
            {
                "endpoint": spec["endpoint"],
                "input": spec["input_file_id"],
                "output": out_id,
                "errors": err_id,
                "total": len(lines),
                "failed": failed,
                "expired": expired,
                "created_at": int(time.time()),
            },
        )
        return web.json_response(self._openai_batch_json(batch_id, self.batches[batch_id]))

    async def _openai_batch_get(self, request: web.Request) -> web.StreamResponse:
        batch = self._poll(request.match_info["id"])
        if batch is None:
            return self._error(404, "not_found", "no such batch", "openai")
        return web.json_response(self._openai_batch_json(request.match_info["id"], batch))

    def _anthropic_batch_json(self, batch_id: str, batch: Mapping[str, Any]) -> dict[str, Any]:
        done = batch.get("done", False)
        counts = (
            batch["counts"]
            if done
            else {"processing": batch["total"], "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        )
        return {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "ended" if done else "in_progress",
            "request_counts": counts,
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at": "2026-01-02T00:00:00Z",
            "ended_at": "2026-01-01T00:01:00Z" if done else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{batch_id}/results" if done else None,
        }

    async def _anthropic_batch_create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return self._error(401, "authentication_error", "invalid api key", "anthropic")
        spec = await request.json()
        results, counts = (
            [],
            Counter({"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}),
        )
        for item in spec["requests"]:
            params, key = item["params"], item["custom_id"]
            outcome = self._batch_outcome(params)
            if outcome == "expired":
                counts["expired"] += 1
                results.append({"custom_id": key, "result": {"type": "expired"}})
            elif outcome == "errored":
                counts["errored"] += 1
                results.append(
                    {
                        "custom_id": key,
                        "result": {
                            "type": "errored",
                            "error": {"type": "error", "error": {"type": "api_error", "message": "injected"}},
                        },
                    }
                )
            else:
                counts["succeeded"] += 1
                results.append(
                    {
                        "custom_id": key,
                        "result": {
                            "type": "succeeded",
                            "message": self._message_result(params, body_digest(params)),
                        },
                    }
                )
        batch_id = self._new_batch(
            "msgbatch_", {"results": results, "counts": dict(counts), "total": len(results)}
        )
        return web.json_response(self._anthropic_batch_json(batch_id, self.batches[batch_id]))

    async def _anthropic_batch_get(self, request: web.Request) -> web.StreamResponse:
        batch = self._poll(request.match_info["id"])
        if batch is None:
            return self._error(404, "not_found_error", "no such batch", "anthropic")
        return web.json_response(self._anthropic_batch_json(request.match_info["id"], batch))

    async def _anthropic_batch_results(self, request: web.Request) -> web.StreamResponse:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or not batch.get("done"):
            return self._error(404, "not_found_error", "results not ready", "anthropic")
        text = "\n".join(json.dumps(r) for r in batch["results"])
        return web.Response(text=text, content_type="application/binary")


def main() -> None:
    """Serve until interrupted, printing the URL first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument(
        "--latency-spread", type=float, default=0.0, help="latency varies by up to this share either way"
    )
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--errors", default="429,500", help="comma separated: " + ",".join(ERROR_KINDS))
    parser.add_argument("--rate-limit-headers", action="store_true")
    parser.add_argument("--rpm", type=int, default=10_000)
    parser.add_argument("--enforce", action="store_true", help="refuse requests beyond --rpm with 429")
    parser.add_argument("--tpm", type=int, default=10_000_000)
    parser.add_argument("--enforce-tokens", action="store_true", help="refuse requests beyond --tpm with 429")
    parser.add_argument(
        "--token-charge",
        choices=["reserved", "used"],
        default="reserved",
        help="count what a request may use (OpenAI) or, once answered, what it used (Anthropic)",
    )
    parser.add_argument(
        "--retry-after-ms", type=int, default=20, help="Retry-After of injected 429s; negative: none"
    )
    parser.add_argument("--window", type=float, default=60.0, help="seconds the --rpm limit is counted over")
    parser.add_argument("--max-in-flight", type=int, help="answer 429 (Retry-After: 1) above this many")
    parser.add_argument("--serve-at-once", type=int, help="serve this many at once and queue the rest")
    args = parser.parse_args()
    behaviour = Behaviour(
        latency_s=args.latency,
        latency_spread=args.latency_spread,
        error_rate=args.error_rate,
        error_kinds=tuple(k for k in args.errors.split(",") if k),
        rate_limit_headers=args.rate_limit_headers,
        requests_per_minute=args.rpm,
        enforce_limit=args.enforce,
        tokens_per_minute=args.tpm,
        enforce_tokens=args.enforce_tokens,
        token_charge=args.token_charge,
        retry_after_ms=args.retry_after_ms if args.retry_after_ms >= 0 else None,
        limit_window_s=args.window,
        max_in_flight=args.max_in_flight,
        serve_at_once=args.serve_at_once,
    )
    with LoopbackServer(behaviour, port=args.port) as server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
