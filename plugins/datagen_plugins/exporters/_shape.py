"""What the built-in exporters share: a record as chat turns, the options that shape them, and a JSON
Lines file written under a temporary name."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, UsageError, atomic_text


@attrs.define
class ChatOptions:
    """How a record becomes chat turns: ``system`` (a system prompt for every row), ``system_field`` (a
    record's own system prompt in its metadata, which wins), ``join_input`` (an instruction's ``input``
    joined to it after a blank line; false: formats with an input slot keep it apart, the others fail)."""

    system: str | None = None
    system_field: str = "system"
    join_input: bool = True


class Unfit(Exception):
    """A record the format cannot express (raised by a row function; reported with the record)."""


def system_prompt(record: Record, options: ChatOptions) -> str | None:
    """The record's system prompt: its metadata's, else the configured one, else None."""
    own = record.metadata.get(options.system_field) if options.system_field else None
    return own if isinstance(own, str) and own.strip() else options.system


def turns(record: Record, options: ChatOptions) -> list[dict[str, str]]:
    """The record as ``{role, content}`` turns: its ``messages``, or its instruction (with its input) and
    output; a system prompt first when there is one. A record without an answer is unfit."""
    if record.messages:
        out = [{"role": m.role, "content": m.content} for m in record.messages]
    else:
        if not record.instruction:
            raise Unfit("no instruction and no messages")
        if record.input and not options.join_input:
            raise Unfit("an input kept apart (join_input = false), which this format has no place for")
        user = f"{record.instruction}\n\n{record.input}" if record.input else record.instruction
        out = [{"role": "user", "content": user}]
        if record.output:
            out.append({"role": "assistant", "content": record.output})
    system = system_prompt(record, options)
    if system is not None and (not out or out[0]["role"] != "system"):
        out.insert(0, {"role": "system", "content": system})
    if not any(t["role"] == "assistant" and t["content"] for t in out):
        raise Unfit("no assistant answer")
    return out


def prompt_and_answer(record: Record, options: ChatOptions) -> tuple[list[dict[str, str]], str]:
    """The turns before the last assistant answer, and that answer."""
    chat = turns(record, options)
    last = max(i for i, t in enumerate(chat) if t["role"] == "assistant")
    return chat[:last], chat[last]["content"]


def prompt_turns(record: Record, options: ChatOptions) -> list[dict[str, str]]:
    """The turns a model is asked (no answer needed): the record's messages up to its last user turn, or
    its instruction with its input."""
    if record.messages:
        chat = [{"role": m.role, "content": m.content} for m in record.messages]
        users = [i for i, t in enumerate(chat) if t["role"] == "user"]
        if not users:
            raise Unfit("no user turn")
        chat = chat[: users[-1] + 1]
    elif record.instruction:
        user = f"{record.instruction}\n\n{record.input}" if record.input else record.instruction
        chat = [{"role": "user", "content": user}]
    else:
        raise Unfit("no instruction and no messages")
    system = system_prompt(record, options)
    if system is not None and chat[0]["role"] != "system":
        chat.insert(0, {"role": "system", "content": system})
    return chat


def answer(record: Record, field: str) -> str:
    """The answer a record's metadata holds under ``field`` (a string, or an assistant turn)."""
    value = record.metadata.get(field)
    if isinstance(value, dict):
        value = value.get("content")
    if not isinstance(value, str) or not value.strip():
        raise Unfit(f"no {field!r} answer in its metadata")
    return value


def preference_row(
    record: Record, options: ChatOptions, chosen_field: str, rejected_field: str, *, conversational: bool
) -> dict[str, Any]:
    """TRL's ``{prompt, chosen, rejected}``: the prompt turns, and the two answers from the metadata."""
    prompt = prompt_turns(record, options)
    chosen, rejected = answer(record, chosen_field), answer(record, rejected_field)
    if chosen == rejected:
        raise Unfit("the chosen and rejected answers are the same")
    if not conversational:
        return {"prompt": as_text(prompt), "chosen": chosen, "rejected": rejected}
    return {
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


def as_text(chat: list[dict[str, str]]) -> str:
    """Turns as plain text for a string-style row: the user turns' contents (a system prompt is lost)."""
    return "\n\n".join(t["content"] for t in chat if t["role"] == "user")


def write_rows(
    records: Iterable[Record], path: Path, row: Callable[[Record], dict[str, Any]], fmt: str
) -> dict[str, Any]:
    """One JSON line per record, ``row(record)``, under a temporary name renamed at the end; the first
    record ``row`` finds unfit is an error naming it, and no file appears."""
    count = 0
    with atomic_text(path) as fh:
        for position, record in enumerate(records):
            try:
                line = row(record)
            except Unfit as exc:
                raise UsageError(
                    f"record {position} (id {record.id}) cannot be written as {fmt}: {exc}"
                ) from None
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    if not count:
        Path(path).unlink(missing_ok=True)
        raise UsageError(f"no record to export as {fmt}")
    return {"rows": count, "files": [str(path)]}


class RowExporter:
    """A format of one JSON line per record: a subclass names itself, its ``Config`` and ``row``."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]] = ChatOptions

    def __init__(self, config: Any) -> None:
        self.config = config

    def row(self, record: Record) -> dict[str, Any]:
        """The record's line; :class:`Unfit` when the format cannot express it."""
        raise NotImplementedError

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write the JSON Lines file."""
        return write_rows(records, path, self.row, self.name)
