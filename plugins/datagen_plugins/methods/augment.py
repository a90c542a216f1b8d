"""Augmentation of existing examples: ``paraphrase``, ``style_variation`` and ``domain_transfer``.

Every variation must differ from its source: an exact copy or a near-copy (ROUGE-L against the source at
or above ``copy_threshold``) is rejected and retried with a new seed, up to ``max_attempts`` times, then
dropped. Rejections are counted as ``copy``, so the summary gives the copy rate; each record stores its
attempts. ``judge = true`` adds an LLM check that a paraphrase keeps its meaning (``meaning_changed``).
Each record keeps its source's id as ``parent_id``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Record,
    RegisterMethod,
    Request,
    Response,
    UsageError,
    hookimpl,
    records_of,
    request_for,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, first_paragraph, is_copy, prompts

FIELDS = ("instruction", "input", "output")


@attrs.define
class AugmentConfig:
    """Options shared by the augmentation methods."""

    copy_threshold: float = 0.85
    max_attempts: int = 3
    judge: bool = False
    max_tokens: int = 256
    temperature: float = 0.9
    prompts: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class ParaphraseConfig(AugmentConfig):
    """Options of ``[method.paraphrase]``."""

    variations_per_example: int = 2
    fields_to_paraphrase: list[str] = attrs.field(factory=lambda: ["instruction"])


@attrs.define
class StyleConfig(AugmentConfig):
    """Options of ``[method.style_variation]``."""

    styles: list[str] = attrs.field(factory=lambda: ["formal", "casual"])
    examples_per_style: int = 1
    field: str = "output"


@attrs.define
class TransferConfig(AugmentConfig):
    """Options of ``[method.domain_transfer]``."""

    target_domains: list[str] = attrs.field(factory=lambda: ["medicine", "law", "finance"])
    examples_per_domain: int = 1
    answer_max_tokens: int = 512


class _Augment:
    """Rewrites a field of each source example, rejecting copies; subclasses say what and how."""

    name: ClassVar[str]
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]]

    def __init__(self, config: AugmentConfig) -> None:
        if not 0 < config.copy_threshold <= 1 or config.max_attempts < 1:
            raise UsageError(f"$.method.{self.name}: copy_threshold must be in (0, 1], max_attempts >= 1")
        self.config = config
        self.prompts = prompts(self.name, config.prompts, file="augment")

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Source examples must exist and have the fields to rewrite."""
        if not seeds:
            raise UsageError(f"{self.name} needs at least one example to augment")
        for field in self.fields():
            if not any(getattr(s, field) for s in seeds):
                raise UsageError(f"{self.name}: no example has a {field!r} to rewrite")

    def fields(self) -> list[str]:
        """The record fields this method rewrites."""
        raise NotImplementedError

    def jobs(self, seeds: Sequence[Record]) -> list[tuple[Record, int, str | None]]:
        """(source, variation number, variant such as a style or domain) for every variation."""
        raise NotImplementedError

    def prompt(self, ctx: GenerationContext, text: str, variant: str | None) -> str:
        """The rewrite prompt for one field."""
        raise NotImplementedError

    async def _rewrite(
        self, ctx: GenerationContext, source: Record, field: str, number: int, variant: str | None
    ) -> tuple[str, int, Request, Response] | None:
        original = getattr(source, field) or ""
        cfg = self.config
        for attempt in range(cfg.max_attempts):
            with ctx.attempt(attempt):  # a later attempt: another sampling seed, counted in asked_again
                request = request_for(
                    ctx,
                    self.prompt(ctx, original, variant),
                    max_tokens=cfg.max_tokens,
                    temperature=cfg.temperature,
                    seed=(ctx.run.config.sampling.seed or 0) + 100 * number,
                    stop=() if ctx.is_chat else ("\nOriginal:", "\n\n"),
                )
                response = await try_complete(ctx, request)
            if response is None:  # a looping answer or a failed request, counted: another seed
                continue
            text = first_paragraph(response.text)
            if text and is_copy(text, original, cfg.copy_threshold):  # a copy, whatever follows it
                ctx.reject("copy")
                continue
            if self.prompts.copies_example(text, cfg.copy_threshold):  # a few-shot example echoed back
                ctx.reject("copied_prompt_example")
                continue
            if response.finish_reason != "stop" or not text:
                ctx.reject("truncated_or_empty")
                continue
            if cfg.judge and not await self._same_meaning(ctx, original, text):
                ctx.reject("meaning_changed")
                continue
            return text, attempt + 1, request, response
        return None

    async def _same_meaning(self, ctx: GenerationContext, first: str, second: str) -> bool:
        prompt = self.prompts.styled("same_meaning", ctx.is_chat, first=first, second=second)
        response = await try_complete(
            ctx, request_for(ctx, prompt, max_tokens=3, temperature=0.0, stop=() if ctx.is_chat else ("\n",))
        )
        return response is not None and response.text.strip().lower().startswith("yes")

    async def _variation(self, ctx: GenerationContext, job: tuple[Record, int, str | None]) -> Record | None:
        source, number, variant = job
        changes: dict[str, Any] = {}
        attempts = 0
        last: tuple[Request, Response] | None = None
        for field in self.fields():
            if not getattr(source, field):
                continue
            result = await self._rewrite(ctx, source, field, number, variant)
            if result is None:
                return None
            changes[field], tries, request, response = result
            attempts += tries
            last = (request, response)
        if last is None:
            return None
        finished = await self.finish(ctx, source, changes, variant)
        if finished is None:
            return None
        changes = finished
        meta = {
            **dict(source.metadata),
            "augmentation": self.name,
            "variation": number,
            "attempts": attempts,
            "rewritten": sorted(k for k in changes if k in self.fields()),
        }
        if variant is not None:
            meta["variant"] = variant
        return source.evolve(
            id=ctx.record_id(self.name, source.id, number, variant),
            metadata=meta,
            provenance=ctx.provenance(
                *last,
                seed_ids=[source.id],
                parent_id=source.id,
                params={"variant": variant} if variant else None,
            ),
            **changes,
        )

    async def finish(
        self, ctx: GenerationContext, source: Record, changes: dict[str, Any], variant: str | None
    ) -> dict[str, Any] | None:
        """Last changes to a variation (domain transfer answers its new instruction)."""
        return changes

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """Every variation of every example (the runner stops at ``count``)."""
        return records_of(
            ctx, lambda job: self._variation(ctx, job), self.jobs(seeds), retries=0
        )  # its own attempt loop asks again


