"""Batch mode: send cache misses through a provider's batch API (OpenAI Batch, Anthropic Message Batches).

With ``[engine] batch = true`` the engine gathers the requests a method makes into batches (flushed when
``batch_size`` is reached or after ``batch_window_s`` without a new request, so every method works as is),
submits them, polls every ``batch_poll_s``, collects the answers into the same response cache, and
resubmits items that failed transiently or expired. Submitted batch ids are recorded in the cache, so a
rerun after a crash collects a batch already paid for instead of submitting it again. Batch APIs bill half
the normal price; cost accounting applies that discount.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from datagen._engine.llm import Request, Response
from datagen.errors import BackendError, BudgetExhausted, TransientError
from datagen.log import get_logger

if TYPE_CHECKING:
    from datagen._engine.core import Engine

log = get_logger("datagen._engine.batching")
BATCH_DISCOUNT = 0.5

BatchResults = dict[str, Response | BackendError]


@attrs.frozen
class BatchStatus:
    """Where a submitted batch stands."""

    done: bool
    state: str
    counts: Mapping[str, int] = attrs.field(factory=dict)


@runtime_checkable
class BatchBackend(Protocol):
    """What a backend implements to support batch mode."""

    async def submit_batch(self, items: Sequence[tuple[str, Request]]) -> str:
        """Submit ``(custom_id, request)`` pairs; return the provider's batch id."""
        ...

    async def poll_batch(self, batch_id: str) -> BatchStatus:
        """The batch's status."""
        ...

    async def collect_batch(self, batch_id: str, requests: Mapping[str, Request]) -> BatchResults:
        """Answers (or errors) by custom id; ids missing from the result were not processed (expired)."""
        ...


class Batcher:
    """Gathers an engine's cache misses into provider batches; see the module docstring."""

    def __init__(self, engine: Engine, backend: BatchBackend) -> None:
        self.engine = engine
        self.backend = backend
        self.config = engine.config
        self._queue: dict[str, tuple[Request, asyncio.Future[Response]]] = {}
        self._last_add = 0.0
        self._timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._resumed: dict[str, asyncio.Event] = {}
        self._started = False
        self.batches_submitted = 0

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start(self) -> None:
        """Pick up batches an earlier (crashed) run submitted and never collected."""
        self._started = True
        cache = self.engine.cache
        if cache is None:
            return
        for batch_id, requests in cache.open_batches(
            self.engine.backend_name, self.engine.identity, self.engine.backend.model
        ).items():
            done = asyncio.Event()
            for key in requests:
                self._resumed[key] = done
            log.info("batch_resumed", batch_id=batch_id, items=len(requests))
            self._spawn(self._finish_resumed(batch_id, requests, done))

    async def complete(self, key: str, request: Request) -> Response:
        """The answer to ``request``, through a batch."""
        if not self._started:
            self._start()
        resumed = self._resumed.get(key)
        if resumed is not None:
            await resumed.wait()
            cached = self.engine.cache.get(key) if self.engine.cache is not None else None
            if cached is not None:
                self.engine.stats.cached += 1
                return cached
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._queue[key] = (request, future)
        self._last_add = self.engine.clock()
        if len(self._queue) >= self.config.batch_size:
            self._flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.ensure_future(self._flush_when_quiet())
        return await future

    async def _flush_when_quiet(self) -> None:
        window = self.config.batch_window_s
        while self._queue:
            wait = self._last_add + window - self.engine.clock()
            if wait <= 0:
                self._flush()
                return
            await self.engine.sleep(wait)

    def _flush(self) -> None:
        items, self._queue = self._queue, {}
        if items:
            self._spawn(self._run(items, attempt=0))

    async def _wait_and_collect(self, batch_id: str, requests: Mapping[str, Request]) -> BatchResults:
        while True:
            status = await self.backend.poll_batch(batch_id)
            if status.done:
                break
            await self.engine.sleep(self.config.batch_poll_s)
        return await self.backend.collect_batch(batch_id, requests)

    async def _submit(self, items: dict[str, tuple[Request, asyncio.Future[Response]]]) -> str:
        attempt = 0
        while True:
            try:
                return await self.backend.submit_batch([(k, req) for k, (req, _) in items.items()])
            except BackendError as exc:
                attempt += 1
                if not exc.retryable or attempt > self.config.max_retries:
                    raise
                self.engine.stats.retries += 1
                await self.engine.sleep(self.engine.backoff(attempt, exc))

    async def _run(self, items: dict[str, tuple[Request, asyncio.Future[Response]]], attempt: int) -> None:
        try:
            self.engine.check_budget()
            batch_id = await self._submit(items)
        except (BackendError, BudgetExhausted) as exc:
            for _, future in items.values():
                if not future.done():
                    future.set_exception(exc)
            return
        self.batches_submitted += 1
        cache = self.engine.cache
        if cache is not None:
            cache.record_batch(
                batch_id,
                self.engine.backend_name,
                self.engine.identity,
                self.engine.backend.model,
                {k: req for k, (req, _) in items.items()},
            )
        log.info("batch_submitted", batch_id=batch_id, items=len(items), attempt=attempt)
        try:
            results = await self._wait_and_collect(batch_id, {k: req for k, (req, _) in items.items()})
        except BackendError as exc:
            for _, future in items.values():
                if not future.done():
                    future.set_exception(exc)
            return
        retry: dict[str, tuple[Request, asyncio.Future[Response]]] = {}
        for key, (request, future) in items.items():
            result = results.get(key)
            if isinstance(result, Response):
                response = self.engine.account(result, discount=BATCH_DISCOUNT)
                if cache is not None:
                    cache.put(key, self.engine.backend_name, self.engine.backend.model, response)
                future.set_result(response)
            elif result is None or result.retryable:
                retry[key] = (request, future)
            else:
                self.engine.stats.failed += 1
                future.set_exception(result)
        if cache is not None:
            cache.close_batch(batch_id)
        if not retry:
            return
        if attempt >= self.config.max_retries:
            for _, future in retry.values():
                self.engine.stats.failed += 1
                future.set_exception(TransientError(f"not answered after {attempt + 1} batch submissions"))
            return
        self.engine.stats.retries += len(retry)
        log.info("batch_resubmit", batch_id=batch_id, items=len(retry))
        await self._run(retry, attempt + 1)

    async def _finish_resumed(self, batch_id: str, requests: dict[str, Request], done: asyncio.Event) -> None:
        try:
            results = await self._wait_and_collect(batch_id, requests)
            cache = self.engine.cache
            for key, result in results.items():
                if isinstance(result, Response) and cache is not None:
                    cache.put(
                        key,
                        self.engine.backend_name,
                        self.engine.backend.model,
                        self.engine.account(result, discount=BATCH_DISCOUNT),
                    )
            if cache is not None:
                cache.close_batch(batch_id)
        except BackendError as exc:
            log.warning("batch_resume_failed", batch_id=batch_id, error=str(exc))
        finally:
            done.set()  # whatever was not collected is submitted afresh

    async def aclose(self) -> None:
        """Cancel background work (only left over when a run is interrupted)."""
        for task in [*self._tasks, *([self._timer] if self._timer else [])]:
            task.cancel()
