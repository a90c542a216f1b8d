"""The run report: what a run (or a ``datagen filter`` pass) asked for, did, spent and removed, and why.

Every run returns one as ``results.report``; ``--report run.json`` writes the same object.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs

from datagen._datamodel.config import converter

STATUSES = ("complete", "short", "empty")


def plural(n: int, word: str) -> str:
    """``1 record``, ``2 records``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@attrs.define
class RunReport:
    """JSON-serialisable account of one run; see ``docs/records.md`` for every field."""

    run_id: str
    kind: str = "generate"  # or "filter": stages over an existing file
    method: str | None = None
    backend: str | None = None
    model: str | None = None
    backend_reason: str | None = None
    requested: int | None = None
    written: int = 0
    generated: int = 0
    status: str = "complete"
    started_at: str = ""
    finished_at: str = ""
    elapsed_s: float = 0.0
    #: requests answered
    requests: int = 0
    #: HTTP requests put on the wire, every attempt (what the server saw)
    sent: int = 0
    #: requests sent and cancelled before their answer, once the run had what it needed (cost unknown)
    abandoned: int = 0
    cached: int = 0
    retries: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    #: by request: how each answer ended (``length``: at the token limit)
    finish_reasons: dict[str, int] = attrs.field(factory=dict)
    #: records written whose own answer ended at the token limit
    truncated: int = 0
    #: requests sent again with another sampling seed after an answer the method could not use
    asked_again: int = 0
    #: candidates the method itself rejected or gave up on, by reason
    method_rejections: dict[str, int] = attrs.field(factory=dict)
    #: what the method reports of its own (``report()``, optional), e.g. a preference judge's tie rate
    method_details: dict[str, Any] = attrs.field(factory=dict)
    #: ``[generate] personas``: ``file``, ``loaded``, ``duplicates_removed``, ``used`` (distinct personas
    #: the jobs were given)
    personas: dict[str, Any] = attrs.field(factory=dict)
    #: one entry per filter / privacy stage (see :class:`datagen._kernel.stages.StageReport`)
    stages: list[dict[str, Any]] = attrs.field(factory=list)
    privacy_spent: dict[str, dict[str, float]] = attrs.field(factory=dict)
    stopped: str | None = None
    #: why fewer records were written than requested, most important first
    short_reasons: list[str] = attrs.field(factory=list)
    plugins: dict[str, str | None] = attrs.field(factory=dict)
    out: str | None = None
    rejected_file: str | None = None
    metrics: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        data: dict[str, Any] = converter.unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunReport:
        """Back from :meth:`to_dict` (or a ``--report`` file)."""
        return converter.structure(data, cls)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write as JSON, through a temporary file renamed at the end."""
        from datagen._datamodel.results import write_file

        return write_file(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunReport:
        """Read a report written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @property
    def removed(self) -> int:
        """Records removed by all stages together."""
        return sum(int(s["removed"]) for s in self.stages)

    def summary(self) -> str:
        """One line for a person: what was written, from what, at what cost."""
        cost = "unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        wanted = f" of {self.requested}" if self.requested is not None else ""
        where = f" to {self.out}" if self.out else ""
        via = f" with {self.method} via {self.backend} ({self.model})" if self.kind == "generate" else ""
        line = f"wrote {plural(self.written, 'record')}{wanted}{where}{via} in {self.elapsed_s:.1f} s"
        if self.kind == "generate":
            dropped = sum(self.method_rejections.values())
            truncated = f"{self.truncated} truncated"
            cut = self.finish_reasons.get("length", 0) - self.truncated
            if cut > 0:  # requests whose cut-off answer no record kept (e.g. a list of new tasks)
                truncated += f" ({plural(cut, 'other request')} cut at max_tokens)"
            abandoned = f", {self.abandoned} abandoned in flight (cost unknown)" if self.abandoned else ""
            line += (
                f" ({plural(self.requests, 'request')}{abandoned}, {self.cached} from cache, "
                f"{self.retries} retries, "
                f"{self.failed} failed, {self.asked_again} asked again, {dropped} dropped, {truncated}, "
                f"{self.prompt_tokens + self.completion_tokens} tokens, cost {cost})"
            )
        if self.stages:
            line += f"; {self.removed} removed by {plural(len(self.stages), 'stage')} of {self.generated}"
        return line
