"""``sharegpt``: ``{"conversations": [{"from": "human" | "gpt" | "system" | "observation", "value"}]}``."""

from __future__ import annotations

from typing import Any, ClassVar

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, turns

#: ShareGPT's speaker names for datagen's roles (a tool's answer is an observation, as LLaMA-Factory reads)
SPEAKERS = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}


class ShareGPT(RowExporter):
    """Each record as one conversation in ShareGPT's shape."""

    name: ClassVar[str] = "sharegpt"
    Config: ClassVar[type[Any]] = ChatOptions
    config: ChatOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{"conversations": [...]}``."""
        chat = turns(record, self.config)
        return {"conversations": [{"from": SPEAKERS[t["role"]], "value": t["content"]} for t in chat]}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the sharegpt exporter."""
    register(ShareGPT)
