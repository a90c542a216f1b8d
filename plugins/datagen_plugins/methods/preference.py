"""``preference``: preference pairs for DPO/KTO — several answers per instruction, rated by a judge, the best
against the worst.

For each seed instruction ``candidates`` answers are sampled (each its own sampling seed and a temperature
from ``temperatures``; or one per model in ``models``). A judge (the run's backend unless ``judge_backend`` /
``judge_model`` name another) rates every answer on a rubric of aspects (UltraFeedback's by default), with
structured output only: per aspect a rationale and an integer score from 1 to ``scale``. It fails closed: an
answer that is not that JSON (a bare ``1``, ``10/10``, a score out of range or a string) is asked again
(``judge_retries``) and then the candidate is dropped and counted — a score is never guessed.

The chosen answer has the highest mean score, the rejected one the lowest (``rejected = "second"``: the
runner-up); pairs closer than ``margin`` are ties and dropped. With ``pairwise`` the chosen pair is judged
again head to head in both orders; if the two verdicts disagree (the judge followed the position) the pair
is a tie and dropped, and it counts as a position flip. The record's ``output`` and ``metadata["chosen"]``
are the chosen answer, ``metadata["rejected"]`` the rejected one (what the ``trl_dpo`` exporter reads),
``metadata["candidates"]`` every answer with its ratings and rationales. The run report's
``method_details`` gives the tie rate, position-flip rate, length bias (share of pairs whose chosen answer
is the longer), the score distribution per aspect and the judge's model.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import attrs

from datagen.plugin import (
    POSITIVE,
    BackendError,
    GenerationContext,
    Message,
    Record,
    RegisterMethod,
    Request,
    UsageError,
    bounded,
    hookimpl,
    records_of,
    request_for,
    require_seeds,
    try_complete,
)
from datagen_plugins.methods._shared import COMPLETION_HEADER, SEED_TASKS_FILE, alpaca_block

#: UltraFeedback's four aspects (Cui et al. 2023)
ASPECTS = {
    "helpfulness": "How well the answer fulfils the task and how useful and informative it is.",
    "honesty": "Whether the answer is candid about what it does not know and expresses fitting confidence.",
    "instruction_following": "How closely the answer follows the instruction's intent and constraints.",
    "truthfulness": "Whether the answer is free of invented facts, contradictions and false claims.",
}
RUBRIC_PROMPT = """Rate the answer to the instruction below on each aspect, from 1 (very poor) to {scale} \
(excellent).

Aspects:
{aspects}

### Instruction:
{instruction}

### Answer:
{answer}

Reply with JSON only: for every aspect a short rationale and an integer score, e.g. {example}"""
PAIRWISE_PROMPT = """Two answers to the same instruction follow. Which one is better overall (helpful, \
honest, truthful, following the instruction)?

### Instruction:
{instruction}

### Answer A:
{a}

### Answer B:
{b}

