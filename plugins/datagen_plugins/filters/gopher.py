"""``gopher``: the quality and repetition heuristics of Gopher (Rae et al. 2021, appendix A.1.1), as
used for C4-style web text.

Quality: word count between ``min_words`` and ``max_words``; mean word length between 3 and 10
characters; symbol-to-word ratio ('#' and ellipses) at most 0.1; at most 90 % of lines starting with a
bullet and 30 % ending with an ellipsis; at least 80 % of words with a letter; at least two of the stop
words *the, be, to, of, and, that, have, with*. Repetition: duplicate lines and paragraphs (as a share
of lines and of characters), the most frequent 2-, 3- and 4-gram's share of characters, and the share
of characters in duplicated 5- to 10-grams. Each rule is a reason (``gopher_<rule>``); every threshold
is an option. Meant for documents (``pretraining``): lower ``min_words`` for short answers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterFilter, Rejected, RunContext, Stage, hookimpl
from datagen_plugins.filters._text import check_fields, record_text

STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))
BULLETS = (
    "\u2022",
    "\u25cf",
    "\u25cb",
    "\u25a0",
    "\u25a1",
    "\u25aa",
    "\u25ab",
    "\u2013",
    "-",
    "*",
    "\u2023",
    "\u25e6",
)
_WORD = re.compile(r"\S+")
#: what is stripped from either end of a word (ASCII punctuation and common typographic marks)
_PUNCT = string.punctuation + "\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00ab\u00bb\u00bf\u00a1"
_PARAGRAPHS = re.compile(r"\n{2,}")
#: a whitespace-delimited word without a letter (only digits, punctuation, symbols)
_NO_LETTER = re.compile(r"(?<!\S)(?:(?!\s)[\W\d_])+(?!\S)")


@attrs.define
class GopherConfig:
    """Options of ``[filter.gopher]`` (defaults: Gopher's)."""

    fields: list[str] = attrs.field(factory=lambda: ["output"])
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines: float = 0.9
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2
    max_duplicate_lines: float = 0.3
    max_duplicate_paragraphs: float = 0.3
    max_duplicate_line_chars: float = 0.2
    max_duplicate_paragraph_chars: float = 0.2
    max_top_ngram_chars: dict[str, float] = attrs.field(factory=lambda: {"2": 0.2, "3": 0.18, "4": 0.16})
    max_duplicate_ngram_chars: dict[str, float] = attrs.field(
        factory=lambda: {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}
    )


def _duplicates(parts: list[str]) -> tuple[int, int]:
    """(how many parts repeat an earlier one, how many characters those repeats hold)."""
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        else:
            seen.add(part)
    return count, chars


def top_ngram_share(words: list[str], n: int, text_length: int) -> float:
    """Characters in the most frequent n-gram's occurrences (when it occurs twice or more) over the
    text's characters."""
    if len(words) < n or not text_length:
        return 0.0
    grams = Counter(zip(*(words[k:] for k in range(n)), strict=False))
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    return sum(len(w) for w in gram) * count / text_length


def duplicate_ngram_share(words: list[str], n: int, text_length: int) -> float:
    """Characters in n-grams that repeat an earlier one, over the text's characters. After a repeat the
    scan moves on by the whole n-gram, so overlapping repeats are not counted twice (as Gopher's
    reference implementation in datatrove does)."""
    if len(words) < n or not text_length:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeated = 0
    i, last = 0, len(words) - n
    while i <= last:
        gram = tuple(words[i : i + n])
        if gram in seen:
            repeated += sum(len(w) for w in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated / text_length


class Gopher(Stage):
    """Gopher's quality and repetition rules."""

    name: ClassVar[str] = "gopher"
    Config: ClassVar[type[Any]] = GopherConfig

    def __init__(self, config: GopherConfig) -> None:
        check_fields(config.fields, "$.filter.gopher.fields")
        self.config = config

    def advise(self, records: Sequence[Record]) -> list[str]:
        """Gopher's word counts are for web documents: say so when most records are shorter."""
        texts = [t for r in records if (t := record_text(r, self.config.fields))]
        short = sum(len(_WORD.findall(t)) < self.config.min_words for t in texts)
        if not texts or short * 2 <= len(texts):
            return []
        return [
            f"{short} of the first {len(texts)} texts ({', '.join(self.config.fields)}) have fewer than "
            f"min_words = {self.config.min_words} words and would be removed: Gopher's rules are for web "
            "documents; for short answers lower it (--set filter.gopher.min_words=5)"
        ]

    def check(self, text: str) -> tuple[str, dict[str, Any]] | None:
        """The first rule ``text`` breaks, with the measured value; None when it passes all."""
        c = self.config
        raw_words = _WORD.findall(text)
        words = [w for w in (w.strip(_PUNCT) for w in raw_words) if w]
        n = len(words)
        if not c.min_words <= n <= c.max_words:
            return "gopher_word_count", {"words": n}
        mean = sum(len(w) for w in words) / n if n else 0.0
        if not c.min_mean_word_length <= mean <= c.max_mean_word_length:
            return "gopher_mean_word_length", {"mean": round(mean, 2)}
        symbols = text.count("#") + text.count("...") + text.count("…")
        if n and symbols / n > c.max_symbol_word_ratio:
            return "gopher_symbol_ratio", {"ratio": round(symbols / n, 3)}
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if lines:
            bullets = sum(ln.startswith(BULLETS) for ln in lines) / len(lines)
            if bullets > c.max_bullet_lines:
                return "gopher_bullet_lines", {"share": round(bullets, 3)}
            ellipses = sum(ln.endswith(("...", "…")) for ln in lines) / len(lines)
            if ellipses > c.max_ellipsis_lines:
                return "gopher_ellipsis_lines", {"share": round(ellipses, 3)}
        alpha = 1 - len(_NO_LETTER.findall(text)) / max(1, len(raw_words))
        if alpha < c.min_alpha_words:
            return "gopher_alpha_words", {"share": round(alpha, 3)}
        lower = {w.lower() for w in words}
        if len(lower & STOP_WORDS) < c.min_stop_words:
            return "gopher_stop_words", {"found": sorted(lower & STOP_WORDS)}
        return self.repetition(text, lines, [w.lower() for w in words])

    def repetition(self, text: str, lines: list[str], words: list[str]) -> tuple[str, dict[str, Any]] | None:
        """The first repetition rule broken, or None."""
        c = self.config
        total = max(1, len(text))
        paragraphs = [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]
        for label, parts, max_share, max_chars in (
            ("lines", lines, c.max_duplicate_lines, c.max_duplicate_line_chars),
            ("paragraphs", paragraphs, c.max_duplicate_paragraphs, c.max_duplicate_paragraph_chars),
        ):
            if parts:
                count, chars = _duplicates(parts)
                if count / len(parts) > max_share:
                    return f"gopher_duplicate_{label}", {"share": round(count / len(parts), 3)}
                if chars / total > max_chars:
                    return f"gopher_duplicate_{label[:-1]}_chars", {"share": round(chars / total, 3)}
        for size, limit in sorted(c.max_top_ngram_chars.items(), key=lambda kv: int(kv[0])):
            share = top_ngram_share(words, int(size), len(text))
            if share > limit:
                return "gopher_top_ngram", {"n": int(size), "share": round(share, 3)}
        for size, limit in sorted(c.max_duplicate_ngram_chars.items(), key=lambda kv: int(kv[0])):
            n = int(size)
            if len(words) >= n and len(set(zip(*(words[k:] for k in range(n)), strict=False))) == (
                len(words) - n + 1
            ):
                break  # no n-gram repeats, so no longer one does either
            share = duplicate_ngram_share(words, n, len(text))
            if share > limit:
                return "gopher_duplicate_ngrams", {"n": n, "share": round(share, 3)}
        return None

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass the record, or the first rule it breaks."""
        broken = self.check(record_text(record, self.config.fields))
        return record if broken is None else Rejected(*broken)


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the gopher filter."""
    register(Gopher)
