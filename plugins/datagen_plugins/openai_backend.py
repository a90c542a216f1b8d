"""``openai``: the official OpenAI SDK (AsyncOpenAI), chat or completions, OpenAI or any compatible server.

``base_url`` points it at vLLM, llama.cpp, ollama or the local backend's own server. The key comes from
``[backend.openai] api_key`` or ``OPENAI_API_KEY``; against OpenAI's own API it must look like an OpenAI
key, against another server it is optional.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import attrs

import datagen
from datagen.config import secret_field
from datagen.errors import TransientError, UsageError
from datagen.llm import Request, Response, check_api_key, parse_rate_limits
from datagen.log import register_secret
from datagen.records import Usage
from datagen_plugins._sdk import map_sdk_error, post_json, raw_response_type

OFFICIAL_URL = "https://api.openai.com/v1"
_FINISH = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


@attrs.define
class OpenAIConfig:
    """Options of ``[backend.openai]``."""

    api_key: str | None = secret_field()
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api: str = "chat"
    organization: str | None = None
    transport: str = "aiohttp"
    timeout_s: float = 600.0
    max_tokens_param: str = "max_tokens"


class OpenAIBackend:
    """Chat Completions (``api = "chat"``) or legacy Completions (``api = "completions"``) via AsyncOpenAI."""

    name: ClassVar[str] = "openai"
    Config: ClassVar[type[Any]] = OpenAIConfig
    env_key: ClassVar[str] = "OPENAI_API_KEY"

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.model = config.model
        self.is_chat = config.api != "completions"
        self.base_url = (config.base_url or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_URL).rstrip("/")
        self.cache_identity = self.base_url
        self.rate_limits: Any = None
        self._key: str | None = None
        self._client: Any = None
        self._response_type: type[Any] = object

    @property
    def official(self) -> bool:
        """Whether this talks to OpenAI's own API (where keys have a known shape and are required)."""
        return self.base_url.startswith(OFFICIAL_URL)

    def validate(self) -> None:
        """Check the key's presence and shape, and the options, before any request."""
        if self.config.api not in {"chat", "completions"}:
            raise UsageError(
                f"$.backend.openai.api: expected 'chat' or 'completions', got {self.config.api!r}"
            )
        if self.config.transport not in {"aiohttp", "httpx"}:
            raise UsageError(
                f"$.backend.openai.transport: expected 'aiohttp' or 'httpx', got {self.config.transport!r}"
            )
        key = self.config.api_key or os.environ.get(self.env_key)
        if self.official or key:
            key = check_api_key(
                key,
                env_var=self.env_key,
                config_key="[backend.openai] api_key",
                prefix="sk-" if self.official else None,
            )
            register_secret(key)
        self._key = key or "no-key"

    def client(self) -> Any:
        """The AsyncOpenAI client, created inside the running loop on first use; the SDK does not retry."""
        if self._client is None:
            import openai

            if self._key is None:
                self.validate()
            self._client = openai.AsyncOpenAI(
                api_key=self._key,
                base_url=self.base_url,
                organization=self.config.organization,
                timeout=self.config.timeout_s,
                max_retries=0,
                http_client=openai.DefaultAioHttpClient() if self.config.transport == "aiohttp" else None,
            )
            self._response_type = raw_response_type(openai)
        return self._client

    def _params(self, request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            self.config.max_tokens_param: request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            params["stop"] = list(request.stop)
        if request.seed is not None:
            params["seed"] = request.seed
        return params

    async def complete(self, request: Request) -> Response:
        """Send one request; SDK errors become datagen's retryable/permanent/auth errors."""
        import openai

        client = self.client()
        body = self._params(request)
        if self.is_chat:
            path = "/chat/completions"
            if request.messages is not None:
                body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
            else:
                body["messages"] = [{"role": "user", "content": request.prompt or ""}]
            if request.json_schema is not None:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": "output", "schema": dict(request.json_schema)},
                }
        else:
            path = "/completions"
            body["prompt"] = (
                request.prompt
                if request.prompt is not None
                else "\n\n".join(m.content for m in request.messages or ())
            )
        try:
            result, headers = await post_json(client, path, body, self._response_type)
        except openai.OpenAIError as exc:
            raise map_sdk_error(exc, openai, "openai", self.base_url) from None
        self.rate_limits = parse_rate_limits(headers) or self.rate_limits
        try:
            choice = result["choices"][0]
            text = (choice["message"].get("content") if self.is_chat else choice.get("text")) or ""
            usage = result.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise TransientError(f"openai at {self.base_url}: malformed response ({exc!r})") from None
        return Response(
            text=text,
            finish_reason=_FINISH.get(choice.get("finish_reason") or "stop", "stop"),
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            model=result.get("model") or self.model,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            await self._client.close()
            self._client = None


@datagen.hookimpl
def datagen_register_backends(register: datagen.Register) -> None:
    """Register the OpenAI backend."""
    register(OpenAIBackend)
