"""``controlled``: answers under constraints (domain, keywords, style, tone, complexity, length), verified.

The constraints go into the prompt, and every answer is checked afterwards: required keywords present
(whole words, any case), length within bounds, and, when ``judge = true``, style and tone judged by the
LLM. A failing answer is retried with a new seed up to ``max_attempts`` times, then dropped and counted
(``constraint_keywords``, ``constraint_length``, ``constraint_style``, ``constraint_tone``).
"""

from __future__ import annotations

import re
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
    require_seeds,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, prompts

LENGTHS = {"short": (1, 80), "medium": (60, 250), "long": (200, 2000)}


@attrs.define
class Constraints:
    """What an answer must satisfy; every key is optional, unknown keys are errors."""

    domain: str | None = None
    keywords: list[str] = attrs.field(factory=list)
    style: str | None = None
    tone: str | None = None
    complexity: str | None = None
    length: str | None = None
    min_words: int | None = None
    max_words: int | None = None

    def bounds(self) -> tuple[int | None, int | None]:
        """Word-count bounds from ``length`` (short/medium/long) and explicit min/max."""
        low, high = LENGTHS[self.length] if self.length else (None, None)
        return (
            self.min_words if self.min_words is not None else low,
            self.max_words if self.max_words is not None else high,
        )

    def rules(self) -> list[str]:
        """The constraints in words, for the prompt."""
        rules = []
        if self.domain:
            rules.append(f"It is about the {self.domain} domain.")
        if self.keywords:
            rules.append("It uses each of these words: " + ", ".join(self.keywords) + ".")
        if self.style:
            rules.append(f"It is written in a {self.style} style.")
        if self.tone:
            rules.append(f"Its tone is {self.tone}.")
        if self.complexity:
            rules.append(f"Its complexity is {self.complexity}.")
        low, high = self.bounds()
        if low is not None and high is not None:
            rules.append(f"It is between {low} and {high} words long.")
        elif high is not None:
            rules.append(f"It is at most {high} words long.")
        elif low is not None:
            rules.append(f"It is at least {low} words long.")
        return rules


@attrs.define
class ControlledConfig:
    """Options of ``[method.controlled]``."""

    constraints: Constraints = attrs.field(factory=Constraints)
    examples_per_instruction: int = 1
    max_attempts: int = 3
    judge: bool = False
    max_tokens: int | None = None
    prompts: dict[str, str] = attrs.field(factory=dict)


def failed_checks(text: str, constraints: Constraints) -> list[str]:
    """The deterministic checks ``text`` fails: ``keywords`` and ``length``."""
    failed = []
    lower = text.lower()
    if any(not re.search(rf"(?<!\w){re.escape(k.lower())}(?!\w)", lower) for k in constraints.keywords):
        failed.append("keywords")
    words = len(text.split())
    low, high = constraints.bounds()
    if (low is not None and words < low) or (high is not None and words > high):
        failed.append("length")
    return failed


class Controlled:
    """Constrained generation with verification and retries."""

    name: ClassVar[str] = "controlled"
    #: the seed's ``Generator.generate_with_constraints`` runs this method
    seed_function: ClassVar[str] = "generate_with_constraints"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = ControlledConfig

    def __init__(self, config: ControlledConfig) -> None:
        c = config.constraints
        if c.length is not None and c.length not in LENGTHS:
            raise UsageError(
                f"$.method.controlled.constraints.length: expected one of {', '.join(LENGTHS)}, "
                f"got {c.length!r}"
            )
        low, high = c.bounds()
        if low is not None and high is not None and low > high:
            raise UsageError("$.method.controlled.constraints: min_words is above max_words")
        if config.examples_per_instruction < 1 or config.max_attempts < 1:
            raise UsageError("$.method.controlled: examples_per_instruction and max_attempts must be >= 1")
        self.config = config
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Instructions must exist."""
        require_seeds(seeds, self.name)

    async def _judge(self, ctx: GenerationContext, text: str, quality: str) -> bool:
        prompt = self.prompts.styled("judge", ctx.is_chat, quality=quality, text=text)
        response = await try_complete(
            ctx, request_for(ctx, prompt, max_tokens=3, temperature=0.0, stop=() if ctx.is_chat else ("\n",))
        )
        return response is not None and response.text.strip().lower().startswith("yes")

    async def _one(self, ctx: GenerationContext, job: tuple[int, Record, int]) -> Record | None:
        _, seed, example = job
        cfg, constraints = self.config, self.config.constraints
        text = self.prompts.styled(
            "generate", ctx.is_chat, instruction=seed.prompt_text, rules=constraints.rules()
        )
        params: dict[str, Any] = {} if cfg.max_tokens is None else {"max_tokens": cfg.max_tokens}
        failed: list[str] = []
        for attempt in range(cfg.max_attempts):
            request = request_for(
                ctx,
                text,
                seed=(ctx.run.config.sampling.seed or 0) + 1000 * example,
                stop=() if ctx.is_chat else ("### Instruction", "\n### "),
                **params,
            )
            if attempt:  # after a looping answer or a broken constraint: another sampling seed, counted
                request = ctx.ask_again(request, attempt)
            response = await try_complete(ctx, request, again=0)  # this loop asks again itself
            if response is None:  # a looping answer or a failed request, counted: another seed
                failed = []
                continue
            output = response.text.strip()
            failed = failed_checks(output, constraints)
            if response.finish_reason != "stop":
                failed.append("length")
            if not failed and cfg.judge:
                for quality, value in (("style", constraints.style), ("tone", constraints.tone)):
                    if value and not await self._judge(ctx, output, f"written in a {value} {quality}"):
                        failed.append(quality)
            if not failed:
                return Record(
                    id=ctx.record_id(self.name, seed.id, example, attrs.asdict(constraints)),
                    instruction=seed.instruction,
                    input=seed.input,
                    output=output,
                    metadata={
                        "constraints": attrs.asdict(constraints),
                        "attempts": attempt + 1,
                        "verified": ["keywords", "length"] + (["style", "tone"] if cfg.judge else []),
                    },
                    provenance=ctx.provenance(request, response, seed_ids=[seed.id], parent_id=seed.id),
                )
        if failed:  # the last answer came but broke a constraint (a missing one was counted already)
            ctx.reject("constraint_" + failed[0])
        return None

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """``examples_per_instruction`` verified answers per instruction, up to ``count``."""
        jobs = (
            (i, seed, example)
            for i, seed in enumerate(seeds)
            for example in range(self.config.examples_per_instruction)
        )
        return records_of(
            ctx, lambda job: self._one(ctx, job), jobs, retries=0
        )  # its own attempt loop asks again


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the controlled method."""
    register(Controlled)
