"""``pretraining``: documents for pretraining-style text, on topics, in kinds, optionally by personas.

Topics come from ``topics`` in the config or from the seeds' instructions. Each document aims at
``target_words`` words; one outside ``[min_ratio, max_ratio] x target_words`` is retried with a new seed
up to ``max_attempts`` times, then dropped (``length``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Record,
    RegisterMethod,
    UsageError,
    hookimpl,
    records_of,
    request_for,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, prompts


@attrs.define
class PretrainingConfig:
    """Options of ``[method.pretraining]``."""

    topics: list[str] = attrs.field(factory=list)
    kinds: list[str] = attrs.field(factory=lambda: ["article", "tutorial", "story", "encyclopedia entry"])
    personas: list[str] = attrs.field(factory=list)
    target_words: int = 300
    min_ratio: float = 0.5
    max_ratio: float = 1.6
    max_attempts: int = 2
    prompts: dict[str, str] = attrs.field(factory=dict)


class Pretraining:
    """Topic x kind x persona documents with length targets."""

    name: ClassVar[str] = "pretraining"
    #: the seed's ``Generator.generate_pretraining`` runs this method
    seed_function: ClassVar[str] = "generate_pretraining"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = PretrainingConfig

    def __init__(self, config: PretrainingConfig) -> None:
        if config.target_words < 20 or not config.kinds or not 0 < config.min_ratio <= 1 <= config.max_ratio:
            raise UsageError(
                "$.method.pretraining: target_words >= 20, kinds non-empty, min_ratio <= 1 <= max_ratio"
            )
        self.config = config
        self.prompts = prompts(self.name, config.prompts)

    def _topics(self, seeds: Sequence[Record]) -> list[str]:
        return self.config.topics or [s.instruction for s in seeds if s.instruction]

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """There must be topics, from the config or the seeds."""
        if not self._topics(seeds):
            raise UsageError(
                "pretraining needs topics: [method.pretraining] topics, or seeds with instructions"
            )

    async def _document(self, ctx: GenerationContext, job: tuple[int, str, str, str | None]) -> Record | None:
        index, topic, kind, persona = job
        persona = persona or ctx.persona  # the method's own personas, else the run's ([generate] personas)
        cfg = self.config
        low, high = cfg.min_ratio * cfg.target_words, cfg.max_ratio * cfg.target_words
        text = self.prompts.styled(
            "document", ctx.is_chat, topic=topic, kind=kind, persona=persona, words=cfg.target_words
        )
        for attempt in range(cfg.max_attempts):
            with ctx.attempt(attempt):  # a later attempt: another sampling seed, counted in asked_again
                request = request_for(
                    ctx,
                    text,
                    max_tokens=int(cfg.target_words * cfg.max_ratio * 1.5),
                    seed=(ctx.run.config.sampling.seed or 0) + 100 * index,
                )
                response = await try_complete(ctx, request)
            if response is None:
                return None
            document = response.text.strip()
            words = len(document.split())
            if low <= words <= high:
                return Record(
                    id=ctx.record_id(self.name, topic, kind, persona, index),
                    output=document,
                    metadata={
                        "topic": topic,
                        "kind": kind,
                        "persona": persona,
                        "words": words,
                        "attempts": attempt + 1,
                    },
                    provenance=ctx.provenance(request, response, params={"target_words": cfg.target_words}),
                )
        ctx.reject("length")
        return None

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """Documents over topic x kind x persona, cycling, up to ``count``."""
        personas: list[str | None] = list(self.config.personas) or [None]
        # topics vary fastest, then kinds, then personas: a small count still covers many topics
        combos = itertools.cycle(itertools.product(personas, self.config.kinds, self._topics(seeds)))
        jobs = (
            (i, topic, kind, persona) for i, (persona, kind, topic) in zip(range(count), combos, strict=False)
        )
        # retries=0: its own attempt loop asks again
        return records_of(ctx, lambda job: self._document(ctx, job), jobs, retries=0)


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the pretraining method."""
    register(Pretraining)
