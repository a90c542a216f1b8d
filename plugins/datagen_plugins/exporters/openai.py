"""``openai``: OpenAI chat fine-tuning JSON Lines, ``{"messages": [{role, content}, ...]}`` per line."""

from __future__ import annotations

from typing import Any, ClassVar

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, turns


class OpenAIChat(RowExporter):
    """Each record as one conversation; a record without an assistant answer is an error."""

    name: ClassVar[str] = "openai"
    Config: ClassVar[type[Any]] = ChatOptions
    config: ChatOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{"messages": [...]}``."""
        return {"messages": turns(record, self.config)}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the openai exporter."""
    register(OpenAIChat)
