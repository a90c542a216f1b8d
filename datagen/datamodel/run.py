"""One generation job and its counters: what the engine, the stages and the report share."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from datagen.datamodel.config import DatagenConfig
from datagen.datamodel.records import Usage, new_id, utc_now


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
