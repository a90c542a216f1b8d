"""What a generation method sends to a backend and what comes back."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from datagen.__about__ import __version__
from datagen._datamodel.records import Message, Usage
from datagen.errors import (
    AuthenticationError,
    BackendError,
    PermanentError,
    RateLimitError,
    TransientError,
)

#: finish reasons every backend maps its own onto
FINISH_REASONS = ("stop", "length", "content_filter", "tool_use", "error")


@attrs.frozen
class Request:
    """One LLM request: chat ``messages`` or a completion ``prompt``, with sampling parameters."""

    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: Mapping[str, Any] | None = None
    _digest: str | None = attrs.field(default=None, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request needs exactly one of messages or prompt")

    @property
    def is_chat(self) -> bool:
        """Whether this is a chat request (else a completion)."""
        return self.messages is not None

    def payload(self) -> dict[str, Any]:
        """Everything that determines the answer, as plain JSON-ready data."""
        return {
            "messages": None
            if self.messages is None
            else [{"role": m.role, "content": m.content} for m in self.messages],
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
            "json_schema": None if self.json_schema is None else dict(self.json_schema),
        }

    def digest(self) -> str:
        """A hex SHA-256 of :meth:`payload`, stable across runs and processes (computed once)."""
        if self._digest is None:
            blob = json.dumps(self.payload(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            object.__setattr__(self, "_digest", hashlib.sha256(blob.encode()).hexdigest())
        assert self._digest is not None
        return self._digest


@attrs.frozen
class Response:
    """A backend's answer: text, why it stopped, what it cost, which model gave it."""

    text: str
    finish_reason: str = "stop"
    usage: Usage = attrs.field(factory=Usage)
    model: str | None = None

    @property
    def complete(self) -> bool:
        """True when the model stopped by itself (not truncated, not filtered)."""
        return self.finish_reason in {"stop", "tool_use"}


@attrs.frozen
class RateLimits:
    """What a server's rate-limit headers said; any field may be unknown."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    remaining_requests: float | None = None
    remaining_tokens: float | None = None
    reset_requests_s: float | None = None


_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$"
)


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h2m"``, a bare number, or an RFC 3339 instant."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    match = _DURATION.match(text)
    if match and any(match.groups()):
        h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
        return h * 3600 + m * 60 + s + ms / 1000
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lower:
        try:
            return max(0.0, float(lower["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    return parse_duration(lower.get("retry-after"))


#: statuses retried besides 429 and 5xx: request timeout, conflict, too early
RETRYABLE_STATUS = frozenset({408, 409, 425})


def error_for_status(
    status: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    rate_limits: RateLimits | None = None,
) -> BackendError:
    """The datagen error for an HTTP status (of an answer, of an SDK's exception, inside a batch
    result): 429 is retried after ``Retry-After`` (``rate_limits``: what the headers announced), 5xx
    and 408/409/425 are retried, 401/403 stop the run, anything else is the record's own failure.
    ``message`` must be redacted already."""
    retry_after = parse_retry_after(headers) if headers else None
    if status == 429:
        return RateLimitError(message, status=status, retry_after=retry_after, rate_limits=rate_limits)
    if status >= 500 or status in RETRYABLE_STATUS:
        return TransientError(message, status=status, retry_after=retry_after)
    if status in {401, 403}:
        return AuthenticationError(message, status=status)
    return PermanentError(message, status=status)


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@attrs.frozen
class RateLimitHeaders:
    """How a server names its rate-limit headers: ``prefix`` then ``limit``, ``remaining`` and ``reset``
    patterns, each with ``{}`` standing for ``requests`` or ``tokens`` (``x-ratelimit-`` with
    ``limit-{}``: ``x-ratelimit-limit-requests``). Backends declare theirs."""

    prefix: str
    limit: str
    remaining: str
    reset: str


def parse_rate_limits(
    headers: Mapping[str, str], schemes: Sequence[RateLimitHeaders] = ()
) -> RateLimits | None:
    """Per-minute limits from the first of ``schemes`` the headers use (None when none does)."""
    # HTTP header objects (httpx, aiohttp) are case-insensitive already; a plain dict is lower-cased once.
    h: Mapping[str, str] = (
        headers
        if hasattr(headers, "getall") or hasattr(headers, "multi_items")
        else {k.lower(): v for k, v in headers.items()}
    )
    for scheme in schemes:
        prefix, lim, rem, reset = scheme.prefix, scheme.limit, scheme.remaining, scheme.reset
        rpm = _number(h.get(prefix + lim.format("requests")))
        tpm = _number(h.get(prefix + lim.format("tokens")))
        if rpm is None and tpm is None:
            continue
        return RateLimits(
            requests_per_minute=rpm,
            tokens_per_minute=tpm,
            remaining_requests=_number(h.get(prefix + rem.format("requests"))),
            remaining_tokens=_number(h.get(prefix + rem.format("tokens"))),
            reset_requests_s=parse_duration(h.get(prefix + reset.format("requests"))),
        )
    return None


USER_AGENT = f"datagen/{__version__}"
"""The ``User-Agent`` of datagen's own HTTP requests."""


