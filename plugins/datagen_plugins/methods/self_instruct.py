"""``self_instruct``: bootstrap new tasks from seed tasks (Wang et al. 2022, "Self-Instruct").

Each round samples ``seed_per_prompt`` human seed tasks and ``machine_per_prompt`` generated ones into a
prompt and asks for new tasks; candidates go through the paper's filters (length, blacklisted keywords,
programs, leading punctuation or non-ASCII) and the ROUGE-L novelty filter against every task kept so far
(:class:`datagen._text.rouge.RougeLIndex`, exact and sub-quadratic); each kept task is classified
(classification or not) and gets an instance: input-first, or output-first for classification tasks.
Rounds are deterministic given the run's random seed, so a rerun repeats its prompts and hits the cache.
"""

from __future__ import annotations

import asyncio
import re
import string
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Record,
    RegisterMethod,
    RougeLIndex,
    UsageError,
    hookimpl,
    request_for,
    require_seeds,
    round_rng,
    try_complete,
)
from datagen_plugins.methods._shared import (
    SEED_TASKS_FILE,
    bootstrap,
    first_paragraph,
    normalise,
    prompts,
    split_tasks,
)

BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
    "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
_TASK_SPLIT = re.compile(r"\n?\s*Task\s*\d+\s*:", re.IGNORECASE)
#: the prompt's own labels left in an instance ("Input:", "Output:", "Task 3:", "Class label:")
_SCAFFOLDING = re.compile(r"(?:^|\n)\s*(?:input|output|task|class label)\s*\d*\s*:", re.IGNORECASE)
# Cues that a task's answer is one of a few labels (used by classify_with = "keywords").
_CLASSIFICATION_CUES = re.compile(
    r"\b(classify|classification|categori[sz]e|which (?:category|class|of the following)|true or false|"
    r"yes or no|positive or negative|sentiment|(?:tell|determine|decide|identify|detect|check) (?:me )?"
    r"(?:if|whether)|is (?:it|this|the following) (?:a|an)?\s*\w+ or|label)\b",
    re.IGNORECASE,
)


def instance_problem(instruction: str, value: str | None, output: str) -> str | None:
    """Why an instance is not a task's answer (None when it is): the output repeats the input or the
    instruction word for word (``output_copies_input``, ``output_copies_instruction``), or the prompt's
    labels are left in it (``prompt_scaffolding``)."""
    said = normalise(output)
    if value and said == normalise(value):
        return "output_copies_input"
    if said == normalise(instruction):
        return "output_copies_instruction"
    if _SCAFFOLDING.search(output) or (value and _SCAFFOLDING.search(value)):
        return "prompt_scaffolding"
    return None


@attrs.define
class SelfInstructConfig:
    """Options of ``[method.self_instruct]``."""

    seed_per_prompt: int = 6
    machine_per_prompt: int = 2
    requests_per_round: int = 8
    rouge_threshold: float = 0.7
    min_words: int = 4
    max_words: int = 150
    instruction_max_tokens: int = 256
    instance_max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.5
    max_requests_per_record: int = 20
    #: how a task is judged a classification task: the model's answer ("model", the paper's way), cue
    #: words ("keywords"), or "auto": keywords on the embedded model (which answers Yes to everything),
    #: the model's answer on any other backend
    classify_with: str = "auto"
    prompts: dict[str, str] = attrs.field(factory=dict)


def filter_reason(instruction: str, cfg: SelfInstructConfig) -> str | None:
    """Why the paper's heuristics reject ``instruction`` (None when it passes)."""
    words = instruction.split()
    if len(words) < cfg.min_words:
        return "too_short"
    if len(words) > cfg.max_words:
        return "too_long"
    lower = instruction.lower()
    if any(re.search(rf"\b{re.escape(word)}\b", lower) for word in BLACKLIST):
        return "blacklisted_keyword"
    if lower.startswith("write a program"):
        return "program"
    if instruction[0] in string.punctuation:
        return "starts_with_punctuation"
    if not instruction[0].isascii():
        return "non_ascii"
    return None


#: the backend whose small base model needs ``classify_with = "keywords"``
EMBEDDED_BACKEND = "local"


