"""``blocklist``: drop records containing configured words (whole words, any case) or regex patterns."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterFilter, Rejected, RunContext, Stage, UsageError, hookimpl
from datagen_plugins.filters._text import FIELDS, check_fields, field_text


@attrs.define
class BlocklistConfig:
    """Options of ``[filter.blocklist]``."""

    words: list[str] = attrs.field(factory=list)
    patterns: list[str] = attrs.field(factory=list)
    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))


class Blocklist(Stage):
    """Removes a record with a blocked word (``blocked_word``) or pattern (``blocked_pattern``)."""

    name: ClassVar[str] = "blocklist"
    Config: ClassVar[type[Any]] = BlocklistConfig

    def __init__(self, config: BlocklistConfig) -> None:
        check_fields(config.fields, "$.filter.blocklist.fields")
        if not config.words and not config.patterns:
            raise UsageError("$.filter.blocklist: give words or patterns to block")
        self.config = config
        words = "|".join(re.escape(w) for w in sorted(config.words, key=len, reverse=True))
        self._words = re.compile(rf"(?<!\w)(?:{words})(?!\w)", re.IGNORECASE) if words else None
        self._patterns = []
        for i, pattern in enumerate(config.patterns):
            try:
                self._patterns.append(re.compile(pattern))
            except re.error as exc:
                raise UsageError(f"$.filter.blocklist.patterns[{i}]: {exc}") from None

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass the record, or say which word or pattern blocked it, and where."""
        for field in self.config.fields:
            text = field_text(record, field)
            if not text:
                continue
            if self._words is not None and (found := self._words.search(text)):
                return Rejected("blocked_word", {"field": field, "word": found.group(0)})
            for pattern in self._patterns:
                if pattern.search(text):
                    return Rejected("blocked_pattern", {"field": field, "pattern": pattern.pattern})
        return record


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the blocklist filter."""
    register(Blocklist)
