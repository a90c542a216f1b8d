"""``conversation``: multi-turn user/assistant dialogues from seed instructions or topics (``messages``).

A seed with an instruction opens the dialogue with it; a seed with only a topic (``metadata.topic``, or
the instruction used as a topic when ``seed_is_topic``) gets an opening question written by the model.
Base models continue a transcript; chat models play the user with a separate prompt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Message,
    Record,
    RegisterMethod,
    Request,
    Response,
    Usage,
    UsageError,
    hookimpl,
    records_of,
    require_seeds,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, first_paragraph, prompts


@attrs.define
class ConversationConfig:
    """Options of ``[method.conversation]``."""

    turns: int = 3
    conversations_per_seed: int = 1
    seed_is_topic: bool = False
    max_tokens: int = 256
    prompts: dict[str, str] = attrs.field(factory=dict)


class Conversation:
    """N-turn dialogues (one turn = a user message and the assistant's answer)."""

    name: ClassVar[str] = "conversation"
    #: the seed's ``Generator.generate_conversations`` runs this method
    seed_function: ClassVar[str] = "generate_conversations"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = ConversationConfig

    def __init__(self, config: ConversationConfig) -> None:
        if config.turns < 1 or config.conversations_per_seed < 1:
            raise UsageError("$.method.conversation: turns and conversations_per_seed must be >= 1")
        self.config = config
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Seeds must carry an instruction (a first message, or a topic)."""
        require_seeds(seeds, self.name)

    async def _say(
        self, ctx: GenerationContext, role: str, messages: list[Message], topic: str | None, sample: int
    ) -> tuple[str, Request, Response] | None:
        seed = (ctx.run.config.sampling.seed or 0) + 1000 * sample + len(messages)
        params: dict[str, Any] = {"max_tokens": self.config.max_tokens, "seed": seed}
        if not ctx.is_chat:
            text = self.prompts.render("transcript_completion", topic=topic, messages=messages, next=role)
            request = ctx.request(prompt=text, stop=("\nUser:", "\nAssistant:"), **params)
        elif role == "assistant":
            request = ctx.request(
                messages=[Message("system", self.prompts.render("system")), *messages], **params
            )
        elif messages:
            text = self.prompts.render("user_chat", topic=topic, messages=messages)
            request = ctx.request(messages=[Message("user", text)], **params)
        else:
            request = ctx.request(
                messages=[Message("user", self.prompts.render("opening_chat", topic=topic))], **params
            )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        content = first_paragraph(response.text) if role == "user" else response.text.strip()
        if not content or response.finish_reason not in {"stop", "length"}:
            ctx.reject(f"empty_{role}_turn")
            return None
        return content, request, response

    async def _dialogue(self, ctx: GenerationContext, job: tuple[Record, int]) -> Record | None:
        seed, sample = job
        topic = seed.metadata.get("topic") if isinstance(seed.metadata.get("topic"), str) else None
        messages: list[Message] = []
        if self.config.seed_is_topic:
            topic = seed.instruction
        else:
            messages.append(Message("user", seed.prompt_text))
        usage = Usage(0, 0, 0.0)
        last: tuple[Request, Response] | None = None
        truncated = 0
        while len(messages) < 2 * self.config.turns:
            role = "user" if len(messages) % 2 == 0 else "assistant"
            said = await self._say(ctx, role, messages, topic, sample)
            if said is None:
                return None
            content, request, response = said
            truncated += response.finish_reason == "length"
            usage = usage + response.usage
            messages.append(Message(role, content))
            last = (request, response)
        assert last is not None
        provenance = ctx.provenance(*last, seed_ids=[seed.id], params={"turns": self.config.turns})
        return Record(
            id=ctx.record_id(self.name, seed.id, sample),
            messages=tuple(messages),
            metadata={"turns": self.config.turns, "topic": topic, "truncated_turns": truncated},
            provenance=attrs.evolve(provenance, usage=usage),
        )

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """Dialogues for each seed in turn, cycling, up to ``count``."""
        per_seed = self.config.conversations_per_seed
        jobs = ((seeds[i % len(seeds)], i // len(seeds)) for i in range(max(count, len(seeds) * per_seed)))
        return records_of(ctx, lambda job: self._dialogue(ctx, job), jobs)


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the conversation method."""
    register(Conversation)