class SelfInstruct:
    """The Self-Instruct bootstrap loop with an indexed ROUGE-L novelty filter."""

    name: ClassVar[str] = "self_instruct"
    #: the seed's ``Generator.generate_from_seed`` runs this method
    seed_function: ClassVar[str] = "generate_from_seed"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = SelfInstructConfig

    def __init__(self, config: SelfInstructConfig) -> None:
        self.config = config
        if not 0 < config.rouge_threshold <= 1:
            raise UsageError("$.method.self_instruct.rouge_threshold must be in (0, 1]")
        if config.classify_with not in {"auto", "model", "keywords"}:
            raise UsageError(
                "$.method.self_instruct.classify_with: expected 'auto', 'model' or 'keywords', "
                f"got {config.classify_with!r}"
            )
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Seed tasks must exist and carry instructions."""
        require_seeds(seeds, self.name)

    # ---------------------------------------------------------------------------------------- prompts

    def _sample_tasks(
        self, rng: Any, seeds: Sequence[Record], machine: Sequence[Record]
    ) -> tuple[list[str], list[str]]:
        cfg = self.config
        human = rng.sample(list(seeds), min(cfg.seed_per_prompt, len(seeds)))
        generated = rng.sample(list(machine), min(cfg.machine_per_prompt, len(machine)))
        chosen = human + generated
        rng.shuffle(chosen)
        return [r.instruction or "" for r in chosen], [r.id for r in chosen]

    @staticmethod
    def parse_instance(text: str, classification: bool) -> tuple[str | None, str] | None:
        """(input, output) from an instance response, or None when it has no usable output."""
        text = text.strip()
        if classification:
            label, _, rest = text.partition("\n")
            label = re.sub(r"^\s*class label\s*:\s*", "", label, flags=re.IGNORECASE).strip()
            match = re.search(r"input\s*:\s*(.*)", rest, re.IGNORECASE | re.DOTALL)
            value = first_paragraph(match.group(1)) if match else ""
            if not label:
                return None
            return (None if value.lower() in {"", "none", "n/a"} else value), label
        match = re.search(r"^\s*(?:input\s*:\s*(.*?)\s*)?output\s*:\s*(.*)$", text, re.IGNORECASE | re.DOTALL)
        if match:
            value, output = (match.group(1) or "").strip(), first_paragraph(match.group(2))
        else:
            value, output = "", first_paragraph(text)
        output = _TASK_SPLIT.split(output)[0].strip()
        if not output:
            return None
        return (None if value.lower() in {"", "none", "n/a"} else value), output

    # ------------------------------------------------------------------------------------------ steps

    async def _new_instructions(
        self,
        ctx: GenerationContext,
        seeds: Sequence[Record],
        machine: Sequence[Record],
        round_no: int,
        wanted: int,
    ) -> list[tuple[str, list[str]]]:
        cfg = self.config
        rng = round_rng(ctx, self.name, round_no)
        jobs = []
        for _ in range(min(cfg.requests_per_round, wanted)):
            tasks, ids = self._sample_tasks(rng, seeds, machine)
            text = self.prompts.styled("instructions", ctx.is_chat, tasks=tasks, n=8)
            request = request_for(
                ctx,
                text,
                max_tokens=cfg.instruction_max_tokens,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                seed=rng.randrange(2**31),
                stop=() if ctx.is_chat else (f"Task {len(tasks) + 9}:",),
            )
            jobs.append((request, ids))
        responses = await asyncio.gather(*(try_complete(ctx, req) for req, _ in jobs))
        found = []
        for (_, ids), response in zip(jobs, responses, strict=True):
            if response is None:
                continue
            truncated = response.finish_reason == "length"
            for instruction in split_tasks(response.text, ctx.is_chat, truncated):
                found.append((instruction, ids))
        return found

    async def _is_classification(self, ctx: GenerationContext, instruction: str) -> bool | None:
        mode = self.config.classify_with
        if mode == "auto":
            mode = "keywords" if ctx.run.backend == EMBEDDED_BACKEND else "model"
        if mode == "keywords":
            return bool(_CLASSIFICATION_CUES.search(instruction))
        text = self.prompts.styled("classify", ctx.is_chat, instruction=instruction)
        request = request_for(ctx, text, max_tokens=3, temperature=0.0, stop=() if ctx.is_chat else ("\n",))
        response = await try_complete(ctx, request)
        if response is None:
            return None
        return response.text.strip().lower().startswith("yes")

    async def _task_record(
        self,
        ctx: GenerationContext,
        *,
        seeds: Sequence[Record],
        instruction: str,
        seed_ids: list[str],
        score: float,
        round_no: int,
    ) -> Record | None:
        cfg = self.config
        classification = await self._is_classification(ctx, instruction)
        if classification is None:
            return None
        rng = round_rng(ctx, self.name + instruction, round_no)
        usable = [s for s in seeds if s.output and len(s.output) < 600]
        examples = rng.sample(usable, min(3, len(usable)))
        key = "class_instance" if classification else "instance"
        text = self.prompts.styled(key, ctx.is_chat, instruction=instruction, examples=examples)
        request = request_for(
            ctx,
            text,
            max_tokens=cfg.instance_max_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            stop=() if ctx.is_chat else ("\nTask:", "\n\nTask"),
        )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        if response.finish_reason != "stop":
            ctx.reject(f"instance_{response.finish_reason}")
            return None
        parsed = self.parse_instance(response.text, classification)
        if parsed is None:
            ctx.reject("no_instance")
            return None
        value, output = parsed
        problem = instance_problem(instruction, value, output)
        if problem is not None:
            ctx.reject(problem)
            return None
        return Record(
            id=ctx.record_id(self.name, instruction),
            instruction=instruction,
            input=value,
            output=output,
            metadata={"is_classification": classification, "rouge_l_max": round(score, 4), "round": round_no},
            provenance=ctx.provenance(request, response, seed_ids=seed_ids),
        )

    async def generate(
        self, ctx: GenerationContext, seeds: Sequence[Record], count: int
    ) -> AsyncIterator[Record]:
        """Rounds of generate → filter → novelty → classify → instance until ``count`` tasks are kept."""
        cfg = self.config
        machine: list[Record] = []

        async def build(instruction: str, seed_ids: list[str], score: float, round_no: int) -> Record | None:
            return await self._task_record(
                ctx, seeds=seeds, instruction=instruction, seed_ids=seed_ids, score=score, round_no=round_no
            )

        async for record in bootstrap(
            ctx,
            method=self.name,
            count=count,
            index=RougeLIndex(cfg.rouge_threshold, (s.instruction or "" for s in seeds)),
            requests_per_round=cfg.requests_per_round,
            max_requests=cfg.max_requests_per_record * count,
            propose=lambda round_no, wanted: self._new_instructions(ctx, seeds, machine, round_no, wanted),
            reject=lambda text: (
                filter_reason(text, cfg)
                or ("copied_prompt_example" if self.prompts.copies_example(text) else None)
            ),
            build=build,
            requests_per_kept=2,  # classification and instance
        ):
            machine.append(record)
            yield record


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the self_instruct method."""
    register(SelfInstruct)