def check_api_key(key: str | None, *, env_var: str, config_key: str, prefix: str | None) -> str:
    """A usable API key, or a :class:`UsageError` that never shows the key itself.

    ``prefix`` is the shape the provider's own keys have (checked only against the provider's API).
    """
    from datagen.errors import UsageError

    if not key:
        raise UsageError(f"no API key: set {env_var} or {config_key}")
    if key != key.strip() or any(c.isspace() for c in key) or not key.isascii() or not key.isprintable():
        raise UsageError(
            f"the API key from {env_var} / {config_key} is malformed (whitespace or odd characters)"
        )
    if prefix is not None and not key.startswith(prefix):
        raise UsageError(
            f"the API key from {env_var} / {config_key} is malformed: it should start with {prefix!r}"
        )
    return key


#: what the engine does when the request it is sending goes out on an open connection (set around each
#: attempt it hands a backend; None outside one)
_ON_THE_WIRE: ContextVar[Callable[[], None] | None] = ContextVar("datagen_on_the_wire", default=None)


def on_the_wire() -> None:
    """Say that the request being sent has gone out: its connection is open and its headers are
    written. A backend calls this from its HTTP client's hook (aiohttp's ``on_request_headers_sent``,
    httpx's ``trace``); the engine then times the request from here, not from before a connection was
    opened for it. Opening one can take longer than the server takes to refuse a request, and a
    refusal at the door then looked like one after the work (docs/backends.md, "The engine").
    Outside a request the engine sent, nothing happens."""
    mark = _ON_THE_WIRE.get()
    if mark is not None:
        mark()


@runtime_checkable
class Client(Protocol):
    """What the engine needs of an LLM client (a backend plugin is one): a model, whether it takes chat
    messages or completion prompts, ``complete`` and ``aclose``. Optional attributes are read with
    :func:`backend_attribute`."""

    model: str
    is_chat: bool

    async def complete(self, request: Request) -> Response:
        """Send one request; raise :class:`datagen.errors.BackendError` subclasses on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections and processes."""


#: Optional attributes of a client that the engine reads, with the value it assumes when one is missing.
BACKEND_DEFAULTS: dict[str, Any] = {
    "rate_limits": None,
    "preferred_concurrency": None,
    "cache_identity": "",
    #: how the server counts a request's tokens against a token limit: ``reserved``, what it may use
    #: (its prompt and ``max_tokens``) when it arrives, as OpenAI documents (the safe default: no
    #: server counts more), or ``used``, what it used once answered (the engine gives back the rest
    #: of its estimate)
    "token_charge": "reserved",
}


def backend_attribute(backend: Any, name: str) -> Any:
    """An optional client attribute, or its documented default from :data:`BACKEND_DEFAULTS`."""
    return getattr(backend, name, BACKEND_DEFAULTS[name])
