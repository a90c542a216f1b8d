"""``chatml``: ``{"text": ...}`` per line, each conversation rendered in ChatML
(``<|im_start|>role\\ncontent<|im_end|>``), for trainers that read plain text."""

from __future__ import annotations

from typing import Any, ClassVar

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, turns


class ChatML(RowExporter):
    """Each record as one ChatML-rendered text."""

    name: ClassVar[str] = "chatml"
    Config: ClassVar[type[Any]] = ChatOptions
    config: ChatOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{"text": "<|im_start|>user\\n...<|im_end|>\\n..."}``."""
        chat = turns(record, self.config)
        return {"text": "".join(f"<|im_start|>{t['role']}\n{t['content']}<|im_end|>\n" for t in chat)}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the chatml exporter."""
    register(ChatML)
