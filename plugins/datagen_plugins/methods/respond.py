"""``respond``: answer each seed's instruction (and input) with the backend, storing the answer as output.

With ``count`` larger than the number of seeds it cycles through them; each cycle gets a distinct sampling
seed so answers differ while reruns stay reproducible (and cached).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    POSITIVE,
    DegenerateAnswer,
    GenerationContext,
    Message,
    PermanentError,
    RateLimitError,
    Record,
    RegisterMethod,
    Request,
    TransientError,
    UsageError,
    hookimpl,
    records_of,
)
from datagen_plugins.methods._shared import COMPLETION_HEADER, SEED_TASKS_FILE, alpaca_block


@attrs.define
class RespondConfig:
    """Options of ``[method.respond]``."""

    system_prompt: str | None = None
    few_shot: int = 2
    max_tokens: int | None = None
    #: answers asked per seed when the model loops until the token limit (each counted as degenerate_*)
    max_attempts: int = attrs.field(default=3, validator=POSITIVE)


class Respond:
    """Sends every seed's instruction to the backend and keeps the answer."""

    name: ClassVar[str] = "respond"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    #: the method a run uses when none is named
    default: ClassVar[bool] = True
    Config: ClassVar[type[Any]] = RespondConfig

    def __init__(self, config: RespondConfig) -> None:
        self.config = config

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Seeds must exist and each carry an instruction."""
        if not seeds:
            raise UsageError("respond needs at least one seed")
        for i, seed in enumerate(seeds):
            if not (seed.instruction and seed.instruction.strip()):
                raise UsageError(f"seed {i} ({seed.id}) has no instruction")

    def _demos(self, seeds: Sequence[Record], seed: Record) -> list[Record]:
        usable = [s for s in seeds if s.output and s.id != seed.id and len(s.output) < 800]
        if not usable or self.config.few_shot <= 0:
            return []
        start = int(seed.id.encode().hex(), 16) % len(usable) if seed.id else 0
        return [usable[(start + k) % len(usable)] for k in range(min(self.config.few_shot, len(usable)))]

    async def _answer(
        self, ctx: GenerationContext, job: tuple[int, Record], seeds: Sequence[Record]
    ) -> Record | None:
        index, seed = job
        cycle = index // len(seeds)
        for attempt in range(self.config.max_attempts):
            overrides: dict[str, Any] = {}
            if self.config.max_tokens is not None:
                overrides["max_tokens"] = self.config.max_tokens
            if cycle:  # another sample for a later cycle
                overrides["seed"] = (ctx.run.config.sampling.seed or 0) + cycle
            request = self._request(ctx, seed, seeds, overrides)
            if attempt:  # after a looping answer: another sampling seed, counted
                request = ctx.ask_again(request, attempt)
            try:
                response = await ctx.complete(request)
            except DegenerateAnswer as exc:
                ctx.reject(f"degenerate_{exc.kind}")
                continue
            except (PermanentError, TransientError, RateLimitError) as exc:
                ctx.drop("request_failed", seed_id=seed.id, error=str(exc))
                return None
            return Record(
                id=ctx.record_id("respond", seed.id, cycle),
                instruction=seed.instruction,
                input=seed.input,
                output=response.text.strip(),
                metadata={"cycle": cycle} if cycle else {},
                provenance=ctx.provenance(request, response, seed_ids=[seed.id]),
            )
        return None

    def _request(
        self, ctx: GenerationContext, seed: Record, seeds: Sequence[Record], overrides: dict[str, Any]
    ) -> Request:
        if ctx.is_chat:
            messages = [Message("system", self.config.system_prompt)] if self.config.system_prompt else []
            messages.append(Message("user", seed.prompt_text))
            return ctx.request(messages=messages, **overrides)
        blocks = [alpaca_block(d, True) for d in self._demos(seeds, seed)]
        blocks.append(alpaca_block(seed, False))
        prompt = COMPLETION_HEADER + "\n\n" + "\n".join(blocks)
        return ctx.request(prompt=prompt, stop=["### Instruction", "\n### "], **overrides)

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """One answer per seed, cycling until ``count``."""
        jobs = zip(range(count), itertools.cycle(seeds), strict=False)
        return records_of(
            ctx, lambda job: self._answer(ctx, job, seeds), jobs, retries=0
        )  # its own attempt loop asks again


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the respond method."""
    register(Respond)
