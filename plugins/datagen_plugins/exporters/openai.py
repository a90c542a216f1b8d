"""``openai``: OpenAI chat fine-tuning JSON Lines, ``{"messages": [{role, content}, ...]}`` per line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import ChatOptions, turns, write_rows


class OpenAIChat:
    """Each record as one conversation; a record without an assistant answer is an error."""

    name: ClassVar[str] = "openai"
    Config: ClassVar[type[Any]] = ChatOptions

    def __init__(self, config: ChatOptions) -> None:
        self.config = config

    def row(self, record: Record) -> dict[str, Any]:
        """``{"messages": [...]}``."""
        return {"messages": turns(record, self.config)}

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write the JSON Lines file."""
        return write_rows(records, path, self.row, self.name)


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the openai exporter."""
    register(OpenAIChat)
