"""``moderation``: OpenAI's moderation endpoint (``POST /v1/moderations``) through the ``openai``
backend's client, so its key, base URL and transport apply (``[backend.openai]``, ``OPENAI_API_KEY``).

Texts go ``batch_size`` to a request. A record is dropped (``moderation_flagged``, with the categories)
when the endpoint flags one of its fields, or, with ``threshold`` set, when a category's score reaches
it; ``categories`` narrows either test to the named categories (e.g. ``["violence", "self-harm"]``).
Without a key the run stops before any work with an error naming ``OPENAI_API_KEY``. Rate limits,
server errors and dropped connections are retried ``max_retries`` times with exponential back-off.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    BackendError,
    Record,
    RegisterFilter,
    RunContext,
    UsageError,
    bounded,
    hookimpl,
)
from datagen_plugins.filters._text import FIELDS, check_fields, field_text


@attrs.define
class ModerationConfig:
    """Options of ``[filter.moderation]``."""

    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))
    model: str = "omni-moderation-latest"
    categories: list[str] = attrs.field(factory=list)
    threshold: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(bounded(0, high=1))
    )
    batch_size: int = attrs.field(default=32, validator=bounded(1, high=256))
    backend: str = "openai"
    max_retries: int = attrs.field(default=5, validator=bounded(0))


class Moderation:
    """Drops what the moderation endpoint flags."""

    name: ClassVar[str] = "moderation"
    Config: ClassVar[type[Any]] = ModerationConfig

    def __init__(self, config: ModerationConfig) -> None:
        check_fields(config.fields, "$.filter.moderation.fields")
        self.config = config
        self.flagged: Counter[str] = Counter()
        self.requests = 0

    def start(self, ctx: RunContext) -> Any:
        """The backend's OpenAI client; its key and options are checked here, before any work."""
        backend = ctx.llm(self.config.backend).backend
        client = getattr(backend, "client", None)
        if not callable(client):
            raise UsageError(
                f"$.filter.moderation.backend: {self.config.backend!r} has no OpenAI client; use 'openai'"
            )
        return client

    async def _moderate(self, client: Any, texts: list[str]) -> list[Any]:
        import openai

        retryable = (
            openai.RateLimitError,
            openai.InternalServerError,
            openai.APIConnectionError,
            openai.APITimeoutError,
        )
        for attempt in range(self.config.max_retries + 1):
            try:
                self.requests += 1
                response = await client.moderations.create(model=self.config.model, input=texts)
                results = list(response.results)
                if len(results) != len(texts):
                    raise BackendError(f"moderation: {len(results)} results for {len(texts)} texts")
                return results
            except retryable as exc:
                if attempt == self.config.max_retries:
                    raise BackendError(
                        f"moderation: {type(exc).__name__} after {attempt + 1} attempts"
                    ) from exc
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            except openai.OpenAIError as exc:
                raise BackendError(f"moderation: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")

    def _verdict(self, result: Any) -> list[str]:
        """The categories this result flags, as configured."""
        scores: dict[str, float] = dict(result.category_scores.model_dump(by_alias=True))
        flags: dict[str, bool] = dict(result.categories.model_dump(by_alias=True))
        wanted = self.config.categories or list(scores)
        if self.config.threshold is not None:
            return [c for c in wanted if (scores.get(c) or 0.0) >= self.config.threshold]
        return [c for c in wanted if flags.get(c)]

    async def _batch(self, ctx: RunContext, client: Any, batch: list[Record]) -> list[Record]:
        texts: list[str] = []
        owners: list[int] = []
        for i, record in enumerate(batch):
            for field in self.config.fields:
                text = field_text(record, field)
                if text.strip():
                    texts.append(text)
                    owners.append(i)
        flagged: dict[int, set[str]] = {}
        for start in range(0, len(texts), self.config.batch_size):
            results = await self._moderate(client, texts[start : start + self.config.batch_size])
            for owner, result in zip(owners[start : start + len(results)], results, strict=True):
                categories = self._verdict(result)
                if categories:
                    flagged.setdefault(owner, set()).update(categories)
        kept = []
        for i, record in enumerate(batch):
            if i in flagged:
                self.flagged.update(flagged[i])
                ctx.remove(record, "moderation_flagged", categories=sorted(flagged[i]))
            else:
                kept.append(record)
        return kept

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Records the endpoint does not flag, in order."""
        client = self.start(ctx)()
        batch: list[Record] = []
        async for record in records:
            batch.append(record)
            if len(batch) >= self.config.batch_size:
                for kept in await self._batch(ctx, client, batch):
                    yield kept
                batch = []
        for kept in await self._batch(ctx, client, batch):
            yield kept

    def report(self) -> dict[str, Any]:
        """Requests sent and how often each category was flagged."""
        return {"requests": self.requests, "categories": dict(self.flagged.most_common())}


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the moderation filter."""
    register(Moderation)
