"""``anthropic``: the Messages API.

The key comes from ``[backend.anthropic] api_key`` or ``ANTHROPIC_API_KEY``. Structured output uses tool
use: the schema becomes the one tool the model must call, and its input is the answer. Requests go
straight over HTTP (``transport = "direct"``) or through the official SDK's client (``lean``,
``aiohttp``, ``httpx``); the Message Batches API always uses the SDK.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    USER_AGENT,
    BatchResults,
    BatchStatus,
    Price,
    RegisterBackend,
    Request,
    Response,
    TransientError,
    Usage,
    UsageError,
    check_api_key,
    hookimpl,
    redact_text,
    register_secret,
    secret_field,
)
from datagen_plugins.backends._sdk import (
    TRANSPORTS,
    DirectPoster,
    Poster,
    http_client,
    load_prices,
    map_sdk_error,
    status_error,
)

OFFICIAL_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_use",
    "refusal": "content_filter",
    "pause_turn": "stop",
}


@attrs.define
class AnthropicConfig:
    """Options of ``[backend.anthropic]``."""

    api_key: str | None = secret_field()
    base_url: str | None = None
    model: str = "claude-3-5-haiku-latest"
    transport: str = "direct"
    timeout_s: float = 600.0


class AnthropicBackend:
    """The Messages API; completion prompts are sent as one user message."""

    name: ClassVar[str] = "anthropic"
    Config: ClassVar[type[Any]] = AnthropicConfig
    env_key: ClassVar[str] = "ANTHROPIC_API_KEY"
    #: with ``backend = "auto"``, chosen after OpenAI when its key is set
    auto_choice: ClassVar[int] = 20
    #: USD per million tokens of Anthropic's models (anthropic_prices.toml)
    prices: ClassVar[dict[str, Price]] = load_prices("anthropic_prices.toml")
    #: Anthropic counts output tokens at ``max_tokens`` when a request arrives and at what it used once
    #: answered: the engine gives back the rest of its estimate
    token_charge: ClassVar[str] = "used"

    def __init__(self, config: AnthropicConfig) -> None:
        self.config = config
        self.model = config.model
        self.is_chat = True
        self.base_url = (config.base_url or os.environ.get("ANTHROPIC_BASE_URL") or OFFICIAL_URL).rstrip("/")
        self.cache_identity = self.base_url
        self.rate_limits: Any = None
        self._key: str | None = None
        self._client: Any = None
        self._post: Poster | DirectPoster | None = None

    def validate(self) -> None:
        """Check the key's presence and shape before any request."""
        if self.config.transport not in TRANSPORTS:
            raise UsageError(
                f"$.backend.anthropic.transport: expected one of {', '.join(TRANSPORTS)}, "
                f"got {self.config.transport!r}"
            )
        official = self.base_url.startswith(OFFICIAL_URL)
        key = check_api_key(
            self.config.api_key or os.environ.get(self.env_key),
            env_var=self.env_key,
            config_key="[backend.anthropic] api_key",
            prefix="sk-ant-" if official else None,
        )
        register_secret(key)
        self._key = key

    def client(self) -> Any:
        """The AsyncAnthropic client, created inside the running loop on first use; the SDK does not retry."""
        if self._client is None:
            import anthropic

            if self._key is None:
                self.validate()
            self._client = anthropic.AsyncAnthropic(
                api_key=self._key,
                base_url=self.base_url,
                timeout=self.config.timeout_s,
                max_retries=0,
                http_client=http_client(anthropic, self.config.transport, self.base_url),
            )
        return self._client

    def headers(self) -> dict[str, str]:
        """What the SDK would send besides the body: the key, the API version, JSON."""
        if self._key is None:
            self.validate()
        assert self._key is not None
        return {
            "x-api-key": self._key,
            "anthropic-version": API_VERSION,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }

    def poster(self) -> Poster | DirectPoster:
        """Sends this backend's requests: straight over HTTP, or through :meth:`client`."""
        if self._post is None:
            if self.config.transport == "direct":
                url = self.base_url + "/v1/messages"
                self._post = DirectPoster(
                    url, self.headers(), "anthropic", self.base_url, self.config.timeout_s
                )
            else:
                import anthropic

                self._post = Poster(
                    self.client(), "/v1/messages", anthropic, anthropic.AnthropicError, self.base_url
                )
        return self._post

    def body(self, request: Request) -> dict[str, Any]:
        """The Messages API parameters of ``request`` (system turns go to ``system``)."""
        system = [m.content for m in request.messages or () if m.role == "system"]
        if request.messages is not None:
            messages = [
                {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
            ]
        else:
            messages = [{"role": "user", "content": request.prompt or ""}]
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "messages": messages,
            "temperature": request.temperature,
        }
        if request.top_p < 1.0:
            params["top_p"] = request.top_p
        if system:
            params["system"] = "\n\n".join(system)
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.json_schema is not None:
            params["tools"] = [
                {
                    "name": "output",
                    "description": "Return the answer.",
                    "input_schema": dict(request.json_schema),
                }
            ]
            params["tool_choice"] = {"type": "tool", "name": "output"}
        return params

    def parse(self, result: Any, request: Request) -> Response:
        """A :class:`Response` from a Messages API answer to ``request``."""
        try:
            parts = []
            for block in result["content"]:
                if block.get("type") == "text":
                    parts.append(block["text"])
                elif block.get("type") == "tool_use":
                    parts.append(json.dumps(block["input"], ensure_ascii=False))
            usage = result.get("usage") or {}
            stop_reason = result.get("stop_reason") or "end_turn"
        except (KeyError, TypeError, AttributeError) as exc:
            raise TransientError(f"anthropic at {self.base_url}: malformed response ({exc!r})") from None
        finish = _FINISH.get(stop_reason, "stop")
        if request.json_schema is not None and finish == "tool_use":
            finish = "stop"  # the forced tool call is the complete answer
        return Response(
            text="".join(parts),
            finish_reason=finish,
            usage=Usage(usage.get("input_tokens", 0), usage.get("output_tokens", 0)),
            model=result.get("model") or self.model,
        )

    async def complete(self, request: Request) -> Response:
        """Send one Messages request; HTTP errors become datagen's retryable/permanent/auth errors."""
        result, rate_limits = await self.poster()(self.body(request))
        self.rate_limits = rate_limits or self.rate_limits
        return self.parse(result, request)

    # ---------------------------------------------------------------------------- Message Batches API

    async def submit_batch(self, items: Sequence[tuple[str, Request]]) -> str:
        """Create a Message Batch of the requests."""
        import anthropic

        try:
            batch = await self.client().messages.batches.create(
                requests=[{"custom_id": key, "params": self.body(req)} for key, req in items]
            )
        except anthropic.AnthropicError as exc:
            raise map_sdk_error(exc, anthropic, "anthropic", self.base_url) from None
        return str(batch.id)

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        """The batch's status; done once processing has ended."""
        import anthropic

        try:
            batch = await self.client().messages.batches.retrieve(batch_id)
        except anthropic.AnthropicError as exc:
            raise map_sdk_error(exc, anthropic, "anthropic", self.base_url) from None
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        return BatchStatus(batch.processing_status == "ended", str(batch.processing_status), counts)

    async def collect_batch(self, batch_id: str, requests: Mapping[str, Request]) -> BatchResults:
        """Answers and per-item errors; canceled and expired items are left out (to be resubmitted)."""
        import anthropic

        results: BatchResults = {}
        try:
            async for entry in await self.client().messages.batches.results(batch_id):
                item = entry.model_dump()
                key, result = str(item["custom_id"]), item["result"]
                if result["type"] == "succeeded" and key in requests:
                    results[key] = self.parse(result["message"], requests[key])
                elif result["type"] == "errored":
                    error = (result.get("error") or {}).get("error") or {}
                    kind = str(error.get("type", "api_error"))
                    message = redact_text(f"anthropic batch item {key}: {kind}: {error.get('message', '')}")
                    results[key] = status_error(_ERROR_STATUS.get(kind, 500), message)
        except anthropic.AnthropicError as exc:
            raise map_sdk_error(exc, anthropic, "anthropic", self.base_url) from None
        return results

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if isinstance(self._post, DirectPoster):
            await self._post.aclose()
        if self._client is not None:
            await self._client.close()
        self._client = self._post = None


@hookimpl
def datagen_register_backends(register: RegisterBackend) -> None:
    """Register the Anthropic backend."""
    register(AnthropicBackend)
