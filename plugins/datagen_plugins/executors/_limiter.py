"""One rate limit for a whole cluster: shares of the configured rate, leased from one limiter.

:class:`Shares` is the arithmetic. For each model and kind (requests, tokens) it hands each worker
that sends a share of the configured rate for ``ttl_s`` seconds:

- the fair share is the rate over the workers holding a lease, and at the start over the workers the
  run has (``expected``) until they have all joined, or ``EXPECTED_WITHIN_S`` after the first did:
  each is granted its share of the whole cluster from its first lease, settled once all have joined;
- a share is never more than what the others' shares leave, so the shares never add up to more than
  the rate. A newcomer starts with what is left, which may be nothing; the others come down to their
  fair share when they renew, and the newcomer takes it up at its next renewal;
- a worker that stops renewing (it finished, or died) loses its lease after ``ttl_s``, and one that
  finishes hands it back at once.

Each worker paces its own requests at its share, so the cluster never sends faster than the rate.
The limiter tells each worker when to renew:

- at its fair share, ``renew_s`` after it changed (workers come and go in bunches), and twice the
  last interval each time it comes back the same, up to the longer of ``renew_s`` and the time the
  worker takes to send 200 requests at the pace it sent since the last renewal (at most
  ``longest_s``, 30 s; counted in requests for a token rate too): limiter calls stay near 0.5 % of
  the requests at any rate above about 7 a second per worker, and a worker joining or leaving is
  taken up within one interval; a first lease among the workers expected, at once when all joined
  (a learned pace's share too, at its shorter longest interval);
- below it (a newcomer), just after the first renewal due of a worker above its fair share, when
  more may be left: every ``renew_s / 4`` while that worker is late by less than ``renew_s``, else
  when its lease ends. A newcomer waiting 10 s for a steady worker to come down asks twice, not
  forty times.

Each lease lasts two intervals and ``renew_s`` from the renewal that granted it: the longest a
worker that went quiet keeps its share from the others. A worker that died and was restarted renews
under its old name (see :func:`ray_bucket`) and takes its own lease over.

The ray executor keeps :class:`Shares` in one detached, named actor that Ray restarts if it dies. A
restarted limiter has lost the table: for one ``ttl_s`` (the longest lease the lost one granted) it
rebuilds it from the shares the workers say they hold, and shares out no more than those add up to,
so a restart never lets more through: the leases not yet reported are at most the rest of the rate.
A share handed back (a worker done) goes to the others; nothing else grows until the leases run out.
A pace learned from 429s is lost with it: the limiter rebuilds it from the shares of it the workers
held (not from each worker's figure of it, which may be a report's passing value), and measures no
period that began before the restart (the workers reported the earlier sends to the lost limiter).

:class:`SharedRate` is a worker's side: the engine's bucket for a configured limit, or one the
server announces in its rate-limit headers (the ``shared_rate_bucket`` service)."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from datagen.plugin import ClusterPace

#: the kind of a share of a pace learned from 429s (the rate is the limiter's, not the worker's)
LEARNED = "learned"

#: one renewal: model key, kind, rate per minute, holder, and the lease's terms (see Shares.share)
Ask = tuple[str, str, float, str, dict[str, Any]]


class Shares:
    """Leases of a share of each (model key, kind)'s configured rate."""

    #: how long after another holder's renewal falls due a holder waiting for a share asks again
    AFTER_S = 0.05
    #: the longest between renewals of a share of a learned pace, which changes as the workers
    #: report (the unannounced arm of benchmarks/ray_executor.py is measured at 10 s; with 30 s and
    #: the expected count applied to it, 4 workers at 1,200 a minute fell from 0.89x to 0.79x)
    LEARNED_LONGEST_S = 10.0

    #: how long after the first holder of a (model key, kind) joined the holders still expected are
    #: counted in the fair share (a worker that starts late must not keep its share from the others)
    EXPECTED_WITHIN_S = 3.0

    def __init__(
        self,
        *,
        ttl_s: float = 3.0,
        restarted: bool = False,
        expected: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_s = ttl_s
        #: holders expected per (model key, kind): the run's workers, each given its fair share of the
        #: rate divided among them all from its first lease, before the others join
        self.expected = expected
        self.joined: dict[tuple[str, str], set[str]] = {}  # every holder that ever held a lease
        self.first_joined: dict[tuple[str, str], float] = {}
        #: paces learned from the workers' 429s, by model key: a ``learned`` kind leases a share of
        #: the model's (see :meth:`pace`)
        self.paces: dict[str, ClusterPace] = {}
        self.clock = clock
        #: until when a restarted limiter rebuilds its table (the lost one's leases may still run) ...
        self.frozen_until = clock() + ttl_s if restarted else float("-inf")
        #: ... and when (the wall clock) it began to hear the workers' sends: the paces it learns
        #: measure no period that started before (the reports of earlier sends went to the lost one)
        self.history_from = wall() if restarted else float("-inf")
        #: ... and the shares the holders said they held when they first came back, by (model key,
        #: kind): what it may share out meanwhile (the leases not reported add up to at most the rest)
        self.reported: dict[tuple[str, str], dict[str, float]] = {}
        self.leases: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}  # holder -> (rate, expiry)
        #: when each holder is due to renew (the clock), by (model key, kind)
        self.due: dict[tuple[str, str], dict[str, float]] = {}
        self.calls = 0

    def share(
        self, key: str, kind: str, rate_per_min: float, holder: str, **lease: Any
    ) -> tuple[float, float]:
        """``holder``'s share of ``rate_per_min`` (per minute) for the next ``ttl_s`` (at most the
        limiter's), and the seconds until it should renew: ``steady_s`` (default ``renew_s``) at its
        fair share, else the time until another holder's renewal or lease end may leave it more
        (never under ``renew_s / 4``; at most ``steady_s`` when it holds some). A first lease at the
        fair share among the expected holders lasts ``settled_s`` (the longest the holder renews at;
        default ``steady_s``): the others joining will not change it. ``holding`` is the share it paces
        at now, what a restarted limiter rebuilds its table from."""
        self.calls += 1
        return self._share(key, kind, rate_per_min, holder, **lease)

    def share_many(self, asks: Sequence[Ask]) -> list[tuple[float, float]]:
        """Several holders' :meth:`share` in one call (a worker's buckets of one model renewing
        together), counted as one."""
        self.calls += 1
        return [self._share(key, kind, rate, holder, **lease) for key, kind, rate, holder, lease in asks]

    def _share(
        self,
        key: str,
        kind: str,
        rate_per_min: float,
        holder: str,
        *,
        holding: float = 0.0,
        ttl_s: float | None = None,
        renew_s: float = 1.0,
        steady_s: float | None = None,
        settled_s: float | None = None,
    ) -> tuple[float, float]:
        now = self.clock()
        frozen = now < self.frozen_until
        if frozen:
            self.reported.setdefault((key, kind), {}).setdefault(holder, holding)
        if kind == LEARNED:
            rate_per_min = self._learned_rate(key, rate_per_min, frozen=frozen)
        table = self.leases.setdefault((key, kind), {})
        due = self.due.setdefault((key, kind), {})
        for other in [h for h, (_, expiry) in table.items() if expiry <= now]:
            del table[other]  # stopped renewing: finished or died
            due.pop(other, None)
        first = holder not in table
        if first:
            table[holder] = (holding if frozen else 0.0, now)
        joined = self.joined.setdefault((key, kind), set())
        joined.add(holder)
        since = self.first_joined.setdefault((key, kind), now)
        steady = steady_s or renew_s
        # the holders still expected count in the fair share (a worker restarted under its old name
        # takes its own lease over); not a learned pace's, which the workers take up one by one, as
        # each meets the budget spent
        expected = 0 if kind == LEARNED else self.expected
        waited = max(0, expected - len(joined)) if now - since < self.EXPECTED_WITHIN_S else 0
        fair = rate_per_min / (len(table) + waited)
        others = sum(rate for h, (rate, _) in table.items() if h != holder)
        shared = sum(self.reported[key, kind].values()) if frozen else rate_per_min
        grant = max(0.0, min(fair, min(shared, rate_per_min) - others))
        lease_s = ttl_s or self.ttl_s
        unchanged = abs(grant - holding) <= 0.01 * holding
        if not grant >= 0.99 * fair > 0 and grant > 0 and frozen:
            # held by a restarted limiter: the shares not reported yet come back at their holders'
            # own renewals, unknown here, so asking sooner than its pace would only cost calls (the
            # holders back first, below a fair share of those back, asked every 0.25 s)
            next_s = min(steady, max(renew_s / 4, self.frozen_until - now + self.AFTER_S))
        elif not grant >= 0.99 * fair > 0:  # less: more is left as the others come down, and a lease
            # must last until then
            next_s = self._freed_in(table, due, holder, now, renew_s=renew_s, fair=fair)
            if grant > 0:
                next_s = min(next_s, steady)
        elif expected and len(table) == len(joined) <= expected:
            # the run's start, none gone yet: a fair share among all expected is settled once they
            # have all joined (or the wait for them is over); until then, renewed when it is
            if waited:
                next_s = max(renew_s / 4, since + self.EXPECTED_WITHIN_S - now + self.AFTER_S)
            elif first or unchanged:
                next_s = min(settled_s or steady, max(steady, (self.ttl_s - renew_s) / 2))
            else:
                next_s = renew_s
            lease_s = max(lease_s, SharedRate.lease_s(next_s, renew_s))
        elif kind == LEARNED and self.expected and len(table) >= self.expected:
            # every worker the run has holds a share of the pace: none is left to join, so the
            # renewals need not double up from renew_s (a change of pace is taken up within the
            # longest interval; a worker that leaves, when the others renew)
            next_s = min(settled_s or steady, self.LEARNED_LONGEST_S)
            lease_s = max(lease_s, SharedRate.lease_s(next_s, renew_s))  # (it asked for a shorter)
        else:  # its fair share: soon again if it changed (changes come in bunches)
            next_s = steady if unchanged else renew_s
        if kind == LEARNED:
            next_s = min(next_s, self.LEARNED_LONGEST_S)
        table[holder] = (grant, now + min(self.ttl_s, lease_s))
        due[holder] = now + next_s
        return grant, next_s

    def _learned_rate(self, key: str, asked: float, *, frozen: bool) -> float:
        """The pace (per minute) of which a share of ``key``'s learned pace is leased: the one the
        limiter learned, else, on a restarted limiter that lost it, what the holders said they held
        when they came back (kept as the pace once the rebuilding is over), else the holder's own
        figure (``asked``). A holder's figure is the last its reports returned, which may be a passing
        one (a period measured from its sends alone, before the others reported: one worker of four
        came back with its own quarter, and a share of that was nothing)."""
        pace = self.paces.get(key)
        if pace is not None and pace.rate is not None:
            return pace.rate
        held = self._held(key)
        if held <= 0:
            return asked
        if not frozen:
            self._pace(key).restore(held)
        return held

    def _held(self, key: str) -> float:
        """What the holders of shares of ``key``'s learned pace said they held when they came back
        to a restarted limiter (0: none did, or it was not restarted)."""
        return sum(self.reported.get((key, LEARNED), {}).values())

    def _freed_in(
        self,
        table: Mapping[str, tuple[float, float]],
        due: Mapping[str, float],
        holder: str,
        now: float,
        *,
        renew_s: float,
        fair: float,
    ) -> float:
        """Seconds until more may be left for ``holder``: just after the first renewal due of another
        holder above its fair share (of any with a share, if none is), asked again soon while one is
        overdue by under ``renew_s``, else the first lease to end; or the end of a restarted
        limiter's rebuilding."""
        events = [self.frozen_until] if self.frozen_until > now else []
        others = {h: lease for h, lease in table.items() if h != holder and lease[0] > 0}
        above = {h: lease for h, lease in others.items() if lease[0] > 1.01 * fair} or others
        for other, (_, expiry) in above.items():
            when = due.get(other, expiry)
            events.append(when if when > now else now if now - when < renew_s else expiry)
        if not events:
            return renew_s
        return max(renew_s / 4, min(events) - now + self.AFTER_S)

    def _pace(self, key: str) -> ClusterPace:
        """``key``'s pace, made on first use."""
        pace = self.paces.get(key)
        if pace is None:
            pace = self.paces[key] = ClusterPace(history_from=self.history_from)
        return pace

    def pace(
        self, key: str, holder: str, sends: Mapping[str, Sequence[float]], **exhaustion: float
    ) -> float | None:
        """A worker met a budget the server does not announce: its sends since it last reported (wall
        clock) and when the budget ran out (:meth:`ClusterPace.report`'s ``exhaustion``); the
        cluster's pace learned from every worker's, per minute (None: none yet)."""
        self.calls += 1
        return self._pace(key).report(holder, sends, **exhaustion)

    def learned(self, key: str, now: float) -> tuple[float | None, float]:
        """The pace learned of ``key``'s server, per minute (None: none yet), and the seconds from
        ``now`` (the wall clock) until its budget reopens, if a worker met it spent."""
        self.calls += 1
        rate, wait = self._pace(key).known(now)
        if rate is None:  # a restarted limiter rebuilding it: what the holders came back with
            rate = self._held(key) or None
        return rate, wait

    def spent(self, key: str, holder: str, ran_out: float, retry_after: float) -> None:
        """``holder`` met ``key``'s budget spent at ``ran_out`` (the wall clock)."""
        self.calls += 1
        self._pace(key).spent(holder, ran_out, retry_after)

    def release(self, key: str, kind: str, holder: str) -> None:
        """``holder`` is done: its share is free for the others' next renewal."""
        self.leases.get((key, kind), {}).pop(holder, None)
        self.due.get((key, kind), {}).pop(holder, None)

    def stats(self) -> dict[str, Any]:
        """Calls answered, and the paces learned (requests a minute, by model key)."""
        paces = {key: round(p.rate, 1) for key, p in self.paces.items() if p.rate is not None}
        return {"calls": self.calls, "paces": paces}


