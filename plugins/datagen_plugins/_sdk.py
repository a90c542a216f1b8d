"""Shared by the OpenAI and Anthropic backends: mapping the official SDKs' errors onto datagen's."""

from __future__ import annotations

import inspect
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


async def parsed(raw: Any) -> Any:
    """The parsed body of an SDK raw response (``parse()`` is sync in some SDK versions, async in others)."""
    result = raw.parse()
    if inspect.isawaitable(result):
        result = await result
    return result
