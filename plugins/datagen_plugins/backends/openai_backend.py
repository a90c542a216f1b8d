"""``openai``: Chat Completions or Completions, OpenAI's API or any compatible server.

``base_url`` points it at vLLM, llama.cpp, ollama or the local backend's own server. The key comes from
``[backend.openai] api_key`` or ``OPENAI_API_KEY``; against OpenAI's own API it must look like an OpenAI
key, against another server it is optional. Requests go straight over HTTP (``transport = "direct"``)
or through the official SDK's client (``lean``, ``aiohttp``, ``httpx``); the Batch API always uses the SDK.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
    OPENAI_FINISH,
    TRANSPORTS,
    DirectPoster,
    Poster,
    http_client,
    load_prices,
    map_sdk_error,
    status_error,
)

OFFICIAL_URL = "https://api.openai.com/v1"
_BATCH_DONE = {"completed", "failed", "expired", "cancelled"}


@attrs.define
class OpenAIConfig:
    """Options of ``[backend.openai]``."""

    api_key: str | None = secret_field()
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api: str = "chat"
    organization: str | None = None
    transport: str = "direct"
    timeout_s: float = 600.0
    max_tokens_param: str = "max_tokens"


class OpenAIBackend:
    """Chat Completions (``api = "chat"``) or legacy Completions (``api = "completions"``)."""

    name: ClassVar[str] = "openai"
    Config: ClassVar[type[Any]] = OpenAIConfig
    env_key: ClassVar[str] = "OPENAI_API_KEY"
    #: with ``backend = "auto"``, chosen first when its key is set
    auto_choice: ClassVar[int] = 10
    #: any OpenAI-compatible server (vLLM, llama.cpp, Ollama, SGLang) at a ``base_url``
    compatible_servers: ClassVar[bool] = True
    #: USD per million tokens of OpenAI's models (openai_prices.toml)
    prices: ClassVar[dict[str, Price]] = load_prices("openai_prices.toml")

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.model = config.model
        self.is_chat = config.api != "completions"
        self.base_url = (config.base_url or os.environ.get("OPENAI_BASE_URL") or OFFICIAL_URL).rstrip("/")
        self.cache_identity = self.base_url
        self.rate_limits: Any = None
        self._key: str | None = None
        self._client: Any = None
        self._post: Poster | DirectPoster | None = None

    @property
    def official(self) -> bool:
        """Whether this talks to OpenAI's own API (where keys have a known shape and are required)."""
        return self.base_url.startswith(OFFICIAL_URL)

    @property
    def token_charge(self) -> str:
        """How the server counts a request against a token limit: OpenAI and Azure OpenAI count its
        prompt and ``max_tokens`` when it arrives (``reserved``: the engine gives nothing back); a
        compatible server's limit (a proxy's, or the user's own) is taken to count what was used."""
        host = urlsplit(self.base_url).hostname or ""
        openai = host == "api.openai.com" or host.endswith((".openai.azure.com", ".openai.com"))
        return "reserved" if openai else "used"

    def validate(self) -> None:
        """Check the key's presence and shape, and the options, before any request."""
        if self.config.api not in {"chat", "completions"}:
            raise UsageError(
                f"$.backend.openai.api: expected 'chat' or 'completions', got {self.config.api!r}"
            )
        if self.config.transport not in TRANSPORTS:
            raise UsageError(
                f"$.backend.openai.transport: expected one of {', '.join(TRANSPORTS)}, "
                f"got {self.config.transport!r}"
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
                http_client=http_client(openai, self.config.transport, self.base_url),
            )
        return self._client

    def headers(self) -> dict[str, str]:
        """What the SDK would send besides the body: the key, organisation and project, JSON."""
        if self._key is None:
            self.validate()
        headers = {
            "Authorization": f"Bearer {self._key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        organization = self.config.organization or os.environ.get("OPENAI_ORG_ID")
        if organization:
            headers["OpenAI-Organization"] = organization
        if project := os.environ.get("OPENAI_PROJECT_ID"):
            headers["OpenAI-Project"] = project
        return headers

    def poster(self) -> Poster | DirectPoster:
        """Sends this backend's requests: straight over HTTP, or through :meth:`client`."""
        if self._post is None:
            if self.config.transport == "direct":
                url = self.base_url + self.path
                self._post = DirectPoster(url, self.headers(), "openai", self.base_url, self.config.timeout_s)
            else:
                import openai

                self._post = Poster(self.client(), self.path, openai, openai.OpenAIError, self.base_url)
        return self._post

    @property
    def path(self) -> str:
        """The endpoint requests go to (relative to ``base_url``)."""
        return "/chat/completions" if self.is_chat else "/completions"

    def body(self, request: Request) -> dict[str, Any]:
        """The JSON body of ``request`` for this backend's endpoint."""
        body: dict[str, Any] = {
            "model": self.model,
            self.config.max_tokens_param: request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if self.is_chat:
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
            body["prompt"] = (
                request.prompt
                if request.prompt is not None
                else "\n\n".join(m.content for m in request.messages or ())
            )
        return body

    def parse(self, result: Any) -> Response:
        """A :class:`Response` from the endpoint's JSON answer."""
        try:
            choice = result["choices"][0]
            text = (choice["message"].get("content") if self.is_chat else choice.get("text")) or ""
            usage = result.get("usage") or {}
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise TransientError(f"openai at {self.base_url}: malformed response ({exc!r})") from None
        return Response(
            text=text,
            finish_reason=OPENAI_FINISH.get(choice.get("finish_reason") or "stop", "stop"),
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
            model=result.get("model") or self.model,
        )

    async def complete(self, request: Request) -> Response:
        """Send one request; HTTP errors become datagen's retryable/permanent/auth errors."""
        result, rate_limits = await self.poster()(self.body(request))
        self.rate_limits = rate_limits or self.rate_limits
        return self.parse(result)

    # ------------------------------------------------------------------------------------- Batch API

    async def submit_batch(self, items: Sequence[tuple[str, Request]]) -> str:
        """Upload the requests as a JSONL file and create a batch on this backend's endpoint."""
        import openai

        endpoint = "/v1" + self.path
        lines = [
            json.dumps({"custom_id": key, "method": "POST", "url": endpoint, "body": self.body(req)})
            for key, req in items
        ]
        client = self.client()
        try:
            upload = await client.files.create(
                file=("datagen-batch.jsonl", "\n".join(lines).encode(), "application/jsonl"), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=upload.id, endpoint=endpoint, completion_window="24h"
            )
        except openai.OpenAIError as exc:
            raise map_sdk_error(exc, openai, "openai", self.base_url) from None
        return str(batch.id)

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        """The batch's status; done once completed, failed, expired or cancelled."""
        import openai

        try:
            batch = await self.client().batches.retrieve(batch_id)
        except openai.OpenAIError as exc:
            raise map_sdk_error(exc, openai, "openai", self.base_url) from None
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        return BatchStatus(batch.status in _BATCH_DONE, str(batch.status), counts)

    async def collect_batch(self, batch_id: str, requests: Mapping[str, Request]) -> BatchResults:
        """Answers and per-item errors from the batch's output and error files."""
        import openai

        client = self.client()
        results: BatchResults = {}
        try:
            batch = await client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if not file_id:
                    continue
                content = await client.files.content(file_id)
                for line in content.text.splitlines():
                    if line.strip():
                        self._batch_line(json.loads(line), results)
        except openai.OpenAIError as exc:
            raise map_sdk_error(exc, openai, "openai", self.base_url) from None
        return results

    def _batch_line(self, item: Mapping[str, Any], results: BatchResults) -> None:
        key = str(item.get("custom_id"))
        response = item.get("response") or {}
        status = int(response.get("status_code") or 0)
        if status == 200:
            results[key] = self.parse(response.get("body") or {})
        else:
            error = item.get("error") or (response.get("body") or {}).get("error") or {}
            message = redact_text(f"openai batch item {key}: {status} {error.get('message', error)}")
            results[key] = status_error(status or 500, message)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if isinstance(self._post, DirectPoster):
            await self._post.aclose()
        if self._client is not None:
            await self._client.close()
        self._client = self._post = None


@hookimpl
def datagen_register_backends(register: RegisterBackend) -> None:
    """Register the OpenAI backend."""
    register(OpenAIBackend)
