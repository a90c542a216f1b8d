"""``evol_instruct``: evolve instructions into harder or broader ones (Xu et al. 2023, "WizardLM").

Each round picks one operation per instruction by configurable weights: in-depth (add constraints,
deepen, concretize, increase reasoning steps, complicate the input) or in-breadth (a new instruction in
the same domain). Then the **elimination step**, which the reference code and distilabel lack, drops an
evolution that

1. copies the prompt's own wording ("#Prompt#", "rewritten prompt", ...) — ``copied_prompt``;
2. adds no information over its parent: the same words (``unchanged``), or judged equal by the LLM
   (``no_information_gain``);
3. the model cannot answer ("sorry" in a short answer) — ``unanswerable``;
4. is answered with only punctuation and stop words — ``empty_answer``.

A failed evolution leaves its parent in the pool for the next round. Every kept record carries its
lineage: ``parent_id``, ``operation`` and ``round``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Record,
    Register,
    UsageError,
    hookimpl,
    request_for,
    require_seeds,
    round_rng,
    stable_id,
    try_complete,
)
from datagen_plugins.methods._shared import first_paragraph, normalise, prompts, strip_label

OPERATIONS = ("add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth")
PROMPT_LEAKS = (
    "#prompt#",
    "harder prompt",
    "rewritten prompt",
    "given prompt",
    "#rewritten",
    "prompt rewriter",
)
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
    max_tokens: int = 256
    answer_max_tokens: int = 512
    temperature: float = 0.7
    prompts: dict[str, str] = attrs.field(factory=dict)


def answer_is_empty(text: str) -> bool:
    """Only punctuation and stop words (or nothing at all)."""
    words = re.findall(r"[a-z0-9']+", text.lower())
    return all(w in STOP_WORDS for w in words)


def answer_is_refusal(text: str) -> bool:
    """The WizardLM heuristic: "sorry" in an answer shorter than 80 words."""
    return "sorry" in text.lower() and len(text.split()) < 80


class EvolInstruct:
    """In-depth and in-breadth evolution with an elimination step."""

    name: ClassVar[str] = "evol_instruct"
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
        if config.rounds < 1:
            raise UsageError("$.method.evol_instruct.rounds must be at least 1")
        self.config = config
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Instructions to evolve must exist."""
        require_seeds(seeds, self.name)

    def _operation(self, rng: Any) -> str:
        ops = [op for op in OPERATIONS if self.config.weights.get(op, 0) > 0]
        return str(rng.choices(ops, weights=[self.config.weights[op] for op in ops])[0])

    async def _evolve(self, ctx: GenerationContext, parent: Record, round_no: int, op: str) -> Record | None:
        cfg = self.config
        text = self.prompts.styled(
            "evolve", ctx.is_chat, instruction=parent.instruction, operation=self.prompts.render(f"op_{op}")
        )
        request = request_for(
            ctx,
            text,
            max_tokens=cfg.max_tokens,
            temperature=cfg.temperature,
            stop=() if ctx.is_chat else ("\n\n", "#Prompt#"),
        )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        child = strip_label(first_paragraph(response.text)).replace("\n", " ").strip()
        if response.finish_reason != "stop" or not child:
            ctx.reject("eliminated_truncated_or_empty")
            return None
        if any(leak in child.lower() for leak in PROMPT_LEAKS):
            ctx.reject("eliminated_copied_prompt")
            return None
        if normalise(child) == normalise(parent.instruction or ""):
            ctx.reject("eliminated_unchanged")
            return None
        if cfg.judge and await self._judged_equal(ctx, parent.instruction or "", child):
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
            id=stable_id(self.name, parent.id, round_no, op, child),
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
        for round_no in range(1, self.config.rounds + 1):
            rng = round_rng(ctx, self.name, round_no)
            ops = [self._operation(rng) for _ in pool]
            children = await asyncio.gather(
                *(self._evolve(ctx, parent, round_no, op) for parent, op in zip(pool, ops, strict=True))
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
def datagen_register_methods(register: Register) -> None:
    """Register the evol_instruct method."""
    register(EvolInstruct)
