"""``evol_instruct``: evolve instructions into harder or broader ones (Xu et al. 2023, "WizardLM").

Each round picks one operation per instruction by configurable weights: in-depth (add constraints,
deepen, concretize, increase reasoning steps, complicate the input; one prompt with the operation's rule,
"add 10 to 20 words") or in-breadth (a prompt of its own: a new instruction in the same domain, rarer, of
similar length and difficulty). The seed's instruction travels together with its input, as WizardLM
sends them. Then the **elimination step**, which the reference code and distilabel lack, drops an
evolution that

1. copies the prompt's own wording ("#Prompt#", "rewritten prompt", ...) or one of its few-shot
   examples — ``copied_prompt``;
2. adds no information over its parent: the same words (``unchanged``), or judged equal by the LLM
   (``no_information_gain``);
3. the model cannot answer ("sorry" in a short answer) — ``unanswerable``;
4. is answered with nothing but punctuation and English stop words — ``empty_answer``.

An eliminated evolution is tried again with another operation, up to ``max_attempts`` per instruction
and round (counted as ``evolution_retried``); if every attempt fails the parent stays in the pool for the
next round. ``include_seeds`` adds the originals to the output, the paper's merge of all rounds. Every
kept record carries its lineage: ``parent_id``, ``operation`` and ``round``.
"""

from __future__ import annotations

import asyncio
import random
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
    request_for,
    require_seeds,
    round_rng,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, first_paragraph, normalise, prompts

OPERATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth")
#: operations whose evolution may span several lines (a table, code, data) and is kept whole
MULTILINE = frozenset({"complicate_input"})
PROMPT_LEAKS = (
    "#prompt#",
    "harder prompt",
    "rewritten prompt",
    "given prompt",
    "#rewritten",
    "prompt rewriter",
    "#new prompt#",
    "#given prompt#",
    "created prompt",
)
_LABEL = re.compile(r"^\s*(?:#[^#\n]{1,40}#|(?:rewritten|harder|new|created) prompt)\s*:?\s*", re.IGNORECASE)
_NEXT_LABEL = re.compile(r"\n\s*#[^#\n]{1,40}#")
STOP_WORDS = frozenset(
    (
        "a an the and or but if of to in on at by for with from as is are was were be been it this "
        "that these those i you he she we they me him her us them my your his its our their not no yes "
        "so do does did"
    ).split()
)


@attrs.define
class EvolInstructConfig:
    """Options of ``[method.evol_instruct]``."""

    rounds: int = 1
    weights: dict[str, float] = attrs.field(factory=lambda: dict.fromkeys(OPERATIONS, 1.0))
    judge: bool = True
    #: evolutions tried per instruction and round: an eliminated one is retried with another operation
    max_attempts: int = 3
    #: put the seed instructions themselves in the output too (WizardLM merges them with every round)
    include_seeds: bool = False
    max_tokens: int = 256
    answer_max_tokens: int = 512
    temperature: float = 0.7
    prompts: dict[str, str] = attrs.field(factory=dict)


def answer_is_empty(text: str) -> bool:
    """Only punctuation and English stop words (or nothing at all); words in any script count."""
    words = re.findall(r"\w+", text.lower())
    return all(w in STOP_WORDS for w in words)


def prompt_text(record: Record) -> str:
    """The instruction and its input together, as WizardLM evolves them."""
    return "\n".join(p for p in (record.instruction, record.input) if p)


def answer_is_refusal(text: str) -> bool:
    """The WizardLM heuristic: "sorry" in an answer shorter than 80 words."""
    return "sorry" in text.lower() and len(text.split()) < 80


