"""``llamafactory``: a ShareGPT-style data file for LLaMA-Factory and its entry in ``dataset_info.json``
beside it (``formatting: sharegpt``, ``conversations`` of ``from``/``value`` turns, the system prompt in
its own ``system`` column as LLaMA-Factory's data README describes). An existing ``dataset_info.json``
keeps its other entries; the entry is named ``dataset_name`` (the output file's stem by default)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, UsageError, hookimpl, write_file
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, turns, write_rows

SPEAKERS = {"user": "human", "assistant": "gpt", "tool": "observation"}
TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
}


@attrs.define
class LlamaFactoryOptions(ChatOptions):
    """Options of ``[exporter.llamafactory]``."""

    dataset_name: str | None = None


class LlamaFactory(RowExporter):
    """The data file and its ``dataset_info.json`` entry."""

    name: ClassVar[str] = "llamafactory"
    Config: ClassVar[type[Any]] = LlamaFactoryOptions
    config: LlamaFactoryOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{"conversations": [...], "system": ...}`` (``system`` only when there is one)."""
        chat = turns(record, self.config)
        system = chat[0]["content"] if chat[0]["role"] == "system" else None
        conversation = [
            {"from": SPEAKERS[t["role"]], "value": t["content"]} for t in chat if t["role"] != "system"
        ]
        return {"conversations": conversation} | ({} if system is None else {"system": system})

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write the data file, then add its entry to ``dataset_info.json`` in the same folder."""
        info_path = path.parent / "dataset_info.json"
        info: dict[str, Any] = {}
        if info_path.is_file():
            try:
                info = json.loads(info_path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise UsageError(f"{info_path}: not valid JSON ({exc}); the entry cannot be added") from None
        done = write_rows(records, path, self.row, self.name)
        name = self.config.dataset_name or path.stem
        info[name] = {
            "file_name": path.name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system"},
            "tags": TAGS,
        }
        write_file(info_path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
        return {**done, "files": [*done["files"], str(info_path)], "dataset_name": name}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the llamafactory exporter."""
    register(LlamaFactory)
