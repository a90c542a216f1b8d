"""``alpaca``: ``{"instruction", "input", "output"}`` per line (and ``"system"`` when there is one)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, hookimpl
from datagen_plugins.exporters._shape import ChatOptions, RowExporter, Unfit, system_prompt, turns


@attrs.define
class AlpacaOptions(ChatOptions):
    """Alpaca keeps an instruction's input apart by default (``join_input = false``)."""

    join_input: bool = False


class Alpaca(RowExporter):
    """Single-turn records; a conversation of one question and its answer becomes one, a longer one is
    an error (Alpaca has no place for earlier turns)."""

    name: ClassVar[str] = "alpaca"
    Config: ClassVar[type[Any]] = AlpacaOptions
    config: AlpacaOptions

    def row(self, record: Record) -> dict[str, Any]:
        """``{"instruction", "input", "output"}`` (and ``"system"``)."""
        system = system_prompt(record, self.config)
        if record.messages:
            chat = [t for t in turns(record, self.config) if t["role"] != "system"]
            if [t["role"] for t in chat] != ["user", "assistant"]:
                raise Unfit("a conversation of more than one question and answer")
            out = {"instruction": chat[0]["content"], "input": "", "output": chat[1]["content"]}
        else:
            if not record.instruction or not record.output:
                raise Unfit("no instruction or no output")
            joined = self.config.join_input and record.input
            instruction = f"{record.instruction}\n\n{record.input}" if joined else record.instruction
            out = {
                "instruction": instruction,
                "input": "" if joined else record.input or "",
                "output": record.output,
            }
        return out if system is None else {**out, "system": system}


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the alpaca exporter."""
    register(Alpaca)
