"""``trl_dpo`` (``trl-dpo`` on the command line too): ``{"prompt", "chosen", "rejected"}`` rows for TRL's
``DPOTrainer`` (and other preference trainers), from records that carry both answers in their metadata
(``chosen_field``, ``rejected_field``; a pipeline's ``chosen`` and ``rejected`` columns land there). The
prompt is the record's instruction (with its input) or its messages up to the last user turn; a record
without both answers is an error naming it."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import (
    ChatOptions,
    RowExporter,
    Unfit,
    as_text,
    prompt_turns,
)


@attrs.define
class DPOOptions(ChatOptions):
    """Options of ``[exporter.trl_dpo]``."""

    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    conversational: bool = True


def answer(record: Record, field: str) -> str:
    """The answer a record's metadata holds under ``field`` (a string, or an assistant turn)."""
    value = record.metadata.get(field)
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str) or not value.strip():
        raise Unfit(f"no {field!r} answer in its metadata")
    return value


class TRLDPO(RowExporter):
    """Preference pairs for TRL."""

    name: ClassVar[str] = "trl_dpo"
    Config: ClassVar[type[Any]] = DPOOptions
    config: DPOOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{prompt, chosen, rejected}``."""
        c = self.config
        prompt = prompt_turns(record, c)
        chosen, rejected = answer(record, c.chosen_field), answer(record, c.rejected_field)
        if chosen == rejected:
            raise Unfit("the chosen and rejected answers are the same")
        if not c.conversational:
            return {"prompt": as_text(prompt), "chosen": chosen, "rejected": rejected}
        return {
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the trl_dpo exporter."""
    register(TRLDPO)
