"""The request engine every backend is driven through.

It bounds the requests in flight (fixed, or adaptive: slow start then AIMD on 429s), spaces them with
token buckets for requests/min and tokens/min (taken from rate-limit headers when the server sends them),
retries 429/5xx/timeouts with ``Retry-After`` or exponential back-off with jitter, cools the whole engine
down after a 429, never retries permanent errors, stops at once on a rejected key, answers from the
on-disk cache, sends identical concurrent requests once, accounts tokens and cost, and enforces a budget.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable

from datagen._datamodel.config import EngineConfig
from datagen._datamodel.records import Usage
from datagen._datamodel.run import RunStats
from datagen._engine.batching import BatchBackend, Batcher
from datagen._engine.cache import ResponseCache, request_key
from datagen._engine.llm import Client, RateLimits, Request, Response, backend_attribute
from datagen._engine.pricing import PriceTable
from datagen.errors import (
    AuthenticationError,
    BackendError,
    BudgetExhausted,
    ConnectionFailed,
    DatagenError,
    EndpointUnreachable,
    RateLimitError,
    TransientError,
    UsageError,
)
from datagen.log import get_logger

log = get_logger("datagen._engine.core")

ADAPTIVE_START = 64
ADAPTIVE_MAX = 1024
#: 404s before any answer that stop a run: the URL or the model is wrong, not one request
NOT_FOUND_LIMIT = 3
HEADER_HEADROOM = 0.95  # stay a little under a limit the server announced
#: requests may go out this many seconds' worth at once under a requests-per-minute limit (servers
#: enforce per-minute limits over shorter intervals, so a whole minute's burst would be refused)
REQUEST_BURST_S = 0.1
#: share of 429s among the last RECENT answers above which an unexplained 429 means overload
CONGESTION_SHARE = 0.2
RECENT = 50
#: slow start grows faster while latency stays within this factor of the lowest seen
FLAT_LATENCY = 1.5


class AdaptiveLimit:
    """A concurrency limit: fixed, or adaptive like TCP congestion control.

    Slow start grows the limit by two per answer (tripling it per round trip) while latency stays flat,
    by one (doubling) once it rises; after the first congestion signal it grows by one per full window.
    A congestion signal shrinks it by 0.7, at most once per round trip: answers to requests sent before
    the last decrease cannot cause another. A 429 the server explains (``Retry-After``, or rate-limit
    headers that show the budget spent) is a congestion signal; an unexplained 429 is one only when 429s
    are frequent in the current window (an overloaded server), not when they are occasional.
    """

    def __init__(self, fixed: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.fixed = fixed is not None
        self.limit = float(fixed if fixed is not None else ADAPTIVE_START)
        self._slow_start = not self.fixed
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.clock = clock
        self._last_decrease = float("-inf")
        self._recent: deque[bool] = deque(maxlen=RECENT)  # was each of the last answers a 429?
        self._min_latency = float("inf")
        self._latency = 0.0
        self.decreases = 0

    async def acquire(self, *, first: bool = False) -> None:
        """Wait for a free slot: first come, first served, but ahead of them all when ``first`` (a
        retry, whose request has waited longest)."""
        if self.in_flight < int(self.limit) and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if first:
            self._waiters.appendleft(waiter)
        else:
            self._waiters.append(waiter)
        try:
            await waiter  # the slot is counted for us by _wake
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.in_flight -= 1  # woken and cancelled at once: give the slot back
                self._wake()
            elif waiter in self._waiters:  # _wake may already have dropped a cancelled waiter
                self._waiters.remove(waiter)
            raise

    async def release(self) -> None:
        """Free a slot and hand it to the next waiter."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def _count(self, limited: bool) -> None:
        self._recent.append(limited)

    def on_success(self, latency: float | None = None) -> None:
        """Grow: in slow start by 2 per answer while latency is flat (else 1), then 1 per full window."""
        self._count(False)
        if self.fixed:
            return
        if latency is not None:
            self._min_latency = min(self._min_latency, latency)
            self._latency = latency if not self._latency else 0.8 * self._latency + 0.2 * latency
        if self._slow_start:
            flat = self._latency <= FLAT_LATENCY * self._min_latency
            step = 2.0 if flat else 1.0
        else:
            step = 1.0 / self.limit
        self.limit = min(ADAPTIVE_MAX, self.limit + step)
        self._wake()

    def on_rate_limited(self, sent_at: float, *, explained: bool) -> bool:
        """A 429 for a request sent at ``sent_at``; True when it shrank the limit.

        ``explained``: the server said the budget is spent (``Retry-After`` or exhausted headers).
        """
        self._count(True)
        if self.fixed or sent_at < self._last_decrease:
            return False  # at most one decrease per round trip
        share = self.limited_share()
        if not explained and (len(self._recent) < RECENT // 2 or share < CONGESTION_SHARE):
            return False  # an occasional 429 of a busy server: retry it, keep the pace
        self._slow_start = False
        self.limit = max(1.0, self.limit * 0.7)
        self._last_decrease = self.clock()
        self.decreases += 1
        return True

    def limited_share(self) -> float:
        """The share of 429s among the last answers."""
        return sum(self._recent) / len(self._recent) if self._recent else 0.0

    def start_from(self, allowed: int) -> None:
        """In slow start, begin at what the server's headers allow (capped), instead of ramping to it."""
        if not self.fixed and self._slow_start and allowed > self.limit:
            self.limit = float(min(ADAPTIVE_MAX, allowed))
            self._wake()


class TokenBucket:
    """Spaces out consumption to ``rate_per_min`` with a burst of ``burst_s`` seconds' worth.

    Takers are served one at a time in arrival order, except that a ``first`` taker (a retry) goes
    ahead of those not yet served: a retry queued behind every fresh request would finish the run late.
    """

    def __init__(self, rate_per_min: float, clock: Callable[[], float], burst_s: float = 5.0) -> None:
        self.rate_per_s = rate_per_min / 60.0
        self.burst_s = burst_s
        self.capacity = max(1.0, self.rate_per_s * burst_s)
        self.tokens = self.capacity
        self.clock = clock
        self._stamp = clock()
        self._busy = False
        self._queue: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap: (0 first / 1, order, turn)
        self._order = itertools.count()

    def set_rate(self, rate_per_min: float) -> None:
        """Change the rate (e.g. from a server's rate-limit headers)."""
        self.rate_per_s = rate_per_min / 60.0
        self.capacity = max(1.0, self.rate_per_s * self.burst_s)

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    async def take(
        self, amount: float, sleep: Callable[[float], Awaitable[None]], *, first: bool = False
    ) -> None:
        """Wait until ``amount`` can be taken (an amount above capacity waits for a full bucket)."""
        amount = min(amount, self.capacity)
        await self._turn(first)
        try:
            while True:
                self._refill()
                if self.tokens >= amount:
                    self.tokens -= amount
                    return
                await sleep((amount - self.tokens) / self.rate_per_s)
        finally:
            self._next()

    async def _turn(self, first: bool) -> None:
        if not self._busy and not self._queue:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._queue, (0 if first else 1, next(self._order), turn))
        try:
            await turn  # handed over by _next, still busy
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._next()  # handed the turn and cancelled at once: pass it on
            else:
                turn.cancel()  # _next skips it
            raise

    def _next(self) -> None:
        while self._queue:
            turn = heapq.heappop(self._queue)[2]
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False

    def give_back(self, amount: float) -> None:
        """Return tokens taken in excess (an estimate above the real use)."""
        self.tokens = min(self.capacity, self.tokens + max(0.0, amount))


