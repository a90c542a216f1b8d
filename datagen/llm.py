"""What a generation method sends to a backend and what comes back."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from datagen.records import Message, Usage

#: finish reasons every backend maps its own onto
FINISH_REASONS = ("stop", "length", "content_filter", "tool_use", "error")


@attrs.frozen
class Request:
    """One LLM request: chat ``messages`` or a completion ``prompt``, with sampling parameters."""

    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: Mapping[str, Any] | None = None

    def __attrs_post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request needs exactly one of messages or prompt")

    @property
    def is_chat(self) -> bool:
        """Whether this is a chat request (else a completion)."""
        return self.messages is not None

    def payload(self) -> dict[str, Any]:
        """Everything that determines the answer, as plain JSON-ready data."""
        from datagen.config import converter

        data: dict[str, Any] = converter.unstructure(self)
        return data

    def digest(self) -> str:
        """A hex SHA-256 of :meth:`payload`, stable across runs and processes."""
        blob = json.dumps(self.payload(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


@attrs.frozen
class Response:
    """A backend's answer: text, why it stopped, what it cost, which model gave it."""

    text: str
    finish_reason: str = "stop"
    usage: Usage = attrs.field(factory=Usage)
    model: str | None = None

    @property
    def complete(self) -> bool:
        """True when the model stopped by itself (not truncated, not filtered)."""
        return self.finish_reason in {"stop", "tool_use"}
