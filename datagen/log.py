"""structlog setup: human-readable on a TTY, JSON on request, secrets always redacted.

datagen does not call ``structlog.configure``: its loggers are wrapped with datagen's own processors,
so an application that configures structlog for itself keeps its settings.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import IO, Any

#: a key that names a secret: one ending in api_key, token, secret, password, authorization or credentials
#: (``access_token``, ``OPENAI_API_KEY``), not one that merely contains such a word (``max_tokens_param``)
SECRET_KEY_RE = re.compile(
    r"(?:^|[_\-.])(?:api[_\-]?key|apikey|token|secret|password|passwd|authorization|credentials?)$",
    re.IGNORECASE,
)
SECRET_VALUE_RE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}|(?i:x-api-key)[\"':\s=]+[A-Za-z0-9._\-]{8,})"
)
REDACTED = "****"


class _Settings:
    level: int = logging.WARNING
    json: bool = False
    stream: IO[str] | None = None
    generation: int = 0
    secrets: set[str] = set()  # noqa: RUF012 - deliberately shared


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears in a log line from now on."""
    if value and len(value) >= 4:
        _Settings.secrets.add(value)


def redact_text(text: str) -> str:
    """``text`` with every registered secret and anything shaped like an API key replaced by ``****``."""
    for secret in _Settings.secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return SECRET_VALUE_RE.sub(REDACTED, text)


def _redact(value: Any, key: str | None = None) -> Any:
    if key is not None and SECRET_KEY_RE.search(key) and isinstance(value, str) and value:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and secret-shaped values anywhere in the event."""
    return {k: _redact(v, k) for k, v in event_dict.items()}


class _Sink:
    """A structlog logger that writes to the configured stream (stderr by default) at call time."""

    def msg(self, message: str) -> None:
        stream = _Settings.stream or sys.stderr
        print(message, file=stream, flush=True)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


def _processors() -> list[Any]:
    import structlog  # imported on the first line logged: the CLI starts without it

    renderer: Any
    if _Settings.json:
        renderer = structlog.processors.JSONRenderer()
    else:
        stream = _Settings.stream or sys.stderr
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
        renderer,
    ]


class Logger:
    """A named datagen logger; picks up :func:`configure_logging` changes made after its creation."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._generation = -1
        self._bound: Any = None

    def _get(self) -> Any:
        if self._generation != _Settings.generation:
            import structlog

            self._bound = structlog.wrap_logger(
                _Sink(),
                processors=_processors(),
                wrapper_class=structlog.make_filtering_bound_logger(_Settings.level),
                cache_logger_on_first_use=False,
            ).bind(logger=self._name)
            self._generation = _Settings.generation
        return self._bound

    def debug(self, event: str, **kw: Any) -> None:
        """Log at debug level."""
        if _Settings.level <= logging.DEBUG:
            self._get().debug(event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        """Log at info level."""
        if _Settings.level <= logging.INFO:
            self._get().info(event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        """Log at warning level."""
        if _Settings.level <= logging.WARNING:
            self._get().warning(event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        """Log at error level."""
        self._get().error(event, **kw)


def get_logger(name: str) -> Logger:
    """The datagen logger called ``name``."""
    return Logger(name)


def configure_logging(
    level: str | int = "warning", *, json: bool = False, stream: IO[str] | None = None
) -> None:
    """Set the level, the format (console or JSON lines) and the stream of every datagen logger."""
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ValueError(f"unknown log level {level!r}")
        level = resolved
    _Settings.level, _Settings.json, _Settings.stream = level, json, stream
    _Settings.generation += 1