def estimate_tokens(request: Request) -> int:
    """A cheap upper estimate of the tokens a request uses: ~4 characters a token, plus max_tokens."""
    chars = len(request.prompt or "") + sum(len(m.content) for m in request.messages or ())
    return chars // 4 + request.max_tokens


class Engine:
    """Sends requests to one backend with every policy above; see the module docstring."""

    def __init__(
        self,
        backend: Client,
        config: EngineConfig,
        stats: RunStats | None = None,
        *,
        backend_name: str = "",
        cache: ResponseCache | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        identity: str | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.stats = stats or RunStats()
        self.backend_name = backend_name or type(backend).__name__
        self.cache = cache
        self.prices = prices or PriceTable()
        self.sleep = sleep
        self.clock = clock
        self._rng = rng or random.Random()
        # A backend may know its own sensible concurrency (the local model: its slots); config wins.
        preferred = backend_attribute(backend, "preferred_concurrency")
        self.limit = AdaptiveLimit(config.max_concurrency or preferred, clock)
        self._rpm = (
            TokenBucket(config.requests_per_minute, clock, REQUEST_BURST_S)
            if config.requests_per_minute
            else None
        )
        # learning the pace of a server that enforces a rate without announcing it (_learn)
        self._accepted_sends: deque[float] = deque(maxlen=100_000)  # when accepted requests were sent
        self._first_sent: float | None = None
        self._reopened_at: float | None = None
        self._pending_limit: tuple[float, float] | None = None  # (when the budget ran out, Retry-After)
        self._outstanding: dict[object, float] = {}  # requests in flight -> when sent, oldest first
        self._learned_at = float("-inf")
        self._tpm = TokenBucket(config.tokens_per_minute, clock) if config.tokens_per_minute else None
        self._cooldown_until = 0.0
        self._inflight: dict[str, asyncio.Future[Response]] = {}
        # What names the server in cache keys: the configured identity, else the backend's endpoint.
        self.identity = (
            identity if identity is not None else str(backend_attribute(backend, "cache_identity"))
        )
        self._limits_seen: RateLimits | None = None
        self._fatal: DatagenError | None = None
        self._connection_failures = 0  # in a row, across all requests
        self._not_founds = 0  # 404s before any answer
        self._answered = False
        self.batcher: Batcher | None = None
        if config.batch:
            if not isinstance(backend, BatchBackend):
                raise UsageError(f"$.engine.batch: the {self.backend_name} backend has no batch API")
            self.batcher = Batcher(self, backend)

    # ------------------------------------------------------------------------------------------ public

    @property
    def parallelism(self) -> int:
        """How many requests a method should keep ready: enough to fill the limit, and room to grow."""
        if self.batcher is not None:
            return self.config.batch_size
        if self.limit.fixed:
            return 4 * int(self.limit.limit)  # spares for requests sleeping in back-off
        return ADAPTIVE_MAX

    def key(self, request: Request) -> str:
        """The cache key of ``request`` for this backend and model."""
        return request_key(self.backend_name, self.identity, self.backend.model, request)

    async def complete(self, request: Request) -> Response:
        """The answer to ``request``: from the cache, from an identical request in flight, or sent."""
        key = self.key(request)
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                self.stats.cached += 1
                return cached
        pending = self._inflight.get(key)
        if pending is not None:
            self.stats.cached += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            if self.batcher is not None:
                response = await self.batcher.complete(key, request)
            else:
                response = await self._send(request)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            future.set_result(response)
            if self.cache is not None and self.batcher is None:  # the batcher stores its own answers
                self.cache.put(key, self.backend_name, self.backend.model, response)
            return response
        finally:
            del self._inflight[key]

    async def aclose(self) -> None:
        """Close the backend (and stop batch polling left over from an interrupted run)."""
        if self.batcher is not None:
            await self.batcher.aclose()
        await self.backend.aclose()

    # ----------------------------------------------------------------------------------------- sending

    def _connection_failed(self, error: ConnectionFailed) -> None:
        """Count a failed connection; too many in a row latch the engine: nothing more is sent."""
        self._connection_failures += 1
        limit = self.config.max_connection_failures
        if limit and self._connection_failures >= limit and self._fatal is None:
            self.stats.failed += 1
            self._fatal = EndpointUnreachable(
                f"cannot reach the server: {error} ({self._connection_failures} connection failures in a "
                "row; is it running, and is the URL right?)"
            )
            raise self._fatal

    def _not_found(self, error: BackendError) -> None:
        """A server that answers 404 to the first requests of a run serves nothing at that URL (a base
        URL without its ``/v1``, a model it does not have): stop, with the hint, instead of sending every
        request to be refused the same way. A 404 after answers is one record's problem (dropped)."""
        if self._answered:
            return
        self._not_founds += 1
        if self._not_founds >= NOT_FOUND_LIMIT and self._fatal is None:
            self.stats.failed += 1
            self._fatal = EndpointUnreachable(
                f"the server answered 404 Not Found to the first {self._not_founds} requests ({error}); "
                "is the URL's path right? OpenAI-compatible servers (vLLM, llama.cpp, ollama) serve under "
                "/v1: --base-url http://HOST:PORT/v1. Or the server does not know the model: check --model"
            )
            raise self._fatal

    def _rate_limited(self, error: RateLimitError, sent_at: float) -> None:
        """React to a 429: pause everything only as long as the server asks (``Retry-After``) or until
        its announced budget resets; shrink the concurrency at most once per round trip."""
        info: RateLimits | None = error.rate_limits
        exhausted = info is not None and (info.remaining_requests == 0 or info.remaining_tokens == 0)
        if exhausted and info is not None and info.reset_requests_s:
            self._cooldown_until = max(self._cooldown_until, self.clock() + info.reset_requests_s)
        explained = error.retry_after is not None or exhausted
        if error.retry_after is not None:
            self._cooldown_until = max(self._cooldown_until, self.clock() + error.retry_after)
            self._learn_rate(error.retry_after, sent_at)
        self.limit.on_rate_limited(sent_at, explained=explained)

    def _learn_rate(self, retry_after: float, sent_at: float) -> None:
        """Note that a server without announced limits said its budget is spent (see :meth:`_learn`)."""
        if self.config.requests_per_minute is not None:
            return
        if self._limits_seen is not None and self._limits_seen.requests_per_minute:
            return
        if self._pending_limit is None and sent_at >= self._learned_at:
            self._pending_limit = (self.clock(), retry_after)

    def _ready_to_learn(self) -> bool:
        """Whether the cool-down after the budget ran out is over and every request sent before then
        has its answer (the oldest request still in flight was sent later)."""
        if self._pending_limit is None or self.clock() < sum(self._pending_limit):
            return False
        oldest = next(iter(self._outstanding.values()), None)
        return oldest is None or oldest > self._pending_limit[0]

    def _learn(self) -> None:
        """Pace at the rate the server let through: the requests it accepted from the moment its budget
        (re)opened until it ran out, over the time until it reopens again; each new exhaustion measures
        again. Only a limit that was reached teaches a pace: when 429s are frequent among the last
        answers (as when a spent budget refuses everything in flight), not an occasional 429 with a
        Retry-After from a busy server, which would teach a lower pace each time."""
        assert self._pending_limit is not None
        event, retry_after = self._pending_limit
        self._pending_limit = None
        start = self._reopened_at if self._reopened_at is not None else self._first_sent
        self._reopened_at = event + retry_after
        self._learned_at = event
        if start is None or self.limit.limited_share() < CONGESTION_SHARE:
            return
        accepted = sum(1 for sent in self._accepted_sends if start <= sent <= event)
        period = event + retry_after - start
        if accepted == 0 or period <= 0:
            return
        rate = accepted / period * 60.0 * HEADER_HEADROOM
        if self._rpm is None:
            self._rpm = TokenBucket(rate, self.clock, REQUEST_BURST_S)
        else:
            self._rpm.set_rate(rate)
        log.info(
            "pace_learned", requests_per_minute=round(rate, 1), accepted=accepted, period_s=round(period, 2)
        )

    async def _clear_to_send(self, estimate: int, *, retry: bool = False) -> None:
        """With a slot held: wait out a cool-down and the rate buckets, so that whatever changed while
        this request queued for its slot (a 429, a learned pace) applies to it too. A retry goes ahead
        of the requests not yet sent."""
        self._raise_if_fatal()  # it may have happened while this request waited for a slot
        await self._wait_cooldown()
        if self._ready_to_learn():
            self._learn()
        if self._first_sent is None:
            self._first_sent = self.clock()
        if self._rpm is not None:
            await self._rpm.take(1, self.sleep, first=retry)
        if self._tpm is not None:
            await self._tpm.take(estimate, self.sleep, first=retry)
        self._raise_if_fatal()

    def _raise_if_fatal(self) -> None:
        """After a rejected key, send nothing more."""
        if self._fatal is not None:
            raise self._fatal

    def check_budget(self) -> None:
        cfg, usage = self.config, self.stats.usage
        if cfg.max_tokens is not None and usage.total_tokens >= cfg.max_tokens:
            raise BudgetExhausted(
                f"token budget reached: {usage.total_tokens} of max_tokens={cfg.max_tokens}"
            )
        if cfg.max_cost_usd is not None:
            if usage.cost_usd is None:
                raise BudgetExhausted(
                    f"cannot enforce max_cost_usd: no price for model {self.backend.model!r} "
                    f'(add it under [prices."{self.backend.model}"])'
                )
            if usage.cost_usd >= cfg.max_cost_usd:
                raise BudgetExhausted(
                    f"cost budget reached: ${usage.cost_usd:.4f} of max_cost_usd={cfg.max_cost_usd}"
                )

    def backoff(self, attempt: int, error: BackendError) -> float:
        """Seconds before retry ``attempt``: the server's Retry-After, else exponential with jitter."""
        if error.retry_after is not None:
            return max(0.0, error.retry_after)
        delay: float = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0 ** (attempt - 1))
        return delay * self._rng.uniform(0.5, 1.5)

    async def _wait_cooldown(self) -> None:
        while (wait := self._cooldown_until - self.clock()) > 0:
            await self.sleep(wait)

    def _adopt_rate_limits(self) -> None:
        """Follow the limits a server announces in its headers, unless the config set them."""
        info: RateLimits | None = backend_attribute(self.backend, "rate_limits")
        if info is None or info == self._limits_seen:
            return
        self._limits_seen = info
        if info.requests_per_minute and self.config.requests_per_minute is None:
            rate = info.requests_per_minute * HEADER_HEADROOM
            if self._rpm is None:
                self._rpm = TokenBucket(rate, self.clock, REQUEST_BURST_S)
            else:
                self._rpm.set_rate(rate)
        if info.tokens_per_minute and self.config.tokens_per_minute is None:
            rate = info.tokens_per_minute * HEADER_HEADROOM
            if self._tpm is None:
                self._tpm = TokenBucket(rate, self.clock)
            else:
                self._tpm.set_rate(rate)
        if info.remaining_requests == 0 and info.reset_requests_s:
            self._cooldown_until = max(self._cooldown_until, self.clock() + info.reset_requests_s)
        elif info.remaining_requests:
            self.limit.start_from(int(info.remaining_requests))

    def account(self, response: Response, *, discount: float = 1.0) -> Response:
        """Count a fresh response: requests, tokens, cost (priced from the table if the backend did not)."""
        usage = response.usage
        if usage.cost_usd is None:
            cost = self.prices.cost(response.model or self.backend.model, usage)
            if cost is not None:
                cost *= discount
                usage = Usage(usage.prompt_tokens, usage.completion_tokens, cost)
                response = Response(response.text, response.finish_reason, usage, response.model)
        self.stats.requests += 1
        self.stats.usage = self.stats.usage + usage
        self.stats.finish_reasons[response.finish_reason] += 1
        return response

    async def _on_the_wire(self, request: Request) -> Response:
        """One attempt at the backend, counted as sent, and as abandoned if cancelled unanswered."""
        self.stats.sent += 1
        try:
            async with asyncio.timeout(self.config.timeout_s):  # no extra task, unlike wait_for
                return await self.backend.complete(request)
        except asyncio.CancelledError:
            self.stats.abandoned += 1
            raise

    def _succeeded(self, response: Response, sent_at: float, estimate: int) -> Response:
        """Learn from an answer (latency, rate-limit headers, tokens used) and account for it."""
        self._connection_failures = 0
        self._answered = True
        self._accepted_sends.append(sent_at)
        self.limit.on_success(self.clock() - sent_at)
        self._adopt_rate_limits()
        if self._tpm is not None:
            self._tpm.give_back(estimate - response.usage.total_tokens)
        return self.account(response)

    async def _send(self, request: Request) -> Response:
        attempt = 0
        estimate = estimate_tokens(request)
        while True:
            self._raise_if_fatal()
            self.check_budget()
            await self.limit.acquire(first=attempt > 0)
            try:
                await self._clear_to_send(estimate, retry=attempt > 0)
            except BaseException:
                await self.limit.release()
                raise
            sent_at = self.clock()
            self._outstanding[ticket := object()] = sent_at
            try:
                response = await self._on_the_wire(request)
            except AuthenticationError as exc:
                self._fatal = exc
                raise
            except TimeoutError:
                error: BackendError = TransientError(f"no answer within {self.config.timeout_s} s")
            except ConnectionFailed as exc:
                error = exc
                self._connection_failed(exc)
            except BackendError as exc:
                error = exc
                if exc.status == 404:
                    self._not_found(exc)
            else:
                return self._succeeded(response, sent_at, estimate)
            finally:
                del self._outstanding[ticket]
                await self.limit.release()
            self._raise_if_fatal()  # answers to requests already in flight share the run's fate
            attempt += 1
            if not error.retryable or attempt > self.config.max_retries:
                self.stats.failed += 1
                raise error
            self.stats.retries += 1
            delay = self.backoff(attempt, error)
            if isinstance(error, RateLimitError):
                self._rate_limited(error, sent_at)
            log.debug(
                "retry", attempt=attempt, delay_s=round(delay, 3), error=str(error), status=error.status
            )
            await self.sleep(delay)
