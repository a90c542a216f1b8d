"""``length``: keep records whose fields are neither too short nor too long, in characters, words or
tokens.

``min_length`` / ``max_length`` apply to every field in ``fields``; the seed's names
``instruction_min_length`` / ``instruction_max_length`` and ``response_min_length`` /
``response_max_length`` bound the instruction and the output alone. An empty field is measured as 0.
Tokens are counted with a word-piece rule (words and single punctuation marks), which tracks BPE
token counts of English text to within about a third and needs no tokenizer download.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    NON_NEGATIVE,
    Record,
    RegisterFilter,
    Rejected,
    RunContext,
    Stage,
    UsageError,
    hookimpl,
)
from datagen_plugins.filters._text import check_fields, field_text

UNITS = ("chars", "words", "tokens")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


@attrs.define
class LengthConfig:
    """Options of ``[filter.length]``."""

    unit: str = "words"
    fields: list[str] = attrs.field(factory=lambda: ["instruction", "output"])
    min_length: int | None = attrs.field(default=None, validator=NON_NEGATIVE)
    max_length: int | None = attrs.field(default=None, validator=NON_NEGATIVE)
    instruction_min_length: int | None = attrs.field(default=None, validator=NON_NEGATIVE)
    instruction_max_length: int | None = attrs.field(default=None, validator=NON_NEGATIVE)
    response_min_length: int | None = attrs.field(default=None, validator=NON_NEGATIVE)
    response_max_length: int | None = attrs.field(default=None, validator=NON_NEGATIVE)


def measure(text: str, unit: str) -> int:
    """The length of ``text`` in ``unit``."""
    if unit == "chars":
        return len(text)
    if unit == "words":
        return len(text.split())
    return len(_TOKEN.findall(text))


class Length(Stage):
    """Drops records with a field outside its length bounds (``<field>_too_short`` / ``_too_long``).

    ``min_length`` / ``max_length`` apply to each of ``fields`` a record has (a document's text, a
    conversation's messages); the field-specific bounds (``instruction_min_length``, ...) require it."""

    name: ClassVar[str] = "length"
    #: the seed's flat ``QualityFilter`` options that configure this filter (it then runs first)
    seed_options: ClassVar[tuple[str, ...]] = (
        "min_length",
        "max_length",
        "instruction_min_length",
        "instruction_max_length",
        "response_min_length",
        "response_max_length",
        "unit",
    )
    Config: ClassVar[type[Any]] = LengthConfig

    def __init__(self, config: LengthConfig) -> None:
        if config.unit not in UNITS:
            raise UsageError(f"$.filter.length.unit: expected one of {', '.join(UNITS)}, got {config.unit!r}")
        check_fields(config.fields, "$.filter.length.fields")
        self.config = config
        bounds: dict[str, list[int | None]] = {
            f: [config.min_length, config.max_length] for f in config.fields
        }
        #: fields under the shared bounds alone: a record without the field (a document has no
        #: instruction, a conversation no output) is not measured on it
        self.optional = set(config.fields)
        for field, low, high in (
            ("instruction", config.instruction_min_length, config.instruction_max_length),
            ("output", config.response_min_length, config.response_max_length),
        ):
            if low is not None or high is not None:
                self.optional.discard(field)
                current = bounds.setdefault(field, [None, None])
                current[0] = low if low is not None else current[0]
                current[1] = high if high is not None else current[1]
        for field, (low, high) in bounds.items():
            if low is not None and high is not None and low > high:
                raise UsageError(
                    f"$.filter.length: the minimum for {field} ({low}) exceeds its maximum ({high})"
                )
        self.bounds = {f: (lo, hi) for f, (lo, hi) in bounds.items() if lo is not None or hi is not None}
        if not self.bounds:
            raise UsageError(
                "$.filter.length: no bound is set, so it would remove nothing; set min_length / max_length "
                "(or instruction_min_length, response_min_length, ...), e.g. --set filter.length.min_length=3"
            )

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass the record, or name the first field out of bounds."""
        for field, (low, high) in self.bounds.items():
            if field in self.optional and getattr(record, field) is None:
                continue
            size = measure(field_text(record, field), self.config.unit)
            if low is not None and size < low:
                return Rejected(f"{field}_too_short", {self.config.unit: size, "min": low})
            if high is not None and size > high:
                return Rejected(f"{field}_too_long", {self.config.unit: size, "max": high})
        return record


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the length filter."""
    register(Length)
