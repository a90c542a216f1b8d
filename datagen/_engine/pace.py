"""The pace of a server that enforces a rate limit without announcing it, learned from its 429s.

A spent budget refuses every request sent after it ran out, until it reopens. The requests the server
accepted from the moment its budget (re)opened until it ran out, over the time until it reopens again,
are the rate it allows; each new exhaustion measures again.

Only a limit reached in the period measured teaches a pace: when 429s are frequent among the requests
sent in it, or when it ends in refusals in a row. Not an occasional 429 with a ``Retry-After`` from a
busy server, which would teach a lower pace each time. The share of 429s among the last answers is no
evidence either: after a burst it still counts the burst's refusals when a later period ends in one
429 (a sliding window reopening a few requests at a time), and the pace from that short period fell
to 0.75 of the limit.

An engine learns from its own requests (:class:`SendLog`). An executor's limiter learns from every
worker's requests merged into one log (:class:`ClusterPace`, with three rules more that reports of
one exhaustion arriving one after another need), so that a cluster paces at the server's rate, not at
the part of it one worker saw."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import attrs

HEADER_HEADROOM = 0.95  # stay a little under a limit the server announced, or one learned
#: share of 429s above which a 429 that is no cap means a limit was reached (among the last answers
#: for overload; among a period's sends for a spent budget)
CONGESTION_SHARE = 0.2
#: a spent budget refuses every request sent after it ran out: this many refused in a row, with none
#: accepted after them, end a period that reached a limit, however small a share of the period they
#: are (few requests in flight send few into a spent budget); a busy server's occasional 429 is one
#: among accepted requests (five in a row at a 5 % rate: one in 160,000)
REFUSED_IN_A_ROW = 5
#: a share of refusals among fewer sends than this in a period says nothing (nor does their rate)
PERIOD_MIN_SENDS = 10
#: the send times kept of each kind (an engine's, or a cluster's limiter's: 10 MB)
KEPT = 100_000

#: after a spent budget reopens, a worker that starts asks again this often, for up to REPORT_WAIT_S,
#: until the workers that met it have reported (and the cluster learned the pace it teaches)
REPORT_POLL_S = 0.05
REPORT_WAIT_S = 1.0

#: the kinds of send: accepted, refused by a 429 that was no cap, refused by one taken as a cap's
KINDS = ("accepted", "refused", "capped")


@attrs.frozen
class Pace:
    """A pace learned from one period."""

    requests_per_minute: float
    accepted: int
    period_s: float
    #: when the last accepted request of the period was sent (its start if none was)
    last_accepted: float


class SendLog:
    """When requests were sent, by how they were answered (times on one clock)."""

    def __init__(self, kept: int = KEPT) -> None:
        self.sends: dict[str, deque[float]] = {kind: deque(maxlen=kept) for kind in KINDS}

    def add(self, kind: str, sent_at: float) -> None:
        """A request sent at ``sent_at`` was answered as ``kind`` says."""
        self.sends[kind].append(sent_at)

    def extend(self, sends: Mapping[str, Iterable[float]]) -> None:
        """Add another log's sends (a worker's report, in any order)."""
        for kind in KINDS:
            self.sends[kind].extend(sends.get(kind, ()))

    def between(self, after: float, until: float) -> dict[str, list[float]]:
        """The sends in ``(after, until]``, by kind: what a worker reports."""
        return {kind: [t for t in times if after < t <= until] for kind, times in self.sends.items()}

    def last_accepted(self, start: float, until: float) -> float:
        """When the last request accepted in ``[start, until]`` was sent (``start`` if none was)."""
        return max((t for t in self.sends["accepted"] if start <= t <= until), default=start)

    def pace(self, start: float, until: float, reopens: float, *, reached: bool = False) -> Pace | None:
        """The pace taught by the period from ``start`` (the budget opened) to ``reopens`` (it opens
        again), whose requests are those sent until ``until`` (the budget ran out); None when the
        period reached no limit (see the module docstring; ``reached``: it is known to have) or
        nothing was accepted in it."""
        accepted = sum(1 for t in self.sends["accepted"] if start <= t <= until)
        refused = sum(1 for t in self.sends["refused"] if start <= t <= until)
        sends = accepted + refused
        in_period = refused / sends if sends >= PERIOD_MIN_SENDS else 0.0
        last_accepted = self.last_accepted(start, until)
        in_a_row = sum(
            1
            for t in itertools.chain(self.sends["refused"], self.sends["capped"])
            if last_accepted < t <= until
        )
        period = reopens - start
        if not reached and in_period < CONGESTION_SHARE and in_a_row < REFUSED_IN_A_ROW:
            return None
        if accepted == 0 or period <= 0:
            return None
        return Pace(accepted / period * 60.0 * HEADER_HEADROOM, accepted, period, last_accepted)


class PaceReporter(Protocol):
    """A worker's side of its cluster's pace of one model (the ``shared_pace`` service's)."""

    async def known(self) -> tuple[float | None, float]:
        """The pace the cluster learned, per minute (None when none is), and the seconds to wait
        before asking again (see :meth:`ClusterPace.known`)."""

    def spent(self, retry_after: float) -> None:
        """This worker met the budget spent, and the server asked for ``retry_after`` seconds (not
        waited for: it is told from a 429's handling)."""

    async def report(
        self,
        sends: Mapping[str, Sequence[float]],
        *,
        first_sent: float,
        ran_out: float,
        retry_after: float,
        refused_sent: float,
        now: float,
    ) -> float | None:
        """Report this worker's sends since its last report (on its clock, which reads ``now``) when
        it met a spent budget: see :meth:`ClusterPace.report`; returns the cluster's pace."""


class ClusterPace:
    """The pace of one server learned from every worker's requests (an executor's limiter keeps one
    per model). Each worker reports its sends since its last report when it has met a spent budget
    and its cool-down is over; the reports of one exhaustion (a refused request sent before the
    budget reopened) measure one period together, and each report measures it again with what has
    arrived. Times are on one clock for the whole cluster (the wall clock). A period that the reports
    so far show reached a limit keeps that verdict as more arrive: the later reports add the accepted
    requests of the workers that came later, which dilute the share of refusals.

    A period is measured back to the latest reopening at least as long ago as the first period
    lasted, and as the longest ``Retry-After`` the server asked for. A budget counted over a sliding
    window reopens one request at a time as the oldest age out, so one exhaustion may follow the last
    by a few milliseconds, and the requests accepted in so short a period (none, or the burst of a
    window ago) say nothing of the rate: 2 ms periods taught paces of 15,000 a minute against a limit
    of 1,200. The first period, from the first request until the budget first reopened, is about one
    window long (a sliding window reopens when the first request ages out; a fixed one at its end),
    as is the wait the server asks for after a burst, and over a window the accepted requests are the
    rate.

    A budget spent while the cluster paced at a rate never teaches a faster one: the pace was met at
    that rate. Counted over a sliding window, a period that ends as the slots of an earlier burst
    reopen all at once holds that burst's requests on top of its own (1.14 times the limit, measured)."""

    def __init__(self, *, history_from: float = float("-inf")) -> None:
        #: a restarted limiter's pace hears the sends from then on only: the workers reported the
        #: earlier ones to the limiter that was lost
        self.history_from = history_from
        self.log = SendLog()
        self.first_sent = float("inf")
        self.reopenings: list[float] = []  # when the budget reopened after each exhaustion before
        self.reopens: float | None = None  # ... and will after the one being measured
        self.shortest = 0.0  # seconds a period lasts at least (the first, the longest Retry-After)
        self.reached = False  # the reports of the period being measured showed it reached a limit
        self.paced_at: float | None = None  # the pace learned before that period (per minute)
        self.closed_until = float("-inf")  # the budget reopens then, as the last worker to meet it saw
        self.awaited: set[str] = set()  # the workers that met it spent and have not reported since
        self.rate: float | None = None  # per minute, the last learned
        self.reports = 0

    def restore(self, rate: float) -> None:
        """A restarted limiter rebuilt the pace it lost (per minute): the cluster paces at it, and a
        budget spent at it never teaches a faster one."""
        if self.rate is None:
            self.rate = rate

    def spent(self, worker: str, ran_out: float, retry_after: float) -> None:
        """``worker`` met the budget spent at ``ran_out``; the server asked for ``retry_after`` s."""
        self.closed_until = max(self.closed_until, ran_out + retry_after)
        self.awaited.add(worker)

    def known(self, now: float) -> tuple[float | None, float]:
        """The pace learned (per minute, None if none is) and the seconds a worker that starts at
        ``now`` should wait before asking again, or sending: until the budget reopens, then until the
        workers that met it spent report (0 when there is nothing to wait for)."""
        wait = self.closed_until - now
        if wait <= 0 and self.awaited and now < self.closed_until + REPORT_WAIT_S:
            wait = REPORT_POLL_S
        return self.rate, max(0.0, wait)

    def report(
        self,
        worker: str,
        sends: Mapping[str, Iterable[float]],
        *,
        first_sent: float,
        ran_out: float,
        retry_after: float,
        refused_sent: float,
    ) -> float | None:
        """``worker``'s sends since its last report; the budget ran out at ``ran_out`` (by the refusal of
        a request sent at ``refused_sent``) and the server asked for ``retry_after`` seconds. Returns
        the cluster's pace, per minute (None while none is learned)."""
        self.reports += 1
        self.awaited.discard(worker)
        self.log.extend(sends)
        self.first_sent = min(self.first_sent, first_sent)
        self.shortest = max(self.shortest, retry_after)
        if self.reopens is None or refused_sent >= self.reopens:  # sent after it reopened: a new one
            if self.reopens is not None:
                self.reopenings = [*self.reopenings[-999:], self.reopens]
            self.reopens = ran_out + retry_after
            self.reached = False
            self.paced_at = self.rate
        reopens = self.reopens
        start = max((t for t in self.reopenings if reopens - t >= self.shortest), default=self.first_sent)
        if start < self.history_from:  # the other workers' sends in it went to the lost limiter
            return self.rate
        pace = self.log.pace(start, reopens, reopens, reached=self.reached)
        if pace is not None:
            self.reached = True
            if self.rate is None:
                self.shortest = max(self.shortest, pace.period_s)
            self.rate = pace.requests_per_minute
            if self.paced_at is not None:  # it was met at that pace: never faster
                self.rate = min(self.rate, self.paced_at)
        return self.rate
