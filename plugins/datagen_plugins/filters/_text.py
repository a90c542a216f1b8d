"""Shared by the built-in filters: which text of a record a filter looks at, and normalisation."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from datagen.plugin import Record, UsageError

#: the text fields of a record a filter can be pointed at; ``messages`` is every turn's content
FIELDS = ("instruction", "input", "output", "messages")
_WORD = re.compile(r"\w+", re.UNICODE)


def check_fields(fields: Sequence[str], where: str) -> None:
    """Unknown field names are a config error naming the key."""
    unknown = [f for f in fields if f not in FIELDS]
    if unknown or not fields:
        raise UsageError(f"{where}: fields must be some of {', '.join(FIELDS)}, got {list(fields)}")


def field_text(record: Record, field: str) -> str:
    """The text of one field ('' when empty); ``messages`` joins the turns' contents."""
    if field == "messages":
        return "\n".join(m.content for m in record.messages or ())
    value = getattr(record, field)
    return value if isinstance(value, str) else ""


def record_text(record: Record, fields: Sequence[str]) -> str:
    """The named fields' texts joined by newlines (empty ones left out)."""
    texts = []
    for field in fields:
        if field == "messages":
            text = "\n".join(m.content for m in record.messages) if record.messages else ""
        else:
            text = getattr(record, field)
        if text:
            texts.append(text)
    return texts[0] if len(texts) == 1 else "\n".join(texts)


def normalise(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: what exact deduplication compares."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())  # split: the same \s as re


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore; any script)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