class EvolInstruct:
    """In-depth and in-breadth evolution with an elimination step."""

    name: ClassVar[str] = "evol_instruct"
    #: the seed's ``Generator.evolve_instructions`` runs this method
    seed_function: ClassVar[str] = "evolve_instructions"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = EvolInstructConfig

    def __init__(self, config: EvolInstructConfig) -> None:
        unknown = sorted(set(config.weights) - set(OPERATIONS))
        if unknown:
            raise UsageError(
                f"$.method.evol_instruct.weights: unknown operation(s) {', '.join(unknown)}; "
                f"known: {', '.join(OPERATIONS)}"
            )
        if not any(w > 0 for w in config.weights.values()) or any(w < 0 for w in config.weights.values()):
            raise UsageError("$.method.evol_instruct.weights: weights must be >= 0 with at least one > 0")
        if config.max_attempts < 1:
            raise UsageError("$.method.evol_instruct.max_attempts must be at least 1")
        if config.rounds < 1:
            raise UsageError("$.method.evol_instruct.rounds must be at least 1")
        self.config = config
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Instructions to evolve must exist."""
        require_seeds(seeds, self.name)

    def _operation(self, rng: Any, exclude: Sequence[str] = ()) -> str | None:
        ops = [op for op in OPERATIONS if self.config.weights.get(op, 0) > 0 and op not in exclude]
        if not ops:
            return None
        return str(rng.choices(ops, weights=[self.config.weights[op] for op in ops])[0])

    def _evolution(self, text: str, op: str, chat: bool) -> str:
        """The new instruction in a model's answer: labels stripped; one paragraph unless the operation
        adds input data (a table or code must keep its lines)."""
        text = _NEXT_LABEL.split(text.strip())[0]
        text = _LABEL.sub("", text).strip()
        if op in MULTILINE:
            return text
        return first_paragraph(text).replace("\n", " ").strip() if not chat else text

    async def _evolve(self, ctx: GenerationContext, parent: Record, round_no: int, op: str) -> Record | None:
        cfg = self.config
        source = prompt_text(parent)
        if op == "breadth":
            text = self.prompts.styled("breadth", ctx.is_chat, instruction=source)
        else:
            rule = self.prompts.render(f"op_{op}")
            text = self.prompts.styled("evolve", ctx.is_chat, instruction=source, operation=rule)
        stop: tuple[str, ...] = ()
        if not ctx.is_chat:
            stop = ("\n#", "\n\n\n") if op in MULTILINE else ("\n\n", "#Prompt#", "#Given prompt#")
        request = request_for(ctx, text, max_tokens=cfg.max_tokens, temperature=cfg.temperature, stop=stop)
        response = await try_complete(ctx, request)
        if response is None:
            return None
        child = self._evolution(response.text, op, ctx.is_chat)
        if response.finish_reason != "stop" or not child:
            ctx.reject("eliminated_truncated_or_empty")
            return None
        if any(leak in child.lower() for leak in PROMPT_LEAKS) or self.prompts.copies_example(child):
            ctx.reject("eliminated_copied_prompt")
            return None
        if normalise(child) == normalise(source):
            ctx.reject("eliminated_unchanged")
            return None
        if cfg.judge and await self._judged_equal(ctx, source, child):
            ctx.reject("eliminated_no_information_gain")
            return None
        answer_text = self.prompts.styled("answer", ctx.is_chat, instruction=child)
        answer_request = request_for(
            ctx,
            answer_text,
            max_tokens=cfg.answer_max_tokens,
            stop=() if ctx.is_chat else ("### Instruction", "\n### "),
        )
        answer = await try_complete(ctx, answer_request)
        if answer is None:
            return None
        output = answer.text.strip()
        if answer_is_refusal(output):
            ctx.reject("eliminated_unanswerable")
            return None
        if answer_is_empty(output):
            ctx.reject("eliminated_empty_answer")
            return None
        lineage = [*parent.metadata.get("lineage", []), op]
        return Record(
            id=ctx.record_id(self.name, parent.id, round_no, op, child),
            instruction=child,
            output=output,
            metadata={"operation": op, "round": round_no, "lineage": lineage},
            provenance=ctx.provenance(
                answer_request,
                answer,
                seed_ids=[parent.provenance.seed_ids[0]]
                if parent.provenance and parent.provenance.seed_ids
                else [parent.id],
                parent_id=parent.id,
                params={"operation": op, "evolve_prompt_hash": request.digest()},
            ),
        )

    async def _attempts(
        self, ctx: GenerationContext, parent: Record, round_no: int, rng: Any
    ) -> Record | None:
        """Evolve ``parent``, retrying an eliminated evolution with another operation."""
        tried: list[str] = []
        for attempt in range(self.config.max_attempts):
            op = self._operation(rng, tried) or self._operation(rng)
            assert op is not None  # the weights were checked: at least one is positive
            if attempt:
                ctx.reject("evolution_retried")
            with ctx.attempt(attempt):  # another operation, and another sampling seed (asked_again)
                child = await self._evolve(ctx, parent, round_no, op)
            if child is not None:
                return child
            tried.append(op)
        return None

    async def _judged_equal(self, ctx: GenerationContext, parent: str, child: str) -> bool:
        text = self.prompts.styled("equal", ctx.is_chat, parent=parent, child=child)
        request = request_for(ctx, text, max_tokens=4, temperature=0.0, stop=() if ctx.is_chat else ("\n",))
        response = await try_complete(ctx, request)
        return response is not None and response.text.strip().lower().startswith("equal")

    async def generate(
        self, ctx: GenerationContext, seeds: Sequence[Record], count: int
    ) -> AsyncIterator[Record]:
        """``rounds`` rounds over the pool; survivors replace their parents, failures keep them."""
        pool = list(seeds)
        produced = 0
        if self.config.include_seeds:
            for seed in seeds:
                provenance = seed.provenance or ctx.provenance(seed_ids=[seed.id])
                yield seed.evolve(
                    metadata={**seed.metadata, "operation": "seed", "round": 0}, provenance=provenance
                )
                produced += 1
                if produced >= count:
                    return
        for round_no in range(1, self.config.rounds + 1):
            rng = round_rng(ctx, self.name, round_no)
            rngs = [random.Random(rng.random()) for _ in pool]  # one per parent: order-independent
            children = await asyncio.gather(
                *(self._attempts(ctx, parent, round_no, r) for parent, r in zip(pool, rngs, strict=True))
            )
            next_pool = []
            for parent, child in zip(pool, children, strict=True):
                if child is None:
                    next_pool.append(parent)
                    continue
                next_pool.append(child)
                produced += 1
                yield child
                if produced >= count:
                    return
            pool = next_pool


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the evol_instruct method."""
    register(EvolInstruct)
