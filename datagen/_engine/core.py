"""The request engine every backend is driven through.

It bounds the requests in flight (fixed for a local model's slots; else adaptive under a ceiling: slow
start, a concurrency cap learned from 429s, a queue's knee learned from latency, AIMD on overload), spaces
them with token buckets for requests/min and tokens/min (taken from rate-limit headers when the server
sends them, or learned from a spent budget), retries 429/5xx/timeouts with ``Retry-After`` or exponential
back-off with jitter, cools the whole engine down after a 429 that is no cap, never retries permanent
errors, stops at once on a rejected key, answers from the on-disk cache, sends identical concurrent
requests once, accounts tokens and cost, and enforces a budget.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import math
import random
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import attrs

from datagen._datamodel.config import EngineConfig
from datagen._datamodel.records import Usage
from datagen._datamodel.run import RunStats
from datagen._engine.batching import BatchBackend, Batcher
from datagen._engine.cache import ResponseCache, request_key
from datagen._engine.llm import (
    _ON_THE_WIRE,
    Client,
    RateLimits,
    Request,
    Response,
    backend_attribute,
)
from datagen._engine.pace import CONGESTION_SHARE, HEADER_HEADROOM, PaceReporter, SendLog
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
from datagen.services import provided

log = get_logger("datagen._engine.core")

ADAPTIVE_START = 8  # the first window (as TCP's initial window); slow start doubles it per round trip
ADAPTIVE_MAX = 1024
#: 404s before any answer that stop a run: the URL or the model is wrong, not one request
NOT_FOUND_LIMIT = 3
#: requests may go out this many seconds' worth at once under a requests-per-minute limit (servers
#: enforce per-minute limits over shorter intervals, so a whole minute's burst would be refused)
REQUEST_BURST_S = 0.1
#: seconds' worth of tokens a ``tokens_per_minute`` lets through at once (a request that needs more
#: waits for a full bucket and leaves it owing the rest), when the answers give back what they did not
#: use: the bucket holds the estimates of the requests in flight, and a short one would hold few. When
#: the server counts what a request may use, nothing comes back, and the burst is as short as the
#: requests' (REQUEST_BURST_S): 5 s of tokens went over a limit counted over 10 s in its first window
TOKEN_BURST_S = 5.0
RECENT = 50  # answers among which a share of 429s above CONGESTION_SHARE means overload
#: latency is the mean over the last window of answers, at least LATENCY_WINDOW and at most
#: LATENCY_MAX of them (LLM answers vary in length: one is no signal)
LATENCY_WINDOW = 16
#: ... and enough of them for their mean to be within this share of the true one (one standard error,
#: from how much consecutive latencies among the last LATENCY_MAX differ): answers of very different
#: lengths need more
LATENCY_PRECISION = 0.05
#: answers that vary as LLM answers do (lognormal, sigma 0.5 to 1) need 100 to 700; over at most 64,
#: the lowest mean (the unloaded latency) fell far below the true one and noise confirmed queues at a
#: server that has none (100,000 requests: 7 and 9 of 20 runs capped, some at 41 in flight)
LATENCY_MAX = 256
#: a shrink's effect is judged over at most this many round trips' worth of answers
CHECK_ROUNDS = 8
#: the queue signal's unloaded latency is raised by this many of its standard errors when it was
#: measured over fewer answers than a precise mean needs
BASE_ERRORS = 2.0
MIN_LATENCY = 1e-6  # (a test's virtual clock answers in no time)
#: the first window queued (a server with fewer slots than it) when the answers sent at its upper
#: half of depths took longer than those sent at the lower half by QUEUE_SHRINK times and by this
#: many standard errors of the difference: a server that does not queue answers them alike
FIRST_WINDOW_ERRORS = 3.0
#: a 429 that comes back within this share of the unloaded latency was refused at the door, before
#: any work: what a concurrency cap (or a spent budget) does, not an overloaded worker
AT_THE_DOOR = 0.5
#: the queue signal: above QUEUE_SHRINK times the unloaded latency the server is queueing, and the
#: limit goes back to QUEUE_TARGET times its capacity; once a queue was confirmed, growth stops above
#: QUEUE_HOLD times (Vegas's band)
QUEUE_SHRINK = 1.5
QUEUE_TARGET = 1.25
QUEUE_HOLD = 1.2
#: slow start grows by this much per answer instead of one while latency is above QUEUE_HOLD
SLOW_START_CAREFUL = 0.25
#: a suspected queue is tested by shrinking to at most this share of the limit: a queueing server
#: still delivers QUEUE_HELD of what it did, one that does not delivers this share
QUEUE_PROBE = 0.7
QUEUE_HELD = 0.8
#: ... or its mean latency falls to this share of what it was (a queue drains with the load)
QUEUE_EASED = 0.8
#: a probe above a queue's knee is refused when latency rose by this share of what one more request
#: queued behind the others adds
QUEUE_PROBE_RISE = 0.5
#: a queue's knee (throughput times the unloaded latency) is rounded down after adding this much: a
#: knee measured a little under a whole request (the answers' own overhead) is that request
KNEE_SLACK = 0.25
#: a learned concurrency cap is probed with one more request after this many windows of answers at
#: it; each probe the server refuses doubles the wait, up to PROBE_MAX windows
PROBE_AFTER = 32
PROBE_MAX = 512
#: ... but after this many while a rate limit paces the engine: a 429 at the edge of that rate comes
#: at the door like a cap's, and the cap taken from it (the few in flight at the pace) held a run at
#: 0.77 of a limit its user had set right; a probe above a real cap costs a 429 or two
PROBE_PACED = 2
#: ... or, unpaced, after this many seconds at a 429 cap (times the windows' back-off over
#: PROBE_AFTER): at a cap of 1, 32 windows are 512 answers, 51 s at 0.1 s an answer, while the other
#: client whose slots set the cap may be long gone; each probe that holds doubles the next one's step
PROBE_AFTER_S = 5.0


class Verdict(enum.Enum):
    """What a 429 told the limit."""

    IGNORED = "ignored"  #: an occasional 429, or one sent before the last reaction (same round trip)
    CAP = "cap"  #: more in flight than the server serves at once: the limit now stays under its cap
    BUDGET = "budget"  #: refused within the cap before anything within it was served: a spent budget
    CONGESTION = "congestion"  #: frequent 429s that are no cap: the limit shrank by 0.7


@attrs.define(slots=True, eq=False)
class Flight:
    """One request on the wire, as the limit saw it leave."""

    sent_at: float
    depth: int  #: requests in flight, this one included, when it was sent
    #: when it went out on an open connection, as its backend said (:func:`on_the_wire`); when it was
    #: sent until then, or with a backend that does not say. Latency is timed from here
    wire_at: float = attrs.field(default=attrs.Factory(lambda self: self.sent_at, takes_self=True))
    wired: bool = False  #: its backend said it went out


class AdaptiveLimit:
    """A concurrency limit: fixed, or adaptive on three signals (docs/backends.md, "The engine").

    *Growth*: slow start from :data:`ADAPTIVE_START` (+1 per answer: doubling per round trip; +1/4
    while mean latency is above 1.2x the unloaded latency, as HyStart++), then +1 per full window, up
    to ``most``. *Cap*: a 429 refused at the door (well within the unloaded latency) while others
    were on the wire means the server serves no more than those at once: the limit drops to the
    lowest such count and stays there, probing one more now and then; nothing pauses (the refused
    request goes again when a slot frees). A cap that more answers at once than it allows show wrong
    is dropped. A 429 within the cap before anything sent within it was served is a spent budget: the
    engine pauses and learns a pace. Frequent 429s that are neither shrink the limit by 0.7, at most
    once per round trip. *Latency* (adaptive default only; Vegas beside Reno): a mean latency above
    1.5x the unloaded one suggests a queue; the limit shrinks (to 1.25x the server's throughput times
    the unloaded latency, Little's law, at most 0.7x), and the throughput of the answers sent after
    the shrink (and their waits) decide: held (or waits fell), the server queues, and the limit keeps
    shrinking until a step does neither, whose latency is the unloaded one; the knee (highest
    throughput times it) becomes a cap. Neither at once: the server only got slower, so the unloaded
    latency is re-measured and the limit restored. A 429 wins: latency decides nothing about requests
    sent before the last reaction to one. The first window is judged before it grows: latency that
    climbs with the depth its requests were sent at is a server with fewer slots (see
    :meth:`_judge_first_window`).
    """

    def __init__(
        self,
        fixed: int | None,
        clock: Callable[[], float] = time.monotonic,
        *,
        most: int | None = None,
        latency_signal: bool = True,
    ) -> None:
        self.fixed = fixed is not None
        self.most = float(fixed if fixed is not None else (most or ADAPTIVE_MAX))
        self.limit = self.most if self.fixed else min(float(ADAPTIVE_START), self.most)
        self.latency_signal = latency_signal and not self.fixed
        self._slow_start = not self.fixed
        # (depth, latency) of the answers to the first window until it is judged (then None), the
        # 429s among its requests, and when its first request left
        self._first_window: list[tuple[int, float]] | None = [] if self.latency_signal else None
        self._first_refused = 0
        #: requests the server served at once without queueing them: the first window's, once judged
        #: so (a slow start's cut never goes below it; 0: not known)
        self._served_at_once = 0
        self.first_sent = float("inf")  # when the first request left (inf: none yet)
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._hold = False  # after a cap's first 429, nothing is sent until an answer frees a slot
        self.clock = clock
        self.flights: dict[Flight, None] = {}  # sent, oldest first
        #: the backend says when a request goes out on an open connection (see :meth:`on_wire`)
        self.reports_wire = False
        self._last_decrease = float("-inf")
        self._recent: deque[bool] = deque(maxlen=RECENT)  # was each of the last answers a 429?
        self.decreases = 0  # 0.7 decreases
        # (requests in flight when sent, latency) of the last answers
        self._samples: deque[tuple[int, float]] = deque(maxlen=LATENCY_MAX)
        self._sent_at: deque[float] = deque(maxlen=LATENCY_MAX)  # ... and when each was sent
        self._base_whole = False  # the unloaded latency was measured over whole cohorts (below) ...
        self._first_answer_at: float | None = None  # ... the first of them the requests sent before
        self._latency_sum = 0.0
        self._jumps = 0.0
        self._mean_latency = 0.0  # over the last window, as of the last answer
        self._fastest = float("inf")  # the fastest answer yet
        self.base_latency = float("inf")  # the unloaded latency: lowest windowed mean seen ...
        self._base_count = 0  # ... over this many answers
        # a learned concurrency cap
        self.ceiling: int | None = None
        self.caps = 0
        self.paced = False  # a rate limit paces the requests (the engine sets it): caps are probed soon
        self._clamped_at = float("-inf")
        self._served_since_clamp = False  # a request sent within the cap has been answered
        self._at_clamp: set[Flight] = set()  # in flight when the cap was set ...
        self._served_at_clamp = 0  # ... and answered since
        # the slowest 429 taken as refused at the door before a window of answers had shown how long
        # serving takes (none: no such 429): the answers up to that window judge it again
        self._door_unsure: float | None = None
        self._before_cap: tuple[float, bool] = (self.limit, self._slow_start)
        self._probe_every = PROBE_AFTER
        self._probe_step = 1  # how many more in flight the next probe of a 429 cap tries
        self._at_top = 0
        self._top_since = clock()  # when _at_top last started from 0
        self._probing = False
        self._queue_cap = False  # the ceiling is a queue's knee (latency), not a 429 cap
        self._ratio_before_probe = 1.0
        # a queue suspected from latency, being checked: (answers to requests sent from when count,
        # the throughput and mean latency before, the limit and slow start to restore, the share of
        # the limit the cut kept) ...
        self._queue_check: tuple[float, float, float, float, bool, float] | None = None
        # ... the sums of depth and latency and the count of the answers counted so far, and the latest
        # send among them; once enough are in, the cohort is every request sent from the check's start
        # to that send, judged when all of them are answered
        self._checked = (0.0, 0.0, 0, float("-inf"))
        self._cohort_end: float | None = None
        self._descent: float | None = None  # the highest throughput while shrinking through a queue
        self.queue_seen = False

    # -------------------------------------------------------------------------------------- slots

    async def acquire(self, *, first: bool = False) -> None:
        """Wait for a free slot: first come, first served, but ahead of them all when ``first`` (a
        retry, whose request has waited longest)."""
        if self.in_flight < int(self.limit) and not self._waiters and not self._hold:
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
        if not self.in_flight:
            self._hold = False  # nothing left to be served: no answer to wait for
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit) and not self._hold:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def sent(self) -> Flight:
        """Note a request leaving now, with its slot held."""
        flight = Flight(self.clock(), self.in_flight)
        if self.first_sent == float("inf"):
            self.first_sent = flight.sent_at  # (the clock is monotonic: the first is the earliest)
        self.flights[flight] = None
        return flight

    def on_wire(self, flight: Flight) -> None:
        """The request went out on an open connection now (opening one may have taken a while)."""
        flight.wire_at, flight.wired = self.clock(), True
        self.reports_wire = True

    def _ahead_of(self, refused: Flight) -> list[Flight]:
        """The requests in flight that may have filled the server when ``refused`` reached it: those
        that went out on an open connection before it when the backend says when each went out, else
        all. (One still opening its connection is served by no one yet; one that went out after the
        refused one reached the server after it too, and may be served once a slot frees: counted,
        such requests made a cap of 10 at a server that serves 8, and the refusals within it that
        followed looked like a spent budget's.)"""
        if not self.reports_wire:
            return list(self.flights)
        return [f for f in self.flights if f.wired and f.wire_at <= refused.wire_at]

    def landed(self, flight: Flight) -> None:
        """The request is off the wire (answered, refused or failed; an answer's may land first)."""
        self.flights.pop(flight, None)

    # ------------------------------------------------------------------------------------ signals

    def _enough(self) -> int:
        """Answers a latency mean is taken over: a window (the limit, at least LATENCY_WINDOW; half
        that in slow start), or more when latencies vary so much that fewer would leave it further
        than LATENCY_PRECISION off (up to LATENCY_MAX)."""
        # slow start doubles the load every round trip: a window as long as the limit reaches back
        # to rounds that had not queued yet, and against 8 slots the limit overshot to 30 first
        n = LATENCY_WINDOW // 2 if self._slow_start else max(LATENCY_WINDOW, int(self.limit))
        return min(LATENCY_MAX, max(n, self._precise()))

    def _precise(self) -> int:
        """Answers whose mean latency is within LATENCY_PRECISION of the true one (one standard
        error), from the spread of the answers kept (0 before a window of them)."""
        count = len(self._samples)
        if count < LATENCY_WINDOW:
            return 0
        # the spread from one answer to the next (half the mean squared step): a change of load moves
        # the level once and adds one step, where the variance around the mean would count it in
        # every answer
        mean = self._latency_sum / count
        variance = max(0.0, self._jumps / (2 * (count - 1)))
        return int(variance / (LATENCY_PRECISION * mean) ** 2) if mean > MIN_LATENCY else 0

    def _forget_latencies(self) -> None:
        """Drop the latencies kept (they were measured at a load that no longer holds)."""
        self._samples.clear()
        self._sent_at.clear()
        self._latency_sum = 0.0
        self._jumps = 0.0

    def _answered_before(self, cut: float) -> tuple[float, int]:
        """The sum and count of the latencies kept of requests sent before ``cut``."""
        total, count = 0.0, 0
        for (_, latency), sent in zip(self._samples, self._sent_at, strict=True):
            if sent < cut:
                total += latency
                count += 1
        return total, count

    def _window(self) -> tuple[float, float]:
        """Mean depth and mean latency of about the last window of answers (16 to 64 of them)."""
        n = self._enough()
        depth = latency = 0.0
        for d, lat in itertools.islice(reversed(self._samples), n):
            depth += d
            latency += lat
        count = min(n, len(self._samples))
        return depth / count, latency / count

    def on_success(self, flight: Flight | None = None) -> None:
        """An answer (its flight landed): grow, hold or (latency) shrink."""
        self._recent.append(False)
        if self.fixed:
            return
        self._hold = False
        if flight is not None:
            self.landed(flight)  # (the signals below look at what is still out)
            if flight.sent_at >= self._clamped_at:
                self._served_since_clamp = True
            if self.ceiling is not None and flight in self._at_clamp:
                self._check_cap()
            if self._measure(flight):
                return
            if self._first_window is not None:
                return  # no growth before the first window is judged: it may have queued already
        self._grow()

    def _measure(self, flight: Flight) -> bool:
        """Learn from an answer's latency; True when the latency signal acted on it."""
        latency = self.clock() - flight.wire_at
        self._fastest = min(self._fastest, latency)
        if self._door_unsure is not None:
            # judged against the fastest answer up to a window, not the first few: the first round
            # trip opens the connections, and its answers take longer than the next ones' (on a
            # loaded machine twice as long: a 429 after the work then looked refused at the door, and
            # one CI run ended capped at 28 of 64)
            if self.ceiling is not None and self._door_unsure >= AT_THE_DOOR * self._fastest:
                self._drop_cap()  # that 429 took as long as serving: it was no refusal at the door
                self.caps -= 1
                self._door_unsure = None
            elif self.ceiling is None or len(self._samples) + 1 >= LATENCY_WINDOW:
                self._door_unsure = None
        if self._first_answer_at is None:
            self._first_answer_at = self.clock()
        if len(self._samples) == LATENCY_MAX:  # the oldest goes, and its step to the next
            first = self._samples[0][1]
            self._latency_sum -= first
            self._jumps -= (self._samples[1][1] - first) ** 2
        if self._samples:
            self._jumps += (latency - self._samples[-1][1]) ** 2
        self._samples.append((flight.depth, latency))
        self._sent_at.append(flight.sent_at)
        self._latency_sum += latency
        oldest = next(iter(self.flights), None)
        cut = oldest.sent_at if oldest is not None else float("inf")
        if not self._base_whole and cut >= self._first_answer_at:
            # the first round trip is all in (every request sent before the first answer): its mean
            # is the first unloaded latency, whatever order its answers came in
            total, count = self._answered_before(self._first_answer_at)
            if count:  # (none when answers take no time: a test's clock)
                self.base_latency, self._base_count = max(MIN_LATENCY, total / count), count
                self._base_whole = True
        if self._first_window is not None and self._judge_first_window(flight.depth, latency):
            return True
        if len(self._samples) < LATENCY_WINDOW:  # (a shrink the first window set off is checked)
            return self._queue_check is not None and self._confirm_queue(flight)
        # the unloaded latency: the lowest mean over the answers kept (up to LATENCY_MAX, as the
        # minimum of means over fewer would follow their noise down) to every request sent before the
        # oldest still out, once 16 are; not over the answers as they came in: the first in are the
        # shortest, and in slow start, when answers vary in length (±80 %), their mean fell to 0.54
        # of the service time, and every later window looked queued
        total, count = self._answered_before(cut)
        # (over as many as a precise mean needs: the lowest of noisier means runs low)
        if (
            count >= max(LATENCY_WINDOW, min(LATENCY_MAX, self._precise()))
            and total / count < self.base_latency
        ):
            self.base_latency, self._base_count = max(MIN_LATENCY, total / count), count
        depth, latency = self._window()
        self._mean_latency = latency  # (one pass over the window per answer: _grow reads it too)
        return self.latency_signal and self._queued(flight, depth, latency)

    def _judge_first_window(self, depth: int, latency: float) -> bool:
        """Whether the first window queued (True: the limit shrank). A server with fewer slots than
        the first window serves the requests sent first and queues the rest, so latency climbs with
        the depth a request was sent at. The answers at the lowest quarter of depths are the least
        queued: their mean latency, times what the server delivered over the window, is about what it
        serves at once (Little's law); the limit goes to 1.25x that (at most half the window), and the
        descent that follows measures the knee. A window that did not queue gets the growth it held
        back."""
        assert self._first_window is not None
        if depth <= ADAPTIVE_START:
            self._first_window.append((depth, latency))
        if len(self._first_window) + self._first_refused < ADAPTIVE_START:
            return False
        answers, self._first_window = self._first_window, None
        lower = [lat for d, lat in answers if 2 * d <= ADAPTIVE_START]
        upper = [lat for d, lat in answers if 2 * d > ADAPTIVE_START]
        queued = len(lower) >= 2 and len(upper) >= 2 and self.ceiling is None  # (else nothing to compare)
        if queued:
            low, high = statistics.fmean(lower), statistics.fmean(upper)
            error = math.sqrt(
                statistics.variance(lower) / len(lower) + statistics.variance(upper) / len(upper)
            )
            queued = high > QUEUE_SHRINK * low and high - low > FIRST_WINDOW_ERRORS * error
        if not queued:
            self._served_at_once = len(answers) if not self._first_refused else 0
            if self._slow_start:
                self.limit = min(self.most, self.limit + len(answers) - 1)
                self._wake()
            return False
        first = [lat for d, lat in answers if 4 * d <= ADAPTIVE_START] or lower
        self.base_latency, self._base_count = max(MIN_LATENCY, statistics.fmean(first)), len(first)
        throughput = len(answers) / max(MIN_LATENCY, self.clock() - self.first_sent)
        target = max(1.0, min(ADAPTIVE_START / 2, QUEUE_TARGET * throughput * self.base_latency))
        mean = statistics.fmean(lat for _, lat in answers)
        self._shrink(target, mean, self.limit, self._slow_start, (throughput, mean))
        return True

    def _ratio(self) -> float:
        """Recent mean latency over the unloaded latency (1 before a window of answers)."""
        if len(self._samples) < LATENCY_WINDOW:
            return 1.0
        return self._mean_latency / self.base_latency

    def _grow(self) -> None:
        ratio = self._ratio()
        top = self.most
        if self.ceiling is not None:
            if self.limit >= self.ceiling:
                self._at_top += 1
                # two windows at the probe: the latencies of the second are all the probe's own
                if self._probing and self._at_top >= 2 * max(LATENCY_WINDOW, self.ceiling):
                    self._probed(ratio)
                elif not self._probing and self._probe_due():
                    self._at_top, self._probing = 0, True  # probe above the cap
                    self._top_since = self.clock()
                    self._ratio_before_probe = ratio
                    probe = 1 if self._queue_cap else self._probe_step
                    self.ceiling = min(self.ceiling + probe, int(self.most))  # never above the most
            top = min(top, float(self.ceiling))
        if not self._slow_start:
            step = 1.0 / self.limit
        elif ratio > QUEUE_HOLD:
            step = SLOW_START_CAREFUL  # latency rose: a queue may be forming (HyStart++'s careful phase)
        else:
            step = 1.0
        self.limit = min(top, self.limit + step)
        self._wake()

    def _probe_due(self) -> bool:
        """Whether a cap has been held long enough to try above it: ``_probe_every`` windows of
        answers, or, for a 429 cap while no rate paces the engine (a probe costs a 429 at most; a
        paced engine probes after PROBE_PACED windows), as many times PROBE_AFTER_S / PROBE_AFTER
        seconds."""
        assert self.ceiling is not None
        if self._at_top >= self._probe_every * max(LATENCY_WINDOW, self.ceiling):
            return True
        if self._queue_cap or self.paced:
            return False
        return self.clock() - self._top_since >= PROBE_AFTER_S * self._probe_every / PROBE_AFTER

    def _probed(self, ratio: float) -> None:
        """A window of answers at a probe without a 429: it held, unless the cap is a queue's knee and
        the one more in flight only made the others wait (latency rose by half of what one request
        queued behind the others adds). Held probes come again after a window, refused ones after
        many: noise in latency makes the knee drift up, not down."""
        assert self.ceiling is not None
        self._at_top, self._probing = 0, False
        self._top_since = self.clock()
        rise = 1.0 + QUEUE_PROBE_RISE / max(1, self.ceiling - 1)
        if self._queue_cap and ratio > self._ratio_before_probe * rise:
            self.ceiling -= 1
            self.limit = min(self.limit, float(self.ceiling))
            self._probe_refused()
        else:
            self._probe_every = 1  # it held: try the next one after a window
            if not self._queue_cap:  # ... and twice as far (the cap may have been another client's)
                self._probe_step = min(2 * self._probe_step, int(self.most))

    def _probe_refused(self) -> None:
        """Probe less often: PROBE_AFTER windows after a climb, twice as long after each waited one."""
        if self._probe_every < PROBE_AFTER:
            self._probe_every = PROBE_AFTER
        else:
            self._probe_every = min(PROBE_MAX, 2 * self._probe_every)

    def _base_bound(self) -> float:
        """The unloaded latency, raised by BASE_ERRORS of its standard errors when it was measured
        over fewer answers than a precise mean needs (the first round trip's 8, when answers vary)."""
        precise = self._precise()
        if not self._base_count or self._base_count >= precise:
            return self.base_latency
        return self.base_latency * (
            1 + BASE_ERRORS * LATENCY_PRECISION * math.sqrt(precise / self._base_count)
        )

    def _queued(self, flight: Flight, depth: float, latency: float) -> bool:
        """The latency signal; True when it acted on this answer (no growth then).

        A queue is confirmed by what a shrink does to throughput: a server that queues delivers as
        much with fewer in flight (its slots stay busy), one that does not delivers less in
        proportion. Latency alone cannot tell them apart when answers vary in length.
        """
        if self._queue_check is not None:
            return self._confirm_queue(flight)
        if flight.sent_at < self._last_decrease or latency <= QUEUE_SHRINK * self._base_bound():
            return False
        capacity = depth * self.base_latency / latency
        target = max(1.0, min(QUEUE_TARGET * capacity, QUEUE_PROBE * self.limit))
        if self._slow_start:  # (its estimate of capacity runs low while the queue fills)
            target = max(target, float(self._served_at_once))
        if target >= self.limit:
            return False
        self._shrink(target, latency, self.limit, self._slow_start)
        return True

    def _confirm_queue(self, flight: Flight) -> bool:
        """Compare the answers to requests sent after the shrink, once a window of them is in, with
        those before it: throughput (Little's law) and mean latency.

        The server queues when it delivered as much with fewer in flight, or when waits fell with
        the load (a queue drains; a slower server stays slow): shrink again, until a step delivers
        less and waits no shorter. That step is below the knee, so its latency is the unloaded one
        (the first round trip of a run may have queued, and measured it too high), and the knee is
        the highest throughput above it times that latency. Neither at the first step: no queue; the
        server got slower (or latency merely varies).
        """
        assert self._queue_check is not None
        since, before, waited, limit, slow, step = self._queue_check
        if flight.sent_at < since or (self._cohort_end is not None and flight.sent_at > self._cohort_end):
            return True
        depth, latency, count, last = self._checked
        depth, latency, count = depth + flight.depth, latency + self._samples[-1][1], count + 1
        self._checked = (depth, latency, count, max(last, flight.sent_at))
        if self._cohort_end is None:
            # (half a window, at most CHECK_ROUNDS round trips' worth: a wide spread asks for more
            # answers than a limit of 1 gets in 20 s)
            enough = min(self._enough() // 2, CHECK_ROUNDS * int(self.limit))
            if count < max(LATENCY_WINDOW // 2, int(self.limit), enough):
                return True
            self._cohort_end = self._checked[3]
        # judged once every request sent in it is answered: the first answers in are the shortest
        # (the mean of those alone fell to 0.61 of the service time, and a server that never queues
        # looked as if its waits eased)
        oldest = next((f.sent_at for f in self.flights if f.sent_at >= since), None)
        if oldest is not None and oldest <= self._cohort_end:
            return True
        self._queue_check = None
        throughput, mean = depth / latency, latency / count
        # a deep cut (slow start's overshoot) is held when throughput kept at least halfway between
        # falling in proportion and not falling: the estimate before it, over depths sent at while a
        # queue filled, runs up to a third high (five runs of the knee test: 0.75-0.79 of it kept)
        held = throughput >= min(QUEUE_HELD, (1 + step) / 2) * before
        eased = mean <= QUEUE_EASED * waited
        if held or eased:  # it queues: go on down, one in flight less at least, down to one
            self.queue_seen = True
            self._descent = max(self._descent or 0.0, throughput)
            if int(self.limit) > 1:
                target = max(1.0, min(QUEUE_PROBE * self.limit, int(self.limit) - 1))
                self._shrink(target, mean, limit, slow, (throughput, mean))
                return True
        if self._descent is not None:  # below the knee: this latency is the unloaded one
            # (measured here: the lowest mean seen so far is pulled low by answers that vary in length)
            self.base_latency, self._base_count = max(MIN_LATENCY, mean), count
            self._queue_knee(max(self._descent, throughput) * self.base_latency)
            self._descent = None
            return False
        self.base_latency, self._base_count = max(MIN_LATENCY, mean), count  # the least queued
        self.limit, self._slow_start = max(self.limit, limit), slow
        self._forget_latencies()
        self._wake()
        return False

    def _shrink(
        self,
        target: float,
        latency: float,
        limit: float,
        slow: bool,
        before: tuple[float, float] | None = None,
    ) -> None:
        """Lower the limit to ``target`` and check what that does: the answers to requests sent once
        the queue ahead of them drained (a mean latency from now) count, against ``before``
        (throughput and mean latency: the last step's, or the last window's by Little's law)."""
        now = self.clock()
        if before is None:
            depth, mean = self._window()
            before = (depth / mean, mean)
        self._queue_check = (now + latency, *before, limit, slow, target / self.limit)
        self._checked, self._cohort_end = (0.0, 0.0, 0, float("-inf")), None
        self.limit = target
        self._slow_start = False
        self._last_decrease = now

    def _queue_knee(self, capacity: float) -> None:
        """A queue confirmed: keep at most what the server serves at once in flight (a cap without
        429s), probing one more now and then as for a cap."""
        self.queue_seen = True
        cap = max(1, int(capacity + KNEE_SLACK))  # under rather than over: one more waits a whole service
        # a knee measured again replaces the last one; a cap the server's 429s set stays the bound
        if self.ceiling is None or self._queue_cap or cap < self.ceiling:
            if self.ceiling is None:
                self._before_cap = (self.limit, self._slow_start)
            self.ceiling, self._queue_cap = cap, True
            self._probing, self._at_top, self._probe_every = False, 0, PROBE_AFTER
            self._probe_step, self._top_since = 1, self.clock()
            self._at_clamp = set()  # a queue refuses nothing: only latency can show it wrong
        self.limit = float(self.ceiling)
        self._last_decrease = self.clock()
        self._forget_latencies()  # latencies from before the knee say nothing about it
        self._wake()

    def _check_cap(self) -> None:
        """Drop a learned cap that the answers show wrong: more of the requests in flight when it was
        set were served than it allows."""
        assert self.ceiling is not None
        self._served_at_clamp += 1
        if self._served_at_clamp >= self.ceiling + max(1.0, self.ceiling / 4):
            self._drop_cap()

    def forget_cap_since(self, since: float) -> None:
        """The 429s that landed after ``since`` were a spent budget's: every request sent into it is
        refused at the door, so each refusal saw fewer others in flight (the rest of those refused),
        and a cap taken from them fell towards one. A cap clamped since then is none."""
        if self.ceiling is not None and self._clamped_at > since:
            self._drop_cap()

    def _drop_cap(self) -> None:
        """No cap after all: the limit and slow start as they were before it."""
        limit, slow = self._before_cap
        self.ceiling, self._at_clamp = None, set()
        self.limit, self._slow_start = max(self.limit, limit), slow
        self._wake()

    def on_rate_limited(self, flight: Flight, *, budget_spent: bool = False) -> Verdict:
        """A 429 for ``flight`` (landed). ``budget_spent``: the server's headers say so (never a cap)."""
        self._recent.append(True)
        if self.fixed:
            return Verdict.IGNORED
        if self._first_window is not None and flight.depth <= ADAPTIVE_START:
            self._first_refused += 1
        now = self.clock()
        # (before a window of answers, the fastest answer stands for the unloaded latency)
        served_in = self._fastest if self.base_latency == float("inf") else self.base_latency
        took = now - flight.wire_at
        at_the_door = took < AT_THE_DOOR * served_in
        # arrival order is not send order: every request that reached the server before this one may
        # be one it was serving; the lowest count over a round trip's 429s is the cap
        ahead = self._ahead_of(flight)
        others = len(ahead)
        if not budget_spent and at_the_door and others:
            if len(self._samples) < LATENCY_WINDOW:  # no window of answers yet: the next ones judge it
                self._door_unsure = max(self._door_unsure or 0.0, took)
            if self.ceiling is None:
                self._clamp(others, ahead)
                return Verdict.CAP
            if flight.depth > self.ceiling or flight.sent_at < self._clamped_at:  # sent above the cap
                if others < self.ceiling:
                    self.ceiling = others
                    self.limit = min(self.limit, float(others))
                return Verdict.CAP
            if self._served_since_clamp:  # refused within the cap after it served: the cap is lower
                self._clamp(min(others, self.ceiling - 1), ahead)
                return Verdict.CAP
            return Verdict.BUDGET  # nothing sent within the cap was served yet: the budget is spent
        if flight.sent_at < self._last_decrease:
            return Verdict.IGNORED  # at most one decrease per round trip
        share = self.limited_share()
        if len(self._recent) < RECENT // 2 or share < CONGESTION_SHARE:
            return Verdict.IGNORED  # an occasional 429 of a busy server: retry it, keep the pace
        self._slow_start = False
        self.limit = max(1.0, self.limit * 0.7)
        self._last_decrease = now
        self.decreases += 1
        return Verdict.CONGESTION

    def _clamp(self, cap: int, ahead: list[Flight]) -> None:
        """The server serves at most ``cap`` at once (``ahead``: the requests that filled it, which the
        answers may show wrong): stay under it from now on."""
        if self.ceiling is None:
            self._before_cap = (self.limit, self._slow_start)
            self._probe_every = PROBE_PACED if self.paced else PROBE_AFTER
        elif self._probing:
            self._probe_refused()
        self._queue_cap = False
        self.ceiling = max(1, cap if self.ceiling is None else min(self.ceiling, cap))
        self._probing, self._at_top = False, 0
        self._probe_step, self._top_since = 1, self.clock()
        self._at_clamp, self._served_at_clamp = set(ahead), 0
        self._served_since_clamp = False
        self.limit = min(self.limit, float(self.ceiling))
        self._hold = True  # the slots the refused requests leave are no slots at the server
        self._slow_start = False
        self._clamped_at = self._last_decrease = self.clock()
        self.caps += 1

    def limited_share(self) -> float:
        """The share of 429s among the last answers."""
        return sum(self._recent) / len(self._recent) if self._recent else 0.0

    def start_from(self, allowed: int) -> None:
        """In slow start, begin at what the server's headers allow (capped), instead of ramping to it."""
        if not self.fixed and self._slow_start and allowed > self.limit:
            self.limit = min(self.most, float(allowed))
            self._wake()


class RateBucket(Protocol):
    """What the engine paces a rate with: a :class:`TokenBucket`, or one an executor's workers share."""

    async def take(
        self, amount: float, sleep: Callable[[float], Awaitable[None]], *, first: bool = False
    ) -> None:
        """Wait until ``amount`` may be spent (``first``: ahead of the takers not yet served)."""

    def give_back(self, amount: float) -> None:
        """Return what was taken in excess."""

    def charge(self, ago: Sequence[float], amounts: Sequence[float] | None = None) -> None:
        """Count requests sent before the bucket was made (``ago``: seconds before now; ``amounts``:
        what each spent, one when None) as if it had paced them: a burst sent before a limit was
        known is paid for by waiting."""

    def set_rate(self, rate_per_min: float) -> None:
        """Change the rate."""

    def release(self) -> None:
        """The engine is closing: hand back what is held for others (nothing for a local bucket)."""


class TokenBucket:
    """Spaces out consumption to ``rate_per_min`` with a burst of ``burst_s`` seconds' worth. A taker
    of more than that waits for a full bucket and takes all it needs: the bucket owes the rest, which
    the next taker waits off (a long prompt under a token limit is charged in full).

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
        """Wait until ``amount`` can be taken (an amount above capacity waits for a full bucket, and
        leaves it owing the rest)."""
        need = min(amount, self.capacity)
        await self._turn(first)
        try:
            while True:
                self._refill()
                if self.tokens >= need:
                    self.tokens -= amount
                    return
                await sleep((need - self.tokens) / self.rate_per_s)
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

    def charge(self, ago: Sequence[float], amounts: Sequence[float] | None = None) -> None:
        """Take what each request sent ``ago`` seconds before now spent (``amounts``; one token each
        when None), refilled since: the bucket may start below empty, and its takers wait until it
        has refilled."""
        if not ago:
            return
        now = self.clock()
        tokens, stamp = self.capacity, now - max(ago)
        spent = amounts if amounts is not None else [1.0] * len(ago)
        for sent, amount in sorted((now - a, n) for a, n in zip(ago, spent, strict=True)):
            tokens = min(self.capacity, tokens + (sent - stamp) * self.rate_per_s) - amount
            stamp = sent
        self.tokens = min(self.capacity, tokens + (now - stamp) * self.rate_per_s)
        self._stamp = now

    def release(self) -> None:
        """Nothing to hand back: the bucket is this engine's own."""


@attrs.define
class _Paced:
    """A bucket shared across processes, then this engine's own at the same rate."""

    shared: RateBucket
    own: TokenBucket

    async def take(
        self, amount: float, sleep: Callable[[float], Awaitable[None]], *, first: bool = False
    ) -> None:
        await self.shared.take(amount, sleep, first=first)
        await self.own.take(amount, sleep, first=first)

    def give_back(self, amount: float) -> None:
        self.shared.give_back(amount)
        self.own.give_back(amount)

    def charge(self, ago: Sequence[float], amounts: Sequence[float] | None = None) -> None:
        self.shared.charge(ago, amounts)
        self.own.charge(ago, amounts)

    def set_rate(self, rate_per_min: float) -> None:
        self.shared.set_rate(rate_per_min)
        self.own.set_rate(rate_per_min)

    def release(self) -> None:
        self.shared.release()


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
        # A backend may know its own sensible concurrency (the local model: its slots), kept fixed; a
        # configured one is the most in flight, and the 429 signals still keep under a server's cap.
        preferred = backend_attribute(backend, "preferred_concurrency")
        self.limit = AdaptiveLimit(
            preferred if config.max_concurrency is None else None,
            clock,
            most=config.max_concurrency,
            latency_signal=config.max_concurrency is None,
        )
        # What names the server in cache keys: the configured identity, else the backend's endpoint.
        self.identity = (
            identity if identity is not None else str(backend_attribute(backend, "cache_identity"))
        )
        self._rpm = self._configured("requests", config.requests_per_minute, REQUEST_BURST_S)
        # learning the pace of a server that enforces a rate without announcing it (_learn)
        self._sends = SendLog()
        self._reopened_at: float | None = None
        # when the budget ran out, the Retry-After, when the refused request that said so was sent
        self._pending_limit: tuple[float, float, float] | None = None
        self._learned_at = float("-inf")
        self._reported_until = float("-inf")  # sends reported to a cluster's limiter (_learn)
        self._cluster_pace = self._shared_pace()
        self._asked = False  # ... for the pace it knows, before the first request
        self._asking: asyncio.Lock | None = None
        #: set while a request learns the pace (a cluster's limiter answers after a round trip): the
        #: requests that wake from the cool-down meanwhile wait for the pace instead of going unpaced
        self._learning: asyncio.Event | None = None
        #: whether an answer gives back the part of its request's estimate it did not use: only when
        #: the server counts what was used; one that counts what a request may use never gives back
        charge = config.token_charge
        if charge == "auto":
            charge = backend_attribute(backend, "token_charge")
        self._gives_back = charge == "used"
        self._token_burst_s = TOKEN_BURST_S if self._gives_back else REQUEST_BURST_S
        self._tpm = self._configured("tokens", config.tokens_per_minute, self._token_burst_s)
        #: the tokens estimated for each request sent before the first answer, when no token limit
        #: is configured: charged to a limit that answer announces (None once it came)
        self._early_tokens: dict[Flight, int] | None = {} if self._tpm is None else None
        self._cooldown_until = 0.0
        self._inflight: dict[str, asyncio.Future[Response]] = {}
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

    @property
    def token_charge(self) -> str:
        """How this engine charges a token limit: ``used`` (answers give back what they did not use)
        or ``reserved`` (each request its estimate)."""
        return "used" if self._gives_back else "reserved"

    def _configured(self, kind: str, rate_per_min: float | None, burst_s: float) -> RateBucket | None:
        """The bucket for a configured (or announced) limit: the cluster's when an executor shares one
        among its workers (the ``shared_rate_bucket`` service), else this engine's own; None without
        a limit."""
        if not rate_per_min:
            return None
        own = TokenBucket(rate_per_min, self.clock, burst_s)
        shared = provided("shared_rate_bucket")
        if shared is None:
            return own
        # the cluster's share first (it may wait), then this engine's pace: a leased block is never
        # spent faster than the limit, so the cluster's requests stay as smooth as one engine's
        return _Paced(shared(self._model_key, kind, rate_per_min), own)

    def _shared_pace(self) -> PaceReporter | None:
        """The cluster's pace of this model (the ``shared_pace`` service), learned from every worker's
        429s, unless a rate is configured; None outside a cluster."""
        shared, buckets = provided("shared_pace"), provided("shared_rate_bucket")
        if shared is None or buckets is None or self.config.requests_per_minute is not None:
            return None
        reporter: PaceReporter = shared(self._model_key)
        return reporter

    @property
    def _model_key(self) -> str:
        """What names this backend, endpoint and model among a cluster's workers."""
        return f"{self.backend_name}|{self.identity}|{self.backend.model}"

    # ------------------------------------------------------------------------------------------ public

    @property
    def parallelism(self) -> int:
        """How many requests a method should keep ready: enough to fill the limit, and room to grow."""
        if self.batcher is not None:
            return self.config.batch_size
        if self.limit.fixed or self.config.max_concurrency is not None:
            return 4 * int(self.limit.most)  # spares for requests sleeping in back-off
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
        """Close the backend (and stop batch polling left over from an interrupted run); a shared rate
        bucket hands back the share it holds."""
        for bucket in (self._rpm, self._tpm):
            if bucket is not None:
                bucket.release()
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

    def _rate_limited(self, error: RateLimitError, flight: Flight) -> bool:
        """React to a 429; True when it came from a concurrency cap: the limit is now under it, and the
        request may go again as soon as a slot is free. Otherwise the budget is spent or the server
        overloaded: pause everything only as long as the server asks (``Retry-After``) or until its
        announced budget resets, and learn the pace it allows."""
        info: RateLimits | None = error.rate_limits
        exhausted = info is not None and (info.remaining_requests == 0 or info.remaining_tokens == 0)
        self.limit.paced = self._rpm is not None
        if self.limit.on_rate_limited(flight, budget_spent=exhausted) is Verdict.CAP:
            self._sends.add("capped", flight.sent_at)
            return True
        self._sends.add("refused", flight.sent_at)
        if exhausted and info is not None and info.reset_requests_s:
            self._cooldown_until = max(self._cooldown_until, self.clock() + info.reset_requests_s)
        if error.retry_after is not None:
            self._cooldown_until = max(self._cooldown_until, self.clock() + error.retry_after)
            self._learn_rate(error.retry_after, flight.sent_at)
        return False

    def _learn_rate(self, retry_after: float, sent_at: float) -> None:
        """Note that a server without announced limits said its budget is spent (see :meth:`_learn`)."""
        if self.config.requests_per_minute is not None:
            return
        if self._limits_seen is not None and self._limits_seen.requests_per_minute:
            return
        if self._pending_limit is None and sent_at >= self._learned_at:
            self._pending_limit = (self.clock(), retry_after, sent_at)
            if self._cluster_pace is not None:  # a worker that starts meanwhile waits for it too
                self._cluster_pace.spent(retry_after)

    def _ready_to_learn(self) -> bool:
        """Whether the cool-down after the budget ran out is over and every request sent before then
        has its answer (the oldest request still in flight was sent later)."""
        if self._pending_limit is None or self.clock() < self._pending_limit[0] + self._pending_limit[1]:
            return False
        oldest = next(iter(self.limit.flights), None)
        return oldest is None or oldest.sent_at > self._pending_limit[0]

    async def _learn(self) -> None:
        """Pace at the rate the server let through between two exhaustions of its budget (see
        ``datagen._engine.pace``): the rate learned from this engine's own requests, or, among an
        executor's workers (the ``shared_pace`` service), the cluster's, learned from every worker's."""
        assert self._pending_limit is not None
        event, retry_after, refused_sent = self._pending_limit
        self._pending_limit = None
        start = self._reopened_at if self._reopened_at is not None else self.limit.first_sent
        self._reopened_at = event + retry_after
        self._learned_at = event
        if self._cluster_pace is not None:
            await self._learn_with_cluster(start, event, retry_after, refused_sent)
            return
        pace = self._sends.pace(start, event, event + retry_after)
        if pace is None:
            return
        self.limit.forget_cap_since(pace.last_accepted)
        if self._rpm is None:
            self._rpm = TokenBucket(pace.requests_per_minute, self.clock, REQUEST_BURST_S)
        else:
            self._rpm.set_rate(pace.requests_per_minute)
        log.info(
            "pace_learned",
            requests_per_minute=round(pace.requests_per_minute, 1),
            accepted=pace.accepted,
            period_s=round(pace.period_s, 2),
        )

    async def _learn_with_cluster(
        self,
        start: float,
        event: float,
        retry_after: float,
        refused_sent: float,
    ) -> None:
        """Report this engine's sends until ``event`` to the cluster's limiter, which learns the pace
        from every worker's, and lease a share of it (the one requests bucket of a learned pace)."""
        sends = self._sends.between(self._reported_until, event)
        self._reported_until = event
        assert self._cluster_pace is not None
        rate = await self._cluster_pace.report(
            sends,
            first_sent=self.limit.first_sent,
            ran_out=event,
            retry_after=retry_after,
            refused_sent=refused_sent,
            now=self.clock(),
        )
        if rate is None:  # none yet: ask again before the next request (the others report too)
            self._asked = False
            return
        self.limit.forget_cap_since(self._sends.last_accepted(start, event))
        self._pace_with_cluster(rate)

    def _pace_with_cluster(self, rate: float) -> None:
        """Lease a share of the cluster's pace, ``rate`` per minute (the limiter's, when it knows
        better: see the ``shared_pace`` service)."""
        if self._rpm is None:
            bucket = provided("shared_rate_bucket")
            assert bucket is not None
            self._rpm = bucket(self._model_key, "learned", rate)
        else:
            self._rpm.set_rate(rate)
        log.info("pace_learned_by_cluster", requests_per_minute=round(rate, 1))

    async def _join_cluster(self) -> None:
        """Before the first request: pace at the cluster's pace if the other workers learned one; if
        they met the budget spent and have learned none yet, wait until they have (a worker that
        starts late would send a burst into the spent budget, or as it reopens)."""
        assert self._cluster_pace is not None
        if self._asking is None:
            self._asking = asyncio.Lock()
        async with self._asking:  # the requests that arrive meanwhile wait for the answer
            if self._asked:
                return
            while True:
                rate, wait = await self._cluster_pace.known()
                if rate is not None or wait <= 0:
                    break
                await self.sleep(wait)
            if rate is not None and self._rpm is None:
                self._pace_with_cluster(rate)
            self._asked = True

    async def _clear_to_send(self, estimate: int, *, retry: bool = False) -> None:
        """With a slot held: wait out a cool-down and the rate buckets, so that whatever changed while
        this request queued for its slot (a 429, a learned pace) applies to it too. A retry goes ahead
        of the requests not yet sent."""
        self._raise_if_fatal()  # it may have happened while this request waited for a slot
        if self._cluster_pace is not None and not self._asked:
            await self._join_cluster()
        await self._wait_cooldown()
        if self._learning is not None:  # another request is learning the pace: it applies to this one
            await self._learning.wait()
        if self._ready_to_learn():
            learning = self._learning = asyncio.Event()
            try:
                await self._learn()
            finally:
                learning.set()
                if self._learning is learning:
                    self._learning = None
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

    def _adopt_rate_limits(self, answered: Flight) -> None:
        """Follow the limits a server announces in its headers (``answered`` brought them), unless the
        config set them. The requests sent before a request limit was known are charged to its bucket:
        a burst sent at the start would otherwise fill the server's window on top of the pace; so are
        the tokens estimated for them, to a token limit (the answers give back what was not used)."""
        info: RateLimits | None = backend_attribute(self.backend, "rate_limits")
        early, self._early_tokens = self._early_tokens, None  # the first answer announces, or not
        if info is None or info == self._limits_seen:
            return
        self._limits_seen = info
        # an announced limit is the whole cluster's (one key): a cluster's workers share it
        if info.requests_per_minute and self.config.requests_per_minute is None:
            rate = info.requests_per_minute * HEADER_HEADROOM
            if self._rpm is None:
                self._rpm = self._configured("requests", rate, REQUEST_BURST_S)
                if self._rpm is not None:  # what was sent before the limit was known counts in it
                    now = self.clock()
                    sent = [*self._sends.sends["accepted"]]
                    sent += [f.sent_at for f in self.limit.flights if f is not answered]
                    self._rpm.charge([now - t for t in sent])
            else:
                self._rpm.set_rate(rate)
        if info.tokens_per_minute and self.config.tokens_per_minute is None:
            rate = info.tokens_per_minute * HEADER_HEADROOM
            if self._tpm is None:
                self._tpm = self._configured("tokens", rate, self._token_burst_s)
                if self._tpm is not None and early:
                    now = self.clock()
                    self._tpm.charge([now - f.sent_at for f in early], list(early.values()))
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

    async def _on_the_wire(self, request: Request, flight: Flight) -> Response:
        """One attempt at the backend, counted as sent, and as abandoned if cancelled unanswered; the
        backend may say when it went out (:func:`datagen.plugin.on_the_wire`)."""
        self.stats.sent += 1
        mark = _ON_THE_WIRE.set(lambda: self.limit.on_wire(flight))
        try:
            async with asyncio.timeout(self.config.timeout_s):  # no extra task, unlike wait_for
                return await self.backend.complete(request)
        except asyncio.CancelledError:
            self.stats.abandoned += 1
            raise
        finally:
            _ON_THE_WIRE.reset(mark)

    def _succeeded(self, response: Response, flight: Flight, estimate: int) -> Response:
        """Learn from an answer (latency, rate-limit headers, tokens used) and account for it."""
        self._connection_failures = 0
        self._answered = True
        self._sends.add("accepted", flight.sent_at)
        self.limit.on_success(flight)
        self._adopt_rate_limits(flight)
        if self._tpm is not None and self._gives_back:
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
            flight = self.limit.sent()
            if self._early_tokens is not None:
                self._early_tokens[flight] = estimate
            try:
                response = await self._on_the_wire(request, flight)
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
                return self._succeeded(response, flight, estimate)
            finally:
                self.limit.landed(flight)
                if self._early_tokens is not None:  # unanswered: it spent nothing
                    self._early_tokens.pop(flight, None)
                await self.limit.release()
            self._raise_if_fatal()  # answers to requests already in flight share the run's fate
            attempt += 1
            if not error.retryable or attempt > self.config.max_retries:
                self.stats.failed += 1
                raise error
            self.stats.retries += 1
            delay = self.backoff(attempt, error)
            if isinstance(error, RateLimitError) and self._rate_limited(error, flight):
                # refused for a cap the limit is now under: it goes first when a slot frees, which is
                # not before the requests being served are done
                delay = min(delay, self.limit.base_latency)
            log.debug(
                "retry", attempt=attempt, delay_s=round(delay, 3), error=str(error), status=error.status
            )
            await self.sleep(delay)
