"""One generation job and its counters: what the engine, the stages and the report share."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from datagen._datamodel.config import DatagenConfig
from datagen._datamodel.records import Usage, new_id, utc_now


@attrs.define
class RunStats:
    """Counters of one run, reported at its end."""

    #: requests answered by the backend
    requests: int = 0
    cached: int = 0
    retries: int = 0
    failed: int = 0
    #: HTTP requests put on the wire, every attempt: what the server saw and may bill
    sent: int = 0
    #: requests sent and then cancelled before their answer (the run had what it needed); cost unknown
    abandoned: int = 0
    #: records the method produced (before filters)
    generated: int = 0
    #: records written (after filters)
    records: int = 0
    #: records the output stages removed
    removed: int = 0
    #: records written whose answer stopped at the token limit (``finish_reasons`` counts requests)
    truncated: int = 0
    #: requests sent again with another sampling seed after an answer the method could not use
    asked_again: int = 0
    usage: Usage = attrs.field(factory=lambda: Usage(cost_usd=0.0))
    finish_reasons: Counter[str] = attrs.field(factory=Counter)
    dropped: Counter[str] = attrs.field(factory=Counter)
    stopped: str | None = None
    #: ``[generate] personas``: the file, how many it held, duplicates removed, how many jobs used
    personas: dict[str, Any] = attrs.field(factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for logs and reports."""
        return {
            "requests": self.requests,
            "sent": self.sent,
            "abandoned": self.abandoned,
            "cached": self.cached,
            "retries": self.retries,
            "failed": self.failed,
            "removed": self.removed,
            "truncated": self.truncated,
            "asked_again": self.asked_again,
            "generated": self.generated,
            "records": self.records,
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
            "cost_usd": self.usage.cost_usd,
            "finish_reasons": dict(self.finish_reasons),
            "dropped": dict(self.dropped),
            "stopped": self.stopped,
        }


@attrs.define
class Run:
    """One generation job, as the lifecycle hooks see it."""

    config: DatagenConfig
    method: str
    backend: str
    model: str | None
    count: int
    out: Path | None = None
    id: str = attrs.field(factory=new_id)
    #: the most records the method is asked for: ``count``, or more when stages may remove some
    limit: int = attrs.field(default=attrs.Factory(lambda self: self.count, takes_self=True))
    started_at: str = attrs.field(factory=utc_now)
    stats: RunStats = attrs.field(factory=RunStats)


class Demand:
    """How many records a run still wants: a read-only view of its counters for methods and stages,
    which ask it instead of reading (or writing) the runner's stats."""

    __slots__ = ("_run",)

    def __init__(self, run: Run) -> None:
        self._run = run

    @property
    def requested(self) -> int:
        """The records the run was asked to write."""
        return self._run.count

    @property
    def limit(self) -> int:
        """The candidates the method may produce: ``requested``, or up to ``max_attempts_factor`` times
        it when stages may remove some."""
        return self._run.limit

    @property
    def produced(self) -> int:
        """Candidates the method has produced so far (before the stages)."""
        return self._run.stats.generated

    @property
    def written(self) -> int:
        """Records that passed every stage so far."""
        return self._run.stats.records

    def still_wanted(self) -> int:
        """Records still to be written for the run to be complete."""
        return max(0, self._run.count - self._run.stats.records)

    def remaining(self, produced: int, limit: int) -> int:
        """How many more candidates to work on now, having produced ``produced`` of ``limit``.

        Without stages that remove records that is ``limit - produced``. With them, the records still
        wanted scaled by the share that has survived the stages so far (records the stages hold
        undecided, a stage working in batches, count as surviving at that rate), so a run pays only for
        the candidates it needs; at least one while any is left."""
        left = max(0, limit - produced)
        stats = self._run.stats
        wanted = self._run.count - stats.records
        decided = stats.records + stats.removed
        pending = max(0, stats.generated - decided)
        survival = stats.records / decided if decided else 1.0
        need = wanted - pending * survival
        if need <= 0:
            return min(left, 1)
        return min(left, max(1, math.ceil(need / max(survival, 1 / max(1, self._run.limit)))))
