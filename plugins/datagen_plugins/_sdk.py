"""Shared by the OpenAI and Anthropic backends: mapping the official SDKs' errors onto datagen's."""

from __future__ import annotations

import importlib
import inspect
import json
from types import ModuleType
from typing import Any

from datagen.errors import AuthenticationError, BackendError, PermanentError, RateLimitError, TransientError
from datagen.llm import parse_retry_after
from datagen.log import redact_text

RETRYABLE_STATUS = {408, 409, 425}


def map_sdk_error(exc: Exception, sdk: ModuleType, provider: str, where: str) -> BackendError:
    """The datagen error for an ``openai``/``anthropic`` SDK exception (messages are redacted)."""
    message = redact_text(f"{provider} at {where}: {type(exc).__name__}: {exc}")
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        status = getattr(exc, "status_code", None)
        return AuthenticationError(
            f"{provider} rejected the API key ({status}) at {where}; check the key and try again",
            status=status,
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        headers: Any = getattr(exc.response, "headers", {}) or {}
        retry_after = parse_retry_after(headers)
        if isinstance(exc, sdk.RateLimitError) or status == 429:
            return RateLimitError(message, status=status, retry_after=retry_after)
        if status >= 500 or status in RETRYABLE_STATUS:
            return TransientError(message, status=status, retry_after=retry_after)
        return PermanentError(message, status=status)
    if isinstance(exc, (sdk.APITimeoutError, sdk.APIConnectionError)):
        return TransientError(message)
    return PermanentError(message)


def raw_response_type(sdk: ModuleType) -> type[Any]:
    """The response class of the HTTP library the SDK is built on (httpx, or httpx2 in newer SDKs)."""
    base = importlib.import_module(f"{sdk.__name__}._base_client")
    for name in ("httpx2", "httpx"):
        library = getattr(base, name, None)
        if library is not None:
            response_type: type[Any] = library.Response
            return response_type
    raise RuntimeError(f"cannot find the HTTP library of {sdk.__name__} {getattr(sdk, '__version__', '')}")


class Poster:
    """POSTs JSON through an SDK client's public low-level ``post`` and returns (JSON body, headers).

    This keeps the SDK's transport, authentication, timeouts and error classes, but skips its per-call
    parameter transformation and pydantic model construction (half the client CPU per request). The
    body is serialised once here and the URL made absolute once, so the SDK neither re-encodes the body
    nor merges the path into its base URL for every request.
    """

    def __init__(self, client: Any, path: str, response_type: type[Any]) -> None:
        self.client = client
        self.url = str(client.base_url).rstrip("/") + "/" + path.lstrip("/")
        self.response_type = response_type
        self.raw_content = "content" in inspect.signature(client.post).parameters

    async def __call__(self, body: dict[str, Any]) -> tuple[Any, Any]:
        """The parsed JSON answer and the response headers."""
        if self.raw_content:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            raw = await self.client.post(self.url, content=data, cast_to=self.response_type)
        else:  # SDKs before the ``content`` parameter
            raw = await self.client.post(self.url, body=body, cast_to=self.response_type)
        try:
            return json.loads(raw.content), raw.headers
        except ValueError:
            raise TransientError(f"malformed response from {self.url}: not JSON") from None


def status_error(status: int, message: str) -> BackendError:
    """The datagen error for an HTTP status reported inside a batch result."""
    if status == 429:
        return RateLimitError(message, status=status)
    if status >= 500 or status in RETRYABLE_STATUS:
        return TransientError(message, status=status)
    if status in {401, 403}:
        return AuthenticationError(message, status=status)
    return PermanentError(message, status=status)
