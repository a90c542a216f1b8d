"""``persona``: personas for persona-driven generation (Persona Hub, Ge et al. 2024, arXiv 2406.20094).

Two ways to make them, as in Persona Hub:

- ``mode = "from_text"`` (text-to-persona): for each seed text, who is likely to read, write, like or
  dislike it, in one sentence. Seeds are any texts (instruction, input and output joined; the
  Self-Instruct tasks when a run names none); a seed is used again with another sampling seed once all
  have been.
- ``mode = "expand"`` (persona-to-persona): for each persona of the run's ``[generate] personas`` file,
  someone close to them (``relations``: a colleague, a customer, a family member, ...), a new person
  with their own work and concerns. Every persona is expanded with the first relation before any with
  the second.

A record holds the persona in ``output`` and in ``metadata.persona`` (what ``[generate] personas``
reads), with where it came from (``persona_source``: the seed's id, or ``expanded_from`` and
``relation``). An answer that is not one persona (too short, too long, a question, a copy of its
source) is asked again, then dropped and counted. Add ``near_dedup`` to the output filters to drop
near-duplicate personas as they are made; a persona file is deduplicated again when a run reads it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    POSITIVE,
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
from datagen_plugins.methods._shared import SEED_TASKS_FILE, is_copy, prompts

MODES = ("from_text", "expand")
#: who an expanded persona is to its source (Persona Hub's "interpersonal relations")
RELATIONS = (
    "a colleague",
    "a customer or client",
    "a family member",
    "a friend",
    "a teacher or mentor",
    "a student or apprentice",
    "a competitor or critic",
    "a neighbour",
)
_LABEL = re.compile(r"^\s*(?:[-*\u2022]\s*|persona\s*:\s*|someone close to them[^:]*:\s*)", re.IGNORECASE)


@attrs.define
class PersonaConfig:
    """Options of ``[method.persona]``."""

    #: ``from_text`` (a persona for each seed text) or ``expand`` (a relation of each run persona)
    mode: str = "from_text"
    relations: list[str] = attrs.field(factory=lambda: list(RELATIONS))
    #: a seed text is cut to this many characters before it goes into the prompt
    max_text_chars: int = attrs.field(default=2000, validator=POSITIVE)
    #: a persona outside these bounds (words) is asked again, then dropped (``too_short``/``too_long``)
    min_words: int = attrs.field(default=5, validator=POSITIVE)
    max_words: int = attrs.field(default=60, validator=POSITIVE)
    max_tokens: int = attrs.field(default=120, validator=POSITIVE)
    prompts: dict[str, str] = attrs.field(factory=dict)


def first_persona(answer: str) -> str:
    """The persona in a model's answer: its first non-empty line, list markers, labels and quotes off."""
    for raw in answer.strip().splitlines():
        line = _LABEL.sub("", raw).strip().strip("\"'\u201c\u201d").strip()
        if line:
            return line
    return ""


def seed_text(seed: Record) -> str:
    """A seed's text: its instruction, input and output (or its turns), joined."""
    parts = [p for p in (seed.instruction, seed.input, seed.output) if p]
    if not parts and seed.messages:
        parts = [m.content for m in seed.messages]
    return "\n\n".join(parts).strip()


class Persona:
    """Personas from seed texts, or relations of the run's personas."""

    name: ClassVar[str] = "persona"
    #: the seeds a run uses when it names none (the Self-Instruct tasks, as texts)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = PersonaConfig

    def __init__(self, config: PersonaConfig) -> None:
        if config.mode not in MODES:
            raise UsageError(f"$.method.persona.mode: {config.mode!r} is not one of {', '.join(MODES)}")
        if config.mode == "expand" and not [r for r in config.relations if r.strip()]:
            raise UsageError("$.method.persona.relations: name at least one relation to expand by")
        if config.min_words > config.max_words:
            raise UsageError("$.method.persona: min_words must not exceed max_words")
        self.config = config
        self.relations = [r.strip() for r in config.relations if r.strip()]
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """``from_text`` needs seeds with text."""
        if self.config.mode == "from_text":
            require_seeds(seeds, self.name)

    def _problem(self, persona: str, source: str) -> str | None:
        words = len(persona.split())
        if words < self.config.min_words:
            return "too_short"
        if words > self.config.max_words:
            return "too_long"
        if "?" in persona:  # a question someone would ask, not a description of them
            return "a_question"
        if is_copy(persona, source, 0.7):
            return "copies_source"
        return None

    async def _ask(
        self, ctx: GenerationContext, key: str, source: str, cycle: int, **variables: Any
    ) -> tuple[str, Any, Any] | None:
        text = self.prompts.styled(key, ctx.is_chat, **variables)
        request = request_for(
            ctx,
            text,
            max_tokens=self.config.max_tokens,
            stop=() if ctx.is_chat else ("\n",),
            seed=(ctx.run.config.sampling.seed or 0) + cycle,
        )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        persona = first_persona(response.text)
        problem = self._problem(persona, source)
        if problem is not None:
            ctx.reject(problem)
            return None
        return persona, request, response

    async def _from_text(
        self, ctx: GenerationContext, job: tuple[int, Record], n_seeds: int
    ) -> Record | None:
        index, seed = job
        source = seed_text(seed)[: self.config.max_text_chars]
        asked = await self._ask(ctx, "from_text", source, index // n_seeds, text=source)
        if asked is None:
            return None
        persona, request, response = asked
        return Record(
            id=ctx.record_id(self.name, "from_text", seed.id, index // n_seeds),
            output=persona,
            metadata={"persona": persona, "persona_source": seed.id},
            provenance=ctx.provenance(request, response, seed_ids=[seed.id], parent_id=seed.id),
        )

    async def _expand(self, ctx: GenerationContext, index: int) -> Record | None:
        source = ctx.persona
        if source is None:  # generate() refuses a run without personas
            return None
        relation = self.relations[(index // len(ctx.personas)) % len(self.relations)]
        cycle = index // (len(ctx.personas) * len(self.relations))
        asked = await self._ask(ctx, "expand", source, cycle, persona=source, relation=relation)
        if asked is None:
            return None
        persona, request, response = asked
        return Record(
            id=ctx.record_id(self.name, "expand", source, relation, cycle),
            output=persona,
            metadata={"persona": persona, "expanded_from": source, "relation": relation},
            provenance=ctx.provenance(request, response, params={"relation": relation}),
        )

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """``count`` personas: one per seed text in turn, or one per run persona and relation in turn."""
        if self.config.mode == "expand":
            if not ctx.personas:
                raise UsageError(
                    "persona: mode 'expand' expands the run's personas: set [generate] personas "
                    "(or --personas FILE) to a file of them"
                )
            # the i-th job is given the i-th run persona (records_of), the one it expands
            return records_of(ctx, lambda index: self._expand(ctx, index), range(count))
        if ctx.personas:
            raise UsageError(
                "persona: mode 'from_text' makes personas from seed texts; [generate] personas would "
                "condition those requests on other personas: leave it unset, or use mode 'expand'"
            )
        jobs = ((i, seeds[i % len(seeds)]) for i in range(count))
        return records_of(ctx, lambda job: self._from_text(ctx, job, len(seeds)), jobs)


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the persona method."""
    register(Persona)
