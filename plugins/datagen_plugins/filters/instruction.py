"""``instruction``: the Self-Instruct checks (Wang et al. 2022, section 2.3) on instruction data.

Drops a record whose instruction asks for something a text model cannot do (``blacklisted_keyword``:
image, graph, picture, file, map, draw, plot, go to, video, audio, music, flowchart, diagram), starts
with punctuation (``starts_with_punctuation``) or not with an ASCII character (``non_ascii_start``, the
paper's stand-in for "not English"; switch off with ``ascii_start = false`` for other languages), whose
output only repeats its input (``output_copies_input``), or whose output is a refusal
(``refusal``: "As an AI language model", "I cannot", "I'm sorry, but", ...).
"""

from __future__ import annotations

import re
import string
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterFilter, Rejected, RunContext, Stage, hookimpl
from datagen_plugins.filters._text import normalise

BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps",
    "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
REFUSALS = (
    "as an ai language model",
    "as an ai model",
    "as a language model",
    "i'm sorry, but",
    "i am sorry, but",
    "i cannot",
    "i can't",
    "i can not",
    "i'm unable to",
    "i am unable to",
    "i'm not able to",
    "i am not able to",
)


@attrs.define
class InstructionConfig:
    """Options of ``[filter.instruction]``."""

    blacklist: list[str] = attrs.field(factory=lambda: list(BLACKLIST))
    refusals: list[str] = attrs.field(factory=lambda: list(REFUSALS))
    ascii_start: bool = True
    #: only the first this many characters of the output are searched for a refusal
    refusal_window: int = 200


class Instruction(Stage):
    """Self-Instruct's heuristics, each a counted reason."""

    name: ClassVar[str] = "instruction"
    Config: ClassVar[type[Any]] = InstructionConfig

    def __init__(self, config: InstructionConfig) -> None:
        self.config = config
        words = "|".join(re.escape(w.lower()) for w in config.blacklist)
        self._blacklist = re.compile(rf"\b(?:{words})\b") if words else None
        self._refusals = tuple(r.lower() for r in config.refusals)

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass the record, or the first check it fails."""
        instruction = (record.instruction or "").strip()
        if instruction:
            found = self._blacklist.search(instruction.lower()) if self._blacklist else None
            if found:
                return Rejected("blacklisted_keyword", {"keyword": found.group(0)})
            if instruction[0] in string.punctuation:
                return Rejected("starts_with_punctuation")
            if self.config.ascii_start and not instruction[0].isascii():
                return Rejected("non_ascii_start")
        output = (record.output or "").strip()
        if output and record.input and normalise(output) == normalise(record.input):
            return Rejected("output_copies_input")
        head = output[: self.config.refusal_window].lower().replace("\u2019", "'")
        if any(r in head for r in self._refusals):
            return Rejected("refusal")
        return record


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the instruction filter."""
    register(Instruction)
