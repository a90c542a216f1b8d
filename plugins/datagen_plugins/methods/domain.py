"""``domain``: instruction data for one domain: a preset (legal, medical, finance, code) or a description.

A domain is a description, an audience, a glossary and example tasks; ``documents`` (files) add reference
text to the answering prompt. Each round asks for new domain tasks, shown example tasks and a sample of
glossary terms; tasks pass length filters and the ROUGE-L novelty filter against every task so far, then
get an expert answer. Seeds, if given, join the preset's examples.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Message,
    Record,
    RegisterMethod,
    RougeLIndex,
    UsageError,
    hookimpl,
    request_for,
    round_rng,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, bootstrap, prompts, split_tasks


def presets() -> dict[str, dict[str, Any]]:
    """The shipped domain presets by name."""
    text = (resources.files("datagen_plugins.methods") / "domains.toml").read_text(encoding="utf-8")
    return dict(tomllib.loads(text))


@attrs.define
class DomainConfig:
    """Options of ``[method.domain]``."""

    preset: str | None = "code"
    name: str | None = None
    description: str | None = None
    audience: str | None = None
    glossary: list[str] = attrs.field(factory=list)
    examples: list[str] = attrs.field(factory=list)
    documents: list[str] = attrs.field(factory=list)
    requests_per_round: int = 8
    rouge_threshold: float = 0.7
    min_words: int = 4
    max_words: int = 150
    max_tokens: int = 256
    answer_max_tokens: int = 512
    max_requests_per_record: int = 20
    prompts: dict[str, str] = attrs.field(factory=dict)


class Domain:
    """Domain-specific instruction generation."""

    name: ClassVar[str] = "domain"
    #: the seed's ``Generator.generate_domain_data`` runs this method
    seed_function: ClassVar[str] = "generate_domain_data"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = DomainConfig

    def __init__(self, config: DomainConfig) -> None:
        base: dict[str, Any] = {}
        if config.preset is not None:
            known = presets()
            if config.preset not in known:
                raise UsageError(
                    f"$.method.domain.preset: unknown preset {config.preset!r}; "
                    f"presets: {', '.join(sorted(known))}"
                )
            base = known[config.preset]
        self.domain = config.name or config.preset or "the domain"
        self.description = config.description or base.get("description")
        if not self.description:
            raise UsageError("$.method.domain: give a preset or a description")
        self.audience = config.audience or base.get("audience", "people working in the domain")
        self.glossary = [*base.get("glossary", []), *config.glossary]
        self.examples = [*base.get("examples", []), *config.examples]
        self.documents = []
        for path in config.documents:
            try:
                self.documents.append(Path(path).read_text(encoding="utf-8")[:4000])
            except OSError as exc:
                raise UsageError(f"$.method.domain.documents: cannot read {path}: {exc.strerror}") from None
        self.config = config
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """The domain needs example tasks, from the preset, the config or the seeds."""
        if not self.examples and not any(s.instruction for s in seeds):
            raise UsageError("domain: no example tasks (a preset, [method.domain] examples, or seeds)")

    async def _tasks(
        self, ctx: GenerationContext, examples: list[str], round_no: int, wanted: int
    ) -> list[str]:
        cfg = self.config
        rng = round_rng(ctx, self.name + self.domain, round_no)
        requests = []
        for _ in range(min(cfg.requests_per_round, wanted)):
            shown = rng.sample(examples, min(6, len(examples)))
            terms = rng.sample(self.glossary, min(5, len(self.glossary)))
            text = self.prompts.styled(
                "tasks",
                ctx.is_chat,
                tasks=shown,
                terms=terms,
                n=6,
                description=self.description,
                audience=self.audience,
            )
            requests.append(
                request_for(
                    ctx,
                    text,
                    max_tokens=cfg.max_tokens,
                    temperature=0.8,
                    seed=rng.randrange(2**31),
                    stop=() if ctx.is_chat else (f"Task {len(shown) + 7}:",),
                )
            )
        responses = await asyncio.gather(*(try_complete(ctx, r) for r in requests))
        found = []
        for response in responses:
            if response is None:
                continue
            found.extend(split_tasks(response.text, ctx.is_chat, response.finish_reason == "length"))
        return found

    async def _answer(self, ctx: GenerationContext, task: str, score: float, round_no: int) -> Record | None:
        rng = round_rng(ctx, self.name + task, round_no)
        terms = [t for t in self.glossary if t.lower() in task.lower()] or rng.sample(
            self.glossary, min(3, len(self.glossary))
        )
        text = self.prompts.styled("answer", ctx.is_chat, instruction=task, domain=self.domain, terms=terms)
        system = self.prompts.render(
            "system", description=self.description, domain=self.domain, documents=self.documents
        )
        if ctx.is_chat:
            request = ctx.request(
                messages=[Message("system", system), Message("user", text)],
                max_tokens=self.config.answer_max_tokens,
            )
        else:
            request = ctx.request(
                prompt=text, max_tokens=self.config.answer_max_tokens, stop=("### Task", "\n### ")
            )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        if response.finish_reason != "stop" or not response.text.strip():
            ctx.reject(f"answer_{response.finish_reason}")
            return None
        return Record(
            id=ctx.record_id(self.name, self.domain, task),
            instruction=task,
            output=response.text.strip(),
            metadata={
                "domain": self.domain,
                "preset": self.config.preset,
                "terms": terms,
                "rouge_l_max": round(score, 4),
                "round": round_no,
            },
            provenance=ctx.provenance(request, response),
        )

    async def generate(
        self, ctx: GenerationContext, seeds: Sequence[Record], count: int
    ) -> AsyncIterator[Record]:
        """Rounds of new domain tasks → filters → novelty → expert answers until ``count``."""
        cfg = self.config
        examples = self.examples + [s.instruction for s in seeds if s.instruction]

        async def propose(round_no: int, wanted: int) -> list[tuple[str, None]]:
            return [(task, None) for task in await self._tasks(ctx, examples, round_no, wanted)]

        async def build(task: str, _: None, score: float, round_no: int) -> Record | None:
            return await self._answer(ctx, task, score, round_no)

        async for record in bootstrap(
            ctx,
            method=self.name,
            count=count,
            index=RougeLIndex(cfg.rouge_threshold, examples),
            requests_per_round=cfg.requests_per_round,
            max_requests=cfg.max_requests_per_record * count,
            propose=propose,
            reject=lambda text: (
                (None if cfg.min_words <= len(text.split()) <= cfg.max_words else "length")
                or ("copied_prompt_example" if self.prompts.copies_example(text) else None)
            ),
            build=build,
            requests_per_kept=1,
        ):
            examples.append(record.instruction or "")
            yield record


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the domain method."""
    register(Domain)
