"""Degenerate model output: a line or a phrase repeated until the token limit cut it off."""

from __future__ import annotations

from collections import Counter

MIN_LINES = 4
MIN_WORDS = 24
NGRAM = 4


def degenerate(text: str, finish_reason: str | None) -> str | None:
    """Why ``text`` is a degenerate answer (``repeated_line`` or ``repeated_phrase``), or None.

    Only an answer the token limit cut off (``finish_reason == "length"``) can be degenerate: a model
    that loops never stops by itself, while a finished answer may repeat a line on purpose.
    """
    if finish_reason != "length":
        return None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= MIN_LINES:
        _, top = Counter(lines).most_common(1)[0]
        if top >= 3 and top * 2 >= len(lines):
            return "repeated_line"
    words = text.split()
    if len(words) >= MIN_WORDS:
        grams = [tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)]
        if len(set(grams)) * 2 <= len(grams):  # half of the 4-grams are repeats
            return "repeated_phrase"
    return None