Reply with JSON only: {{"rationale": "<one or two sentences>", "better": "A" or "B" or "tie"}}"""
PAIRWISE_SCHEMA = {
    "type": "object",
    "properties": {"rationale": {"type": "string", "maxLength": 300}, "better": {"enum": ["A", "B", "tie"]}},
    "required": ["rationale", "better"],
}


#: characters of layout a JSON grammar lets a model put in one gap between tokens (llama.cpp's allow a
#: newline or two and up to 20 spaces or tabs)
_GAP = 23


def json_chars_bound(schema: Mapping[str, Any]) -> int:
    """About the most characters a JSON value valid against ``schema`` takes when its strings are
    bounded (``maxLength``), its integers bounded and its objects closed, layout included: a bound on
    the tokens a judge held to the schema by a grammar writes (a token is at least one character; a
    string's escapes are not counted). An unbounded string or number counts 512."""
    if "enum" in schema:
        return max(len(json.dumps(v)) for v in schema["enum"]) + _GAP
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        members = sum(len(json.dumps(k)) + 2 + 2 * _GAP + json_chars_bound(v) for k, v in props.items())
        return members + 2 + _GAP
    if kind == "string":
        return int(schema.get("maxLength", 512)) + 2 + _GAP
    if kind == "integer" and schema.get("minimum") is not None and schema.get("maximum") is not None:
        return max(len(str(schema["minimum"])), len(str(schema["maximum"]))) + _GAP
    return 512 + _GAP


@attrs.define
class PreferenceConfig:
    """Options of ``[method.preference]``."""

    #: answers sampled per instruction
    candidates: int = attrs.field(default=4, validator=bounded(2, high=16))
    #: candidate k samples at ``temperatures[k % len]``
    temperatures: list[float] = attrs.field(factory=lambda: [0.3, 0.7, 1.0, 1.2])
    #: models of the run's backend, one candidate each in turn (empty: the run's model)
    models: list[str] = attrs.field(factory=list)
    system_prompt: str | None = None
    max_tokens: int | None = None
    aspects: dict[str, str] = attrs.field(factory=lambda: dict(ASPECTS))
    scale: int = attrs.field(default=5, validator=bounded(2, high=10))
    judge_backend: str | None = None
    judge_model: str | None = None
    #: tokens a rating may take (None: as many as the schema allows characters, since a token is at
    #: least one character, so a judge held to the schema by a grammar is never cut off)
    judge_max_tokens: int | None = attrs.field(default=None, validator=POSITIVE)
    #: the longest rationale per aspect, in characters (the schema bounds it, so a judge that rambles is
    #: stopped by its grammar, not cut off at ``judge_max_tokens``)
    rationale_max_chars: int = attrs.field(default=300, validator=bounded(1))
    #: times a judge's answer that is not valid JSON is asked for again before the candidate is dropped
    judge_retries: int = attrs.field(default=1, validator=bounded(0, high=5))
    #: the least mean-score gap between chosen and rejected; closer pairs are ties and dropped
    margin: float = attrs.field(default=1.0, validator=bounded(0))
    #: the rejected answer: the lowest-rated one or the runner-up
    rejected: Literal["lowest", "second"] = "lowest"
    #: judge the chosen pair again head to head, in both orders; disagreement is a tie
    pairwise: bool = False


@attrs.define
class _Tally:
    """What a run's judge did, for the report."""

    instructions: int = 0
    pairs: int = 0
    ties: int = 0
    pairwise_judged: int = 0
    position_flips: int = 0
    chosen_longer: int = 0
    rated: int = 0
    unparsed: int = 0
    scores: dict[str, Counter[int]] = attrs.field(factory=dict)

    def as_dict(self, judge: str | None, aspects: Sequence[str]) -> dict[str, Any]:
        decided = self.pairs + self.ties
        return {
            "judge_model": judge,
            "instructions": self.instructions,
            "pairs": self.pairs,
            "pairs_per_instruction": round(self.pairs / self.instructions, 3) if self.instructions else None,
            "ties_dropped": self.ties,
            "tie_rate": round(self.ties / decided, 3) if decided else None,
            "pairwise_judged": self.pairwise_judged,
            "position_flip_rate": (
                round(self.position_flips / self.pairwise_judged, 3) if self.pairwise_judged else None
            ),
            "length_bias": round(self.chosen_longer / self.pairs, 3) if self.pairs else None,
            "ratings": self.rated,
            "ratings_unparsed_dropped": self.unparsed,
            "score_distribution": {
                a: {str(k): v for k, v in sorted(self.scores.get(a, Counter()).items())} for a in aspects
            },
        }


class Preference:
    """Samples answers per instruction, rates them with a judge, keeps the best against the worst."""

    name: ClassVar[str] = "preference"
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = PreferenceConfig

    def __init__(self, config: PreferenceConfig) -> None:
        if not config.aspects:
            raise UsageError("$.method.preference.aspects: name at least one aspect")
        if not config.temperatures or any(t < 0 for t in config.temperatures):
            raise UsageError("$.method.preference.temperatures: give one or more temperatures, each ≥ 0")
        if config.margin > config.scale - 1:
            raise UsageError(
                f"$.method.preference.margin: {config.margin} exceeds the scale's range ({config.scale - 1})"
            )
        self.config = config
        score = {"type": "integer", "minimum": 1, "maximum": config.scale}
        aspect = {
            "type": "object",
            "properties": {
                "rationale": {"type": "string", "maxLength": config.rationale_max_chars},
                "score": score,
            },
            "required": ["rationale", "score"],
        }
        self.schema = {
            "type": "object",
            "properties": dict.fromkeys(config.aspects, aspect),
            "required": list(config.aspects),
        }
        self.tally = _Tally()
        self.judge_model: str | None = config.judge_model
        #: tokens for a rating and a verdict: the config's, else the most characters each schema allows
        self.rating_tokens = config.judge_max_tokens or json_chars_bound(self.schema)
        self.verdict_tokens = config.judge_max_tokens or json_chars_bound(PAIRWISE_SCHEMA)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Seeds must exist and each carry an instruction."""
        require_seeds(seeds, "preference")

    # -- candidates ---------------------------------------------------------------------------------

    def _answer_request(self, ctx: GenerationContext, seed: Record, k: int, cycle: int) -> Request:
        params: dict[str, Any] = {
            "temperature": self.config.temperatures[k % len(self.config.temperatures)],
            "seed": (ctx.run.config.sampling.seed or 0) + 1000 * cycle + k,
        }
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        if ctx.is_chat:
            messages = [Message("system", self.config.system_prompt)] if self.config.system_prompt else []
            messages.append(Message("user", seed.prompt_text))
            return ctx.request(messages=messages, **params)
        prompt = COMPLETION_HEADER + "\n\n" + alpaca_block(seed, False)
        return ctx.request(prompt=prompt, stop=["### Instruction", "\n### "], **params)

    async def _candidate(
        self, ctx: GenerationContext, seed: Record, k: int, cycle: int
    ) -> dict[str, Any] | None:
        llm = ctx
        if self.config.models and self.config.models[k % len(self.config.models)] != ctx.run.model:
            llm = ctx.llm(None, self.config.models[k % len(self.config.models)])
        response = await try_complete(llm, self._answer_request(llm, seed, k, cycle))
        if response is None or not response.text.strip():
            return None
        return {"text": response.text.strip(), "model": response.model or ctx.run.model, "sample": k}

    # -- judging ------------------------------------------------------------------------------------

    def rubric_prompt(self, instruction: str, answer: str) -> str:
        """The judge's prompt for one answer."""
        aspects = "\n".join(f"- {k}: {v}" for k, v in self.config.aspects.items())
        example = (
            "{"
            + ", ".join(
                f'"{k}": {{"rationale": "...", "score": <1-{self.config.scale}>}}'
                for k in self.config.aspects
            )
            + "}"
        )
        return RUBRIC_PROMPT.format(
            scale=self.config.scale, aspects=aspects, instruction=instruction, answer=answer, example=example
        )

    async def rate(self, judge: GenerationContext, instruction: str, answer: str) -> dict[str, Any] | None:
        """Per aspect ``{"score", "rationale"}``, or None (counted) when the judge gave no valid rating."""
        with judge.without_persona():  # the judge rates the answer, not the persona's view of it
            request = request_for(
                judge, self.rubric_prompt(instruction, answer), max_tokens=self.rating_tokens, temperature=0.0
            )
        try:
            value = (await judge.complete_json(request, self.schema, retries=self.config.judge_retries)).value
        except (BackendError, ValueError) as exc:
            self.tally.unparsed += 1
            judge.log.warning("judge_unparsed", error=str(exc)[:200])
            return None
        self.tally.rated += 1
        ratings: dict[str, dict[str, Any]] = {}
        for a in self.config.aspects:
            score = int(value[a]["score"])
            ratings[a] = {"score": score, "rationale": str(value[a]["rationale"])}
            self.tally.scores.setdefault(a, Counter())[score] += 1
        return ratings

    async def _verdict(self, judge: GenerationContext, instruction: str, a: str, b: str) -> str | None:
        with judge.without_persona():
            request = request_for(
                judge,
                PAIRWISE_PROMPT.format(instruction=instruction, a=a, b=b),
                max_tokens=self.verdict_tokens,
                temperature=0.0,
            )
        try:
            value = await judge.complete_json(request, PAIRWISE_SCHEMA, retries=self.config.judge_retries)
        except (BackendError, ValueError) as exc:
            judge.log.warning("judge_unparsed", error=str(exc)[:200])
            return None
        return str(value.value["better"])

    async def head_to_head(
        self, judge: GenerationContext, instruction: str, chosen: str, rejected: str
    ) -> bool | None:
        """Whether the chosen answer wins in both orders (False: a tie or a flip; None: no valid verdict)."""
        first, second = await asyncio.gather(
            self._verdict(judge, instruction, chosen, rejected),
            self._verdict(judge, instruction, rejected, chosen),
        )
        if first is None or second is None:
            return None
        self.tally.pairwise_judged += 1
        if (first, second) == ("A", "B"):
            return True
        if first != "tie" and second != "tie" and first == second:  # the same slot won both times
            self.tally.position_flips += 1
        return False

    # -- one instruction ----------------------------------------------------------------------------

    def select(self, rated: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The chosen and rejected candidates by mean score, or None for a tie (gap below the margin or
        the same text)."""
        ranked = sorted(rated, key=lambda c: c["mean"], reverse=True)
        chosen = ranked[0]
        rejected = ranked[1] if self.config.rejected == "second" else ranked[-1]
        if (
            chosen["mean"] - rejected["mean"] < max(self.config.margin, 1e-9)
            or chosen["text"] == rejected["text"]
        ):
            return None
        return chosen, rejected

    async def _pair(self, ctx: GenerationContext, job: tuple[int, Record], n_seeds: int) -> Record | None:
        index, seed = job
        cycle = index // n_seeds  # a job asked again (after a tie) gets new sampling seeds from records_of
        instruction = "\n\n".join(p for p in (seed.instruction, seed.input) if p)
        judge = ctx  # the run's own model and engine (the embedded model is loaded once) unless named
        if self.config.judge_backend is not None or self.config.judge_model not in (None, ctx.run.model):
            judge = ctx.llm(self.config.judge_backend, self.config.judge_model)
        self.judge_model = self.judge_model or judge.run.model
        found = await asyncio.gather(
            *(self._candidate(ctx, seed, k, cycle) for k in range(self.config.candidates))
        )
        unique = list({c["text"]: c for c in found if c is not None}.values())
        if len(unique) < 2:
            ctx.reject("preference_too_few_answers")
            return None
        ratings = await asyncio.gather(*(self.rate(judge, instruction, c["text"]) for c in unique))
        rated = []
        for candidate, rating in zip(unique, ratings, strict=True):
            if rating is None:
                ctx.reject("judge_unparsed")  # never guessed: the candidate is dropped
            else:
                mean = sum(r["score"] for r in rating.values()) / len(rating)
                rated.append({**candidate, "ratings": rating, "mean": round(mean, 3)})
        self.tally.instructions += 1
        if len(rated) < 2:
            ctx.reject("preference_too_few_rated")
            return None
        picked = self.select(rated)
        if picked is not None and self.config.pairwise:
            wins = await self.head_to_head(judge, instruction, picked[0]["text"], picked[1]["text"])
            if wins is None:
                ctx.reject("preference_pairwise_unparsed")
                return None
            picked = picked if wins else None
        if picked is None:
            self.tally.ties += 1
            ctx.reject("preference_tie")
            return None
        chosen, rejected = picked
        self.tally.pairs += 1
        self.tally.chosen_longer += len(chosen["text"]) > len(rejected["text"])
        return Record(
            id=ctx.record_id("preference", seed.id, cycle),
            instruction=seed.instruction,
            input=seed.input,
            output=chosen["text"],
            metadata={
                "chosen": chosen["text"],
                "rejected": rejected["text"],
                "chosen_score": chosen["mean"],
                "rejected_score": rejected["mean"],
                "candidates": rated,
                "judge_model": self.judge_model,
            },
            provenance=ctx.provenance(seed_ids=[seed.id], params={"candidates": self.config.candidates}),
        )

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """One pair per seed instruction, cycling until ``count``; a tie is tried again with new samples."""
        jobs = zip(range(count), itertools.cycle(seeds), strict=False)
        return records_of(ctx, lambda job: self._pair(ctx, job, len(seeds)), jobs)

    def report(self) -> dict[str, Any]:
        """Tie rate, position-flip rate, length bias, score distribution per aspect, the judge's model."""
        return self.tally.as_dict(self.judge_model, list(self.config.aspects))


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the preference method."""
    register(Preference)
