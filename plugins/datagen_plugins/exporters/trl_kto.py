"""``trl_kto`` (``trl-kto`` on the command line too): ``{"prompt", "completion", "label"}`` rows for TRL's
``KTOTrainer`` (unpaired preference): each record's answer with a desirable (true) or undesirable
(false) label from its metadata (``label_field``; a number counts as desirable at or above
``threshold``, so a judge's score works)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import (
    ChatOptions,
    RowExporter,
    Unfit,
    as_text,
    prompt_and_answer,
)


@attrs.define
class KTOOptions(ChatOptions):
    """Options of ``[exporter.trl_kto]``."""

    label_field: str = "label"
    threshold: float | None = None
    conversational: bool = True


class TRLKTO(RowExporter):
    """Unpaired preference rows for TRL."""

    name: ClassVar[str] = "trl_kto"
    Config: ClassVar[type[Any]] = KTOOptions
    config: KTOOptions

    def label(self, record: Record) -> bool:
        """The record's label: a boolean, or a score against ``threshold``."""
        value = record.metadata.get(self.config.label_field)
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and self.config.threshold is not None:
            return float(value) >= self.config.threshold
        wanted = "true or false" + (" or a score" if self.config.threshold is not None else "")
        raise Unfit(f"metadata {self.config.label_field!r} is {value!r}, not {wanted}")

    def row(self, record: Record) -> dict[str, Any]:
        """``{prompt, completion, label}``."""
        prompt, answer = prompt_and_answer(record, self.config)
        label = self.label(record)
        if not self.config.conversational:
            return {"prompt": as_text(prompt), "completion": answer, "label": label}
        return {"prompt": prompt, "completion": [{"role": "assistant", "content": answer}], "label": label}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the trl_kto exporter."""
    register(TRLKTO)