class Paraphrase(_Augment):
    """``variations_per_example`` paraphrases of ``fields_to_paraphrase`` (default: the instruction)."""

    name: ClassVar[str] = "paraphrase"
    #: the seed's ``Generator.augment_by_paraphrasing`` runs this method
    seed_function: ClassVar[str] = "augment_by_paraphrasing"
    Config: ClassVar[type[Any]] = ParaphraseConfig
    config: ParaphraseConfig

    def __init__(self, config: ParaphraseConfig) -> None:
        unknown = sorted(set(config.fields_to_paraphrase) - set(FIELDS))
        if unknown or not config.fields_to_paraphrase:
            raise UsageError(
                f"$.method.paraphrase.fields_to_paraphrase: expected some of {', '.join(FIELDS)}"
            )
        super().__init__(config)

    def fields(self) -> list[str]:
        return list(self.config.fields_to_paraphrase)

    def jobs(self, seeds: Sequence[Record]) -> list[tuple[Record, int, str | None]]:
        return [(s, n, None) for s in seeds for n in range(self.config.variations_per_example)]

    def prompt(self, ctx: GenerationContext, text: str, variant: str | None) -> str:
        return self.prompts.styled("paraphrase", ctx.is_chat, text=text)


class StyleVariation(_Augment):
    """``examples_per_style`` rewrites of ``field`` (default: the output) in each of ``styles``."""

    name: ClassVar[str] = "style_variation"
    #: the seed's ``Generator.augment_with_style_variation`` runs this method
    seed_function: ClassVar[str] = "augment_with_style_variation"
    Config: ClassVar[type[Any]] = StyleConfig
    config: StyleConfig

    def __init__(self, config: StyleConfig) -> None:
        if config.field not in FIELDS or not config.styles:
            raise UsageError(
                "$.method.style_variation: field must be instruction, input or output; styles non-empty"
            )
        super().__init__(config)

    def fields(self) -> list[str]:
        return [self.config.field]

    def jobs(self, seeds: Sequence[Record]) -> list[tuple[Record, int, str | None]]:
        return [
            (s, n, style)
            for s in seeds
            for style in self.config.styles
            for n in range(self.config.examples_per_style)
        ]

    def prompt(self, ctx: GenerationContext, text: str, variant: str | None) -> str:
        return self.prompts.styled("style", ctx.is_chat, text=text, style=variant)


class DomainTransfer(_Augment):
    """The instruction moved to each of ``target_domains``, then answered afresh."""

    name: ClassVar[str] = "domain_transfer"
    #: the seed's ``Generator.augment_with_domain_transfer`` runs this method
    seed_function: ClassVar[str] = "augment_with_domain_transfer"
    Config: ClassVar[type[Any]] = TransferConfig
    config: TransferConfig

    def __init__(self, config: TransferConfig) -> None:
        if not config.target_domains:
            raise UsageError("$.method.domain_transfer.target_domains: at least one domain is needed")
        super().__init__(config)

    def fields(self) -> list[str]:
        return ["instruction"]

    def jobs(self, seeds: Sequence[Record]) -> list[tuple[Record, int, str | None]]:
        return [
            (s, n, d)
            for s in seeds
            for d in self.config.target_domains
            for n in range(self.config.examples_per_domain)
        ]

    def prompt(self, ctx: GenerationContext, text: str, variant: str | None) -> str:
        return self.prompts.styled("transfer", ctx.is_chat, text=text, domain=variant)

    async def finish(
        self, ctx: GenerationContext, source: Record, changes: dict[str, Any], variant: str | None
    ) -> dict[str, Any] | None:
        """The transferred task gets a fresh answer (the source's answer belongs to another domain)."""
        request = request_for(
            ctx,
            self.prompts.styled("answer", ctx.is_chat, instruction=changes["instruction"]),
            max_tokens=self.config.answer_max_tokens,
            stop=() if ctx.is_chat else ("### Instruction", "\n### "),
        )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        return {**changes, "input": None, "output": response.text.strip()}


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the three augmentation methods."""
    register(Paraphrase)
    register(StyleVariation)
    register(DomainTransfer)
