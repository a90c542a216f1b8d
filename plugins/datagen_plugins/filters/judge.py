"""``judge``: an LLM scores each record on a rubric and a threshold drops the weak ones.

Each record is sent (instruction, input, answer) with the rubric's criteria to the run's backend, or the
one named in ``backend`` / ``model``, through the engine like every request (cached, so a rerun pays
nothing; rate limited; counted in the run's cost). The answer is JSON with an integer score from 1 to
``scale`` per criterion (structured output: response_format, tool use or a llama.cpp grammar, then
validated and retried). The scores stay on the record (``metadata["judge"]``); a record whose mean score
is below ``threshold`` is removed (``judge_below_threshold``), one the judge could not score is removed
as ``judge_failed`` unless ``keep_unscored``. UltraFeedback's aspects are the default criteria.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    POSITIVE,
    BackendError,
    GenerationContext,
    Record,
    RegisterFilter,
    RunContext,
    UsageError,
    bounded,
    hookimpl,
    request_for,
)

CRITERIA = {
    "helpfulness": "How well the answer fulfils the instruction, and how useful it is.",
    "correctness": "Whether the answer is accurate and free of errors or invented facts.",
    "honesty": "Whether the answer is candid about uncertainty and does not mislead.",
    "complexity": "How much knowledge and reasoning the instruction and answer require.",
}
PROMPT = """Rate the answer to the instruction below on each criterion, from 1 (very poor) to {scale} \
(excellent).

Criteria:
{criteria}

### Instruction:
{instruction}

### Answer:
{answer}

Reply with JSON only, an integer score for every criterion: {example}"""


@attrs.define
class JudgeConfig:
    """Options of ``[filter.judge]``."""

    criteria: dict[str, str] = attrs.field(factory=lambda: dict(CRITERIA))
    scale: int = attrs.field(default=5, validator=bounded(2, high=100))
    threshold: float = attrs.field(default=3.0, validator=bounded(0))
    backend: str | None = None
    model: str | None = None
    max_tokens: int = attrs.field(default=128, validator=POSITIVE)
    temperature: float = attrs.field(default=0.0, validator=bounded(0))
    #: records scored at the same time (the engine's limits still apply)
    batch: int = attrs.field(default=32, validator=POSITIVE)
    keep_unscored: bool = False


class Judge:
    """Scores records with an LLM; drops those below the threshold."""

    name: ClassVar[str] = "judge"
    Config: ClassVar[type[Any]] = JudgeConfig

    def __init__(self, config: JudgeConfig) -> None:
        if not config.criteria:
            raise UsageError("$.filter.judge.criteria: name at least one criterion")
        if config.threshold > config.scale:
            raise UsageError(
                f"$.filter.judge.threshold: {config.threshold} is above the scale's top, {config.scale}"
            )
        self.config = config
        self.schema = {
            "type": "object",
            "properties": {
                k: {"type": "integer", "minimum": 1, "maximum": config.scale} for k in config.criteria
            },
            "required": list(config.criteria),
        }
        self.scored = 0
        self.totals: dict[str, float] = dict.fromkeys(config.criteria, 0.0)

    def prompt(self, record: Record) -> str:
        """The judging prompt for one record."""
        instruction = "\n\n".join(p for p in (record.instruction, record.input) if p)
        if not instruction and record.messages:
            instruction = "\n".join(f"{m.role}: {m.content}" for m in record.messages[:-1])
        answer = record.output or (record.messages[-1].content if record.messages else "")
        criteria = "\n".join(f"- {k}: {v}" for k, v in self.config.criteria.items())
        example = "{" + ", ".join(f'"{k}": <1-{self.config.scale}>' for k in self.config.criteria) + "}"
        return PROMPT.format(
            scale=self.config.scale,
            criteria=criteria,
            instruction=instruction,
            answer=answer,
            example=example,
        )

    async def score(self, llm: GenerationContext, record: Record) -> dict[str, int] | None:
        """The record's scores, or None when no valid answer came."""
        request = request_for(
            llm, self.prompt(record), max_tokens=self.config.max_tokens, temperature=self.config.temperature
        )
        try:
            value = await llm.complete_json(request, self.schema)
        except (BackendError, ValueError) as exc:
            llm.log.warning("judge_failed", record=record.id, error=str(exc))
            return None
        return {k: int(value.value[k]) for k in self.config.criteria}

    def start(self, ctx: RunContext) -> None:
        """Check the judge's backend (its key, its options) before any work."""
        ctx.llm(self.config.backend, self.config.model)

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Records scored in batches (in order); those at or above the threshold go on, with scores."""
        llm = ctx.llm(self.config.backend, self.config.model)
        batch: list[Record] = []
        async for record in records:
            batch.append(record)
            if len(batch) >= self.config.batch:
                for kept in await self._judge(ctx, llm, batch):
                    yield kept
                batch = []
        for kept in await self._judge(ctx, llm, batch):
            yield kept

    async def _judge(self, ctx: RunContext, llm: GenerationContext, batch: list[Record]) -> list[Record]:
        all_scores = await asyncio.gather(*(self.score(llm, r) for r in batch))
        kept = []
        for record, scores in zip(batch, all_scores, strict=True):
            if scores is None:
                if self.config.keep_unscored:
                    kept.append(record)
                else:
                    ctx.remove(record, "judge_failed")
                continue
            self.scored += 1
            for k, v in scores.items():
                self.totals[k] += v
            mean = sum(scores.values()) / len(scores)
            scored = record.evolve(metadata={**record.metadata, "judge": {**scores, "mean": round(mean, 3)}})
            if mean < self.config.threshold:
                ctx.remove(scored, "judge_below_threshold", mean=round(mean, 3), **scores)
            else:
                kept.append(scored)
        return kept

    def report(self) -> dict[str, Any]:
        """Records scored and the mean score per criterion."""
        means = {k: round(v / self.scored, 3) for k, v in self.totals.items()} if self.scored else {}
        return {"scored": self.scored, "mean_scores": means}


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the judge filter."""
    register(Judge)