class SharedRate:
    """A worker's bucket for one configured limit: it paces takers at the share the limiter leases
    it, renewing the lease as the module says (``share`` and ``release`` reach the limiter).

    Takers are served one at a time: the first waits for its turn at the current share, waking to
    renew when a renewal falls due, so a changed share applies to the next request (a schedule
    computed ahead for every waiting taker would keep a share the limiter already gave away)."""

    #: requests sent at the share between two renewals, once the share is steady
    REQUESTS_PER_CALL = 200

    def __init__(
        self,
        limiter: tuple[Callable[..., Awaitable[tuple[float, float]]], Callable[[str, str, str], None]],
        key: str,
        kind: str,
        rate_per_min: float,
        *,
        renew_s: float = 1.0,
        longest_s: float = 30.0,
        holder: str | None = None,
        share_many: Callable[[Sequence[Ask]], Awaitable[Sequence[tuple[float, float]]]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._share, self._release = limiter
        self.key, self.kind, self.rate_per_min = key, kind, rate_per_min
        #: the name the limiter knows this bucket by (a restarted worker's buckets keep theirs)
        self.holder = holder or uuid.uuid4().hex
        self.renew_s = renew_s
        self.longest_s = max(renew_s, longest_s)
        self.interval = renew_s  # until the next renewal
        self.clock = clock
        self.rate = 0.0  # per second, as leased
        self.renew_at = float("-inf")
        self.next_at = float("-inf")  # when the next taker may go (GCRA)
        self._last = 0.0  # the amount of the last turn taken
        self._turns = 0  # turns taken since the last renewal ...
        self._renewed_at = clock()  # ... which was then
        self.calls = 0
        #: when requests sent before the bucket was made went, and what each spent (charge)
        self._owed: list[tuple[float, float]] = []
        self._lock: asyncio.Lock | None = None
        #: the buckets of the same model in this worker (this one among them), whose renewals due
        #: soon go in one call with this one's (``share_many``, when given)
        self.siblings: list[SharedRate] = [self]
        self._share_many = share_many
        self._renewing = False

    @staticmethod
    def lease_s(interval: float, renew_s: float) -> float:
        """How long a lease renewed every ``interval`` lasts."""
        return 2 * interval + renew_s

    def _ask(self) -> Ask:
        """This bucket's renewal, as the limiter's :meth:`Shares.share` takes it."""
        # a steady share is renewed once per 200 requests sent (turns, not units: a token bucket's
        # turns go at the request rate), at most every longest_s
        now = self.clock()
        sent_per_s = self._turns / max(now - self._renewed_at, 1e-9)
        self._turns, self._renewed_at = 0, now
        steady = min(self.longest_s, max(self.renew_s, self.REQUESTS_PER_CALL / max(sent_per_s, 1e-9)))
        longer = min(steady, 2 * self.interval)
        self.calls += 1
        lease = {
            "holding": self.rate * 60,
            "ttl_s": self.lease_s(longer, self.renew_s),
            "renew_s": self.renew_s,
            "steady_s": longer,
            "settled_s": steady,
        }
        return self.key, self.kind, self.rate_per_min, self.holder, lease

    def _granted(self, granted: float, next_s: float) -> None:
        """Pace at the share the limiter ``granted`` (per minute) until ``next_s`` from now."""
        rate = granted / 60.0
        if rate > 0 and self.rate > 0:  # the last turn's spacing at the new share
            self.next_at += self._last * (1 / rate - 1 / self.rate)
        if rate > 0 and self._owed:  # paced from when they went, at the first share granted
            for sent, amount in self._owed:
                self.next_at = max(self.next_at, sent) + amount / rate
            self._owed = []
        # below its fair share it asks again when the limiter expects more left, not on a timer
        self.interval = next_s
        self.rate = rate
        self.renew_at = self.clock() + next_s

    def _rides(self, now: float) -> bool:
        """Whether this bucket's renewal may go with a sibling's: in use (it never renewed, or took a
        turn since it last did: an idle bucket lets its lease run out), due within half its
        interval, and not on its way already."""
        in_use = self._turns > 0 or self.calls == 0
        return in_use and not self._renewing and self.renew_at - now <= self.interval / 2

    async def _renew(self) -> None:
        now = self.clock()
        riders = [b for b in self.siblings if b is not self and b._rides(now)]
        asked = [self, *riders] if self._share_many is not None else [self]
        for bucket in asked:
            bucket._renewing = True
        try:
            if len(asked) > 1:
                assert self._share_many is not None
                answers = await self._share_many([bucket._ask() for bucket in asked])
                for bucket, (granted, next_s) in zip(asked, answers, strict=True):
                    bucket._granted(granted, next_s)
            else:
                key, kind, rate, holder, lease = self._ask()
                self._granted(*await self._share(key, kind, rate, holder, **lease))
        finally:
            for bucket in asked:
                bucket._renewing = False

    async def take(
        self, amount: float, sleep: Callable[[float], Awaitable[None]], *, first: bool = False
    ) -> None:
        """Wait for ``amount`` at the leased share (arrival order; ``first`` is not honoured)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            while True:
                now = self.clock()
                if now >= self.renew_at:
                    await self._renew()
                elif self.rate <= 0:
                    # nothing left yet: the others come down to their fair share as they renew
                    await sleep(self.renew_at - now)
                elif self.next_at > now:
                    await sleep(min(self.next_at, self.renew_at) - now)
                else:
                    break
            # a turn taken late by a timer (less than half a step) keeps the pace; an idle one is new
            step = amount / self.rate
            self.next_at = (self.next_at if self.next_at >= now - step / 2 else now) + step
            self._last = amount
            self._turns += 1

    def give_back(self, amount: float) -> None:
        """Tokens estimated above their use: the next taker may go that much sooner."""
        if self.rate > 0 and amount > 0:
            self.next_at = max(self.clock(), self.next_at - amount / self.rate)

    def charge(self, ago: Sequence[float], amounts: Sequence[float] | None = None) -> None:
        """Requests sent ``ago`` seconds before now, before the bucket was made, each spending its
        ``amounts`` (one when None): the first share granted paces them as if they had been its
        turns, so a burst is paid for by waiting."""
        now = self.clock()
        spent = amounts if amounts is not None else [1.0] * len(ago)
        self._owed = sorted([*self._owed, *((now - a, n) for a, n in zip(ago, spent, strict=True))])

    def set_rate(self, rate_per_min: float) -> None:
        """A new limit (a server announced another, or the cluster learned another pace): renewed
        with the next taker."""
        if rate_per_min != self.rate_per_min:
            self.rate_per_min = rate_per_min
            self.renew_at = float("-inf")

    def release(self) -> None:
        """The engine is closing: its share goes back to the others."""
        if self.rate > 0 or self.calls:
            self._release(self.key, self.kind, self.holder)
        self.rate = 0.0
        if self in self.siblings:
            self.siblings.remove(self)


class LimiterActor:
    """The limiter as a Ray actor (made with ``ray.remote`` by the executor)."""

    def __init__(self, ttl_s: float, expected: int = 0) -> None:
        import ray

        with warnings.catch_warnings():  # ray's own property reads a deprecated attribute
            warnings.simplefilter("ignore", DeprecationWarning)
            restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        self.shares = Shares(ttl_s=ttl_s, restarted=restarted, expected=expected)

    def share(
        self, key: str, kind: str, rate_per_min: float, holder: str, **lease: float
    ) -> tuple[float, float]:
        return self.shares.share(key, kind, rate_per_min, holder, **lease)

    def share_many(self, asks: Sequence[Ask]) -> list[tuple[float, float]]:
        return self.shares.share_many(asks)

    def release(self, key: str, kind: str, holder: str) -> None:
        self.shares.release(key, kind, holder)

    def learned(self, key: str, now: float) -> tuple[float | None, float]:
        return self.shares.learned(key, now)

    def spent(self, key: str, holder: str, ran_out: float, retry_after: float) -> None:
        self.shares.spent(key, holder, ran_out, retry_after)

    def pace(
        self, key: str, holder: str, sends: Mapping[str, Sequence[float]], **exhaustion: float
    ) -> float | None:
        return self.shares.pace(key, holder, sends, **exhaustion)

    def stats(self) -> dict[str, Any]:
        return self.shares.stats()


def ray_bucket(
    limiter: Any, renew_s: float, longest_s: float, worker: str
) -> Callable[[str, str, float], SharedRate]:
    """The ``shared_rate_bucket`` service of the worker named ``worker``: buckets leasing shares from
    ``limiter``, named after the worker and the order they are made in, so the buckets of a worker Ray
    restarts take over the leases of the one that died. A model's buckets (requests, tokens) renew
    together in one call when their renewals fall due close together."""
    made: dict[tuple[str, str], int] = {}
    siblings: dict[str, list[SharedRate]] = {}

    async def share(
        key: str, kind: str, rate_per_min: float, holder: str, **lease: Any
    ) -> tuple[float, float]:
        granted: tuple[float, float] = await limiter.share.remote(key, kind, rate_per_min, holder, **lease)
        return granted

    async def share_many(asks: Sequence[Ask]) -> list[tuple[float, float]]:
        granted: list[tuple[float, float]] = await limiter.share_many.remote(list(asks))
        return granted

    def release(key: str, kind: str, holder: str) -> None:
        limiter.release.remote(key, kind, holder)  # not waited for: the engine is closing

    def bucket(key: str, kind: str, rate_per_min: float) -> SharedRate:
        n = made[key, kind] = made.get((key, kind), 0) + 1
        holder = f"{worker}/{key}/{kind}/{n}"
        made_now = SharedRate(
            (share, release),
            key,
            kind,
            rate_per_min,
            renew_s=renew_s,
            longest_s=longest_s,
            holder=holder,
            share_many=share_many,
        )
        made_now.siblings = siblings.setdefault(key, [])
        made_now.siblings.append(made_now)
        return made_now

    return bucket


class RayPace:
    """A worker's side of the cluster's pace of one model (the ``shared_pace`` service): its sends
    reported to the limiter on the wall clock."""

    def __init__(self, limiter: Any, key: str) -> None:
        self.limiter, self.key = limiter, key
        self.holder = uuid.uuid4().hex

    async def known(self) -> tuple[float | None, float]:
        known: tuple[float | None, float] = await self.limiter.learned.remote(self.key, time.time())
        return known

    def spent(self, retry_after: float) -> None:
        self.limiter.spent.remote(self.key, self.holder, time.time(), retry_after)  # not waited for

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
        shift = time.time() - now  # the engine's clock (monotonic) to the cluster's
        rate: float | None = await self.limiter.pace.remote(
            self.key,
            self.holder,
            {kind: [t + shift for t in times] for kind, times in sends.items()},
            first_sent=first_sent + shift,
            ran_out=ran_out + shift,
            retry_after=retry_after,
            refused_sent=refused_sent + shift,
        )
        return rate
