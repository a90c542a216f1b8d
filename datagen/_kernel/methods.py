"""Helpers for generation-method plugins: requests in the backend's style, tolerant completion, seeds,
seeded randomness, and the concurrent record stream a ``generate`` returns."""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from datagen._datamodel.records import Message, Record
from datagen._engine.concurrency import bounded_map
from datagen._engine.llm import Request, Response
from datagen._kernel.context import GenerationContext
from datagen.errors import DegenerateAnswer, PermanentError, RateLimitError, TransientError, UsageError

T = TypeVar("T")


def request_for(ctx: GenerationContext, text: str, *, system: str | None = None, **params: Any) -> Request:
    """A chat request (one user turn, optional system turn) or a completion request, by backend style."""
    if ctx.is_chat:
        messages = [Message("system", system)] if system else []
        messages.append(Message("user", text))
        return ctx.request(messages=messages, **params)
    return ctx.request(prompt=text, **params)


async def try_complete(
    ctx: GenerationContext, request: Request, reason: str = "request_failed", *, again: int | None = None
) -> Response | None:
    """The response, or None (counted) when the request failed for good or the answer looped until the
    token limit (``degenerate_*``) every time it was asked: a looping answer is asked for again with
    another sampling seed, ``again`` times (default ``[generate] ask_again``, 2), each counted in the
    report's ``asked_again``. Budget and auth errors propagate."""
    times = ctx.run.config.generate.ask_again if again is None else again
    if ctx.attempt_number:  # the job is being asked again as a whole (records_of): once here
        times = 0
    for attempt in range(times + 1):
        if attempt:
            request = ctx.ask_again(request, attempt)
        try:
            return await ctx.complete(request)
        except DegenerateAnswer as exc:
            ctx.reject(f"degenerate_{exc.kind}")
        except (PermanentError, TransientError, RateLimitError) as exc:
            ctx.drop(reason, error=str(exc))
            return None
    return None


def round_rng(ctx: GenerationContext, method: str, round_no: int) -> random.Random:
    """A generator seeded by the run's random seed, the method and the round: reruns repeat their prompts."""
    return random.Random(f"{ctx.run.config.generate.random_seed}:{method}:{round_no}")


def require_seeds(seeds: Sequence[Record], method: str, *, field: str = "instruction") -> None:
    """Seeds must exist and each carry ``field``."""
    if not seeds:
        raise UsageError(f"{method} needs at least one seed example")
    for i, seed in enumerate(seeds):
        value = getattr(seed, field)
        if not (isinstance(value, str) and value.strip()):
            raise UsageError(f"{method}: seed {i} ({seed.id}) has no {field}")


def with_persona_metadata(record: Record | None, persona: str | None) -> Record | None:
    """``record`` naming the ``persona`` it was made for in ``metadata.persona`` (unless it names one)."""
    if record is None or persona is None or "persona" in record.metadata:
        return record
    return record.evolve(metadata={**record.metadata, "persona": persona})


async def records_of(
    ctx: GenerationContext,
    make: Callable[[T], Awaitable[Record | None]],
    jobs: Iterable[T],
    *,
    limit: int | None = None,
    retries: int | None = None,
) -> AsyncIterator[Record]:
    """The records ``make`` returns for ``jobs``, concurrently.

    With ``[generate] personas`` the ``i``-th job is given the ``i``-th persona in turn (its requests
    and templates see it: :meth:`GenerationContext.job_persona`) and its record names it in
    ``metadata.persona``. A job ``make`` gives up on (returns None: its answer was rejected,
    degenerate, a copy of the prompt) is tried again, while the run still wants records, up to
    ``retries`` times (default ``[generate] ask_again``, 2; pass 0 when ``make`` has an attempt loop
    of its own), each attempt's requests with another sampling seed and counted in the report's
    ``asked_again``; so a method reaches its count through its own rejections.

    Jobs are drawn lazily and no more run at once than the run still needs (``ctx.window()``: the records
    still wanted, scaled by the share that survived the filters so far, at most the engine's parallelism;
    or a fixed ``limit``), so the runner stopping at ``count`` leaves the rest unsent; closing this stream
    cancels the requests still in flight at once. Return it from ``generate`` as it is: wrapping it in
    another async generator would delay that closing until garbage collection."""
    window = ctx.window if limit is None else limit
    times = ctx.run.config.generate.ask_again if retries is None else retries

    async def attempts(numbered: tuple[int, T]) -> Record | None:
        index, job = numbered
        with ctx.job_persona(index) as persona:
            record = await make(job)
            for number in range(1, times + 1):
                if record is not None or ctx.demand.still_wanted() <= 0:
                    break
                with ctx.attempt(number):
                    record = await make(job)
        return with_persona_metadata(record, persona)

    async with contextlib.aclosing(bounded_map(attempts, enumerate(jobs), window)) as results:
        async for record in results:
            if record is not None:
                yield record
