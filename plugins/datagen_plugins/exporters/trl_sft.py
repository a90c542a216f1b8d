"""``trl_sft`` (``trl-sft`` on the command line too): rows TRL's ``SFTTrainer`` reads, exactly one of its
key sets and nothing else.

``style = "messages"`` (the default): ``{"messages": [...]}``, the whole conversation; ``style =
"prompt_completion"``: ``{"prompt": [...], "completion": [...]}``, the last answer as the completion (so
the loss can be on it alone). ``conversational = false`` writes strings instead of turns (a system
prompt is then lost; TRL reads ``{"text"}`` for plain language modelling, ``pretraining``)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, UsageError, hookimpl
from datagen_plugins.exporters._shape import (
    ChatOptions,
    RowExporter,
    as_text,
    prompt_and_answer,
    turns,
)

STYLES = ("messages", "prompt_completion")


@attrs.define
class SFTOptions(ChatOptions):
    """Options of ``[exporter.trl_sft]``."""

    style: str = "messages"
    conversational: bool = True


class TRLSFT(RowExporter):
    """Rows for TRL's SFTTrainer."""

    name: ClassVar[str] = "trl_sft"
    Config: ClassVar[type[Any]] = SFTOptions
    config: SFTOptions

    def __init__(self, config: SFTOptions) -> None:
        if config.style not in STYLES:
            raise UsageError(
                f"$.exporter.trl_sft.style: expected one of {', '.join(STYLES)}, got {config.style!r}"
            )
        if config.style == "messages" and not config.conversational:
            raise UsageError("$.exporter.trl_sft.conversational: the messages style is conversational")
        self.config = config

    def row(self, record: Record) -> dict[str, Any]:
        """One of TRL's key sets: ``{messages}`` or ``{prompt, completion}``."""
        if self.config.style == "messages":
            return {"messages": turns(record, self.config)}
        prompt, answer = prompt_and_answer(record, self.config)
        if not self.config.conversational:
            return {"prompt": as_text(prompt), "completion": answer}
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}]}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the trl_sft exporter."""
    register(TRLSFT)
