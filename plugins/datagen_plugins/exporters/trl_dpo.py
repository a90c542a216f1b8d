"""``trl_dpo`` (``trl-dpo`` on the command line too): ``{"prompt", "chosen", "rejected"}`` rows for TRL's
``DPOTrainer`` (and other preference trainers), from records that carry both answers in their metadata
(``chosen_field``, ``rejected_field``; a pipeline's ``chosen`` and ``rejected`` columns land there). The
prompt is the record's instruction (with its input) or its messages up to the last user turn; a record
without both answers is an error naming it."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, preference_row


@attrs.define
class DPOOptions(ChatOptions):
    """Options of ``[exporter.trl_dpo]``."""

    chosen_field: str = "chosen"
    rejected_field: str = "rejected"
    conversational: bool = True


class TRLDPO(RowExporter):
    """Preference pairs for TRL."""

    name: ClassVar[str] = "trl_dpo"
    Config: ClassVar[type[Any]] = DPOOptions
    config: DPOOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{prompt, chosen, rejected}``."""
        c = self.config
        return preference_row(record, c, c.chosen_field, c.rejected_field, conversational=c.conversational)


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the trl_dpo exporter."""
    register(TRLDPO)
