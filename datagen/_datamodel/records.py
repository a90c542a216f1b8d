"""Frozen attrs records: the unit of data every plugin produces and consumes."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import attrs

Role = Literal["system", "user", "assistant", "tool"]
ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


def utc_now() -> str:
    """The current UTC time as an ISO-8601 string with a ``Z`` suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    """A random record id (32 hex characters)."""
    return uuid.uuid4().hex


def stable_id(*parts: object) -> str:
    """A deterministic record id from JSON-serialisable parts, so a rerun yields the same ids."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _check_role(_inst: object, _attr: attrs.Attribute[str], value: str) -> None:
    if value not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {value!r}")


@attrs.frozen
class Message:
    """One turn of a conversation."""

    role: str = attrs.field(validator=_check_role)
    content: str


@attrs.frozen
class Usage:
    """Tokens a request used and what it cost; ``cost_usd`` is None when the price is unknown."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens, cost
        )


@attrs.frozen
class Provenance:
    """Where a record came from: enough to reproduce or audit it."""

    method: str
    backend: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict)
    prompt_hash: str | None = None
    seed_ids: tuple[str, ...] = ()
    parent_id: str | None = None
    created_at: str = attrs.field(factory=utc_now)
    usage: Usage = attrs.field(factory=Usage)
    finish_reason: str | None = None


@attrs.frozen
class Record:
    """An instruction/input/output example, or a multi-turn conversation in ``messages``."""

    id: str = attrs.field(factory=new_id)
    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    messages: tuple[Message, ...] | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    provenance: Provenance | None = None

    @property
    def prompt_text(self) -> str:
        """The instruction followed by its input, as a model would be asked it."""
        parts = [p for p in (self.instruction, self.input) if p]
        if not parts and self.messages:
            parts = [m.content for m in self.messages if m.role == "user"][:1]
        return "\n\n".join(parts)

    def evolve(self, **changes: Any) -> Record:
        """A copy with ``changes`` applied (records are frozen)."""
        return attrs.evolve(self, **changes)
