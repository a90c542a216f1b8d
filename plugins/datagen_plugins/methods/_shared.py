"""Shared by the built-in generation methods: prompts, tolerant requests, seeds, text clean-up."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import TypeVar

from datagen.plugin import (
    GenerationContext,
    PromptSet,
    Record,
    RougeLIndex,
    rouge_l,
    tokenize,
    with_persona_metadata,
)

PACKAGE = "datagen_plugins.methods"
#: the 175 Self-Instruct seed tasks (Wang et al. 2022, Apache-2.0): the default seeds of the methods
#: that take instructions as seeds, used when a run names none
SEED_TASKS_FILE = Path(str(resources.files("datagen_plugins.methods") / "self_instruct_seed_tasks.jsonl"))

COMPLETION_HEADER = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)

T = TypeVar("T")
_TASK_SPLIT = re.compile(r"\n?\s*Task\s*\d+\s*:", re.IGNORECASE)


def prompts(method: str, overrides: dict[str, str], *, file: str | None = None) -> PromptSet:
    """The method's templates from ``datagen_plugins/prompts/<file or method>.toml`` with config overrides."""
    return PromptSet(PACKAGE, method, overrides, file=file)


def first_paragraph(text: str) -> str:
    """The text up to the first blank line, stripped."""
    return text.strip().split("\n\n")[0].strip()


def normalise(text: str) -> str:
    """Lower-cased tokens joined by spaces, for copy detection."""
    return " ".join(tokenize(text))


def is_copy(candidate: str, source: str, threshold: float) -> bool:
    """Whether ``candidate`` is the source again, verbatim or nearly (ROUGE-L at or above ``threshold``)."""
    a, b = normalise(candidate), normalise(source)
    return not a or a == b or rouge_l(a.split(), b.split()) >= threshold


_LEADING_LABEL = re.compile(r"^\s*(?:\d+[.)]|[-*•]|(?:task|instruction)\s*\d*\s*:)\s*", re.IGNORECASE)


def strip_label(line: str) -> str:
    """A line without a leading list marker or ``Task N:`` label."""
    return _LEADING_LABEL.sub("", line).strip()


def split_tasks(text: str, chat: bool, truncated: bool) -> list[str]:
    """Tasks listed in a response: numbered lines (chat) or a ``Task N:`` continuation (completion).

    The last one is dropped when the response was cut off, since it is likely incomplete."""
    if chat:
        parts = [strip_label(line) for line in text.splitlines() if line.strip()]
    else:
        parts = [first_paragraph(p).replace("\n", " ") for p in _TASK_SPLIT.split(text)]
    parts = [p.strip() for p in parts if p.strip()]
    if truncated and parts:
        parts = parts[:-1]
    return parts


def keep_novel(
    ctx: GenerationContext,
    index: RougeLIndex,
    candidates: Iterable[tuple[str, T]],
    reject: Callable[[str], str | None],
    limit: int,
) -> list[tuple[str, T, float]]:
    """Up to ``limit`` candidates that pass ``reject`` (None = keep, else the counted reason) and score
    below the index's ROUGE-L threshold against everything kept so far; each kept one joins the index."""
    kept: list[tuple[str, T, float]] = []
    for text, extra in candidates:
        if len(kept) >= limit:
            break
        reason = reject(text)
        if reason is not None:
            ctx.reject(reason)
            continue
        score, _ = index.best_match(text)
        if score >= index.threshold:
            ctx.reject("rouge_l_too_similar")
            continue
        score, _ = index.max_score(text)  # below the threshold best_match gives only a bound
        index.add(text)
        kept.append((text, extra, score))
    return kept


async def bootstrap(
    ctx: GenerationContext,
    *,
    method: str,
    count: int,
    index: RougeLIndex,
    requests_per_round: int,
    max_requests: int,
    propose: Callable[[int, int], Awaitable[Iterable[tuple[str, T]]]],
    reject: Callable[[str], str | None],
    build: Callable[[str, T, float, int], Awaitable[Record | None]],
    requests_per_kept: int,
) -> AsyncIterator[Record]:
    """The bootstrap loop shared by ``self_instruct`` and ``domain``, round after round until ``count``.

    ``propose(round_no, wanted)`` sends up to ``requests_per_round`` requests for new candidates;
    :func:`keep_novel` filters them; ``build(text, extra, score, round_no)`` turns each kept one into a
    record (``requests_per_kept`` requests, None when it fails). Stops after ``max_requests``. With
    ``[generate] personas`` each round is one persona's: its requests and templates see the
    ``round_no``-th persona, and its records name it.
    """
    produced = requests = round_no = 0
    while produced < count and requests < max_requests:
        wanted = ctx.demand.remaining(produced, count)  # fewer than count - produced when stages remove some
        with ctx.job_persona(round_no) as persona:  # reset before yielding: the consumer never sees it
            found = await propose(round_no, wanted)
            requests += min(requests_per_round, wanted)
            kept = keep_novel(ctx, index, found, reject, wanted)
            made = await asyncio.gather(*(build(text, extra, score, round_no) for text, extra, score in kept))
        records = [with_persona_metadata(r, persona) for r in made]
        requests += requests_per_kept * len(kept)
        for record in records:
            if record is not None:
                produced += 1
                yield record
        round_no += 1
    if produced < count:
        ctx.log.warning(f"{method}_stopped_short", produced=produced, wanted=count, requests=requests)


def alpaca_block(record: Record, with_output: bool) -> str:
    """An Alpaca-style block: the instruction, its input, and the response (empty to be completed)."""
    parts = [f"### Instruction:\n{record.instruction or ''}"]
    if record.input:
        parts.append(f"### Input:\n{record.input}")
    parts.append("### Response:\n" + ((record.output or "") + "\n" if with_output else ""))
    return "\n\n".join(parts)
