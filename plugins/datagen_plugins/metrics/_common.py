"""Shared by the built-in metrics: which text of a record a metric reads, tokens, summaries."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from datagen.plugin import Record, UsageError

if TYPE_CHECKING:
    import numpy as np

FIELDS = ("instruction", "input", "output", "messages")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\w+")


def check_field(field: str, where: str) -> None:
    """An unknown field is a config error naming the key."""
    if field not in FIELDS:
        raise UsageError(f"{where}: expected one of {', '.join(FIELDS)}, got {field!r}")


def field_text(record: Record, field: str) -> str | None:
    """The field's text; ``messages`` joins the turns; None when the record has no such field."""
    if field == "messages":
        return None if record.messages is None else "\n".join(m.content for m in record.messages)
    value = getattr(record, field)
    return value if isinstance(value, str) else None


def texts(records: Iterable[Record], field: str) -> Iterator[str]:
    """The non-empty texts of ``field``, streamed."""
    for record in records:
        text = field_text(record, field)
        if text and text.strip():
            yield text


def reservoir(items: Iterable[str], size: int, rng: random.Random) -> list[str]:
    """A uniform sample of at most ``size`` items from a stream of any length (Vitter's algorithm R)."""
    sample: list[str] = []
    for n, item in enumerate(items, start=1):
        if len(sample) < size:
            sample.append(item)
        elif (j := rng.randrange(n)) < size:
            sample[j] = item
    return sample


def words(text: str) -> list[str]:
    """Lower-cased words (letters, digits, underscore; any script)."""
    return _WORD.findall(text.casefold())


def tokens(text: str) -> int:
    """Tokens as a word-and-punctuation tokenizer counts them (each word, each punctuation mark)."""
    return len(_TOKEN.findall(text))


def summary(values: Sequence[float] | np.ndarray, bins: int = 20) -> dict[str, Any]:
    """Mean, median, p5, p95, min, max and a histogram; None-valued fields when there is no value."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"count": 0, "mean": None, "median": None, "p5": None, "p95": None, "min": None, "max": None}
    counts, edges = np.histogram(data, bins=bins)
    return {
        "count": int(data.size),
        "mean": round(float(data.mean()), 4),
        "median": round(float(np.median(data)), 4),
        "p5": round(float(np.percentile(data, 5)), 4),
        "p95": round(float(np.percentile(data, 95)), 4),
        "min": round(float(data.min()), 4),
        "max": round(float(data.max()), 4),
        "histogram": {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]},
    }
