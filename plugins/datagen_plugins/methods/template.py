"""``template``: fill a Jinja2 template with combinations of variable values, optionally completed by the LLM.

``variables`` maps each variable to its list of values (the Python API also takes any iterable or a
generator function). Combinations are sampled without repeats; asking for more records than there are
distinct combinations, or a template that uses an undefined variable, is an error before any request.
With ``complete = true`` each filled template is sent to the backend and the answer becomes the output.
The variable ``persona`` is the job's persona (``[generate] personas``), not a combination variable; a
template that uses it needs personas unless it has a fallback (``{{ persona or 'a person' }}``).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    GenerationContext,
    Record,
    RegisterMethod,
    UsageError,
    hookimpl,
    records_of,
    request_for,
    try_complete,
)
from datagen_plugins.methods._shared import SEED_TASKS_FILE, prompts

_FORMAT_FIELD = re.compile(r"(?<!\{)\{([A-Za-z_]\w*)\}(?!\})")


def jinja_template(template: str) -> str:
    """``template`` as Jinja2: a ``str.format`` template (``{var}``, no ``{{``/``{%``) is converted."""
    if "{{" in template or "{%" in template:
        return template
    return _FORMAT_FIELD.sub(lambda m: "{{ " + m.group(1) + " }}", template)


@attrs.define
class TemplateConfig:
    """Options of ``[method.template]``."""

    template: str = ""
    variables: dict[str, list[Any]] = attrs.field(factory=dict)
    complete: bool = False
    max_tokens: int | None = None
    prompts: dict[str, str] = attrs.field(factory=dict)


def _persona_has_fallback(parsed: Any) -> bool:
    """Whether every use of ``persona`` in a parsed template has a fallback (``persona or '...'``, or
    ``persona|default('...')``), so it also renders without personas."""
    from jinja2 import nodes

    guarded: set[int] = set()
    for node in parsed.find_all((nodes.Or, nodes.Filter, nodes.CondExpr)):
        if isinstance(node, nodes.Or):
            guarded.add(id(node.left))
        elif isinstance(node, nodes.Filter) and node.name in ("default", "d"):
            guarded.add(id(node.node))
        elif isinstance(node, nodes.CondExpr):
            guarded.add(id(node.test))
    uses = [n for n in parsed.find_all(nodes.Name) if n.name == "persona"]
    return all(id(n) in guarded for n in uses)


def combinations(sizes: Sequence[int], count: int, rng: random.Random) -> Iterator[tuple[int, ...]]:
    """``count`` distinct index tuples over ``sizes``, uniformly at random, without repeats."""
    total = math.prod(sizes)
    picks = rng.sample(range(total), count) if total <= 10_000_000 else _rejection(total, count, rng)
    for pick in picks:
        digits, flat = [], pick
        for size in reversed(sizes):
            flat, digit = divmod(flat, size)
            digits.append(digit)
        yield tuple(reversed(digits))


def _rejection(total: int, count: int, rng: random.Random) -> list[int]:
    seen: set[int] = set()
    while len(seen) < count:
        seen.add(rng.randrange(total))
    return list(seen)


class Template:
    """Filled templates as instructions (and LLM answers as outputs with ``complete``)."""

    name: ClassVar[str] = "template"
    #: the seed's ``Generator.generate_from_template`` runs this method
    seed_function: ClassVar[str] = "generate_from_template"
    #: the seeds a run uses when it names none (the Self-Instruct tasks)
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE
    Config: ClassVar[type[Any]] = TemplateConfig

    def __init__(self, config: TemplateConfig) -> None:
        self.config = config
        if not config.template.strip():
            raise UsageError("$.method.template.template: a template is required")
        import jinja2
        import jinja2.meta

        source = jinja_template(config.template)
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        try:
            parsed = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise UsageError(f"$.method.template.template: line {exc.lineno}: {exc.message}") from None
        used = jinja2.meta.find_undeclared_variables(parsed)
        #: the job's persona ([generate] personas), not a combination variable
        self.uses_persona = "persona" in used and "persona" not in config.variables
        self.needs_persona = self.uses_persona and not _persona_has_fallback(parsed)
        used -= {"persona"} if self.uses_persona else set()
        undefined = sorted(used - set(config.variables))
        if undefined:
            raise UsageError(
                f"$.method.template.template: undefined variable(s) {', '.join(undefined)}; "
                f"defined: {', '.join(sorted(config.variables)) or 'none'} "
                "(write a variable as {{ name }} in Jinja2, or {name} in a template without {{ }})"
            )
        empty = sorted(k for k, v in config.variables.items() if not v)
        if empty:
            raise UsageError(f"$.method.template.variables: no values for {', '.join(empty)}")
        self.names = sorted(used)
        self.template = env.from_string(source)
        self.prompts = prompts(self.name, config.prompts)

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """There must be at least ``count`` distinct combinations."""
        total = math.prod(len(self.config.variables[n]) for n in self.names)
        if count > total:
            hint = "" if self.names else " (a template without variables; write them as {{ name }})"
            raise UsageError(
                f"template: count {count} exceeds the {total} distinct combinations of "
                f"{', '.join(self.names) or 'no variables'}{hint}"
            )

    async def _record(self, ctx: GenerationContext, values: dict[str, Any]) -> Record | None:
        persona = {"persona": ctx.persona or ""} if self.uses_persona else {}
        text = self.template.render(**values, **persona).strip()
        record_id = ctx.record_id(self.name, self.config.template, values)
        if not self.config.complete:
            return Record(
                id=record_id,
                instruction=text,
                metadata={"variables": values},
                provenance=ctx.provenance(params={"variables": values}),
            )
        params: dict[str, Any] = (
            {} if self.config.max_tokens is None else {"max_tokens": self.config.max_tokens}
        )
        request = request_for(
            ctx,
            self.prompts.styled("complete", ctx.is_chat, text=text),
            stop=() if ctx.is_chat else ("### Instruction", "\n### "),
            **params,
        )
        response = await try_complete(ctx, request)
        if response is None:
            return None
        return Record(
            id=record_id,
            instruction=text,
            output=response.text.strip(),
            metadata={"variables": values},
            provenance=ctx.provenance(request, response, params={"variables": values}),
        )

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """``count`` distinct combinations, filled (and completed)."""
        if self.needs_persona and not ctx.personas:
            raise UsageError(
                "$.method.template.template: it uses persona, but the run has no personas: set "
                "[generate] personas (or --personas FILE), or give it a fallback: "
                "{{ persona or 'a person' }}"
            )
        sizes = [len(self.config.variables[n]) for n in self.names]
        picks = combinations(sizes, min(count, math.prod(sizes)), ctx.rng)
        jobs = (
            {n: self.config.variables[n][i] for n, i in zip(self.names, idx, strict=True)} for idx in picks
        )
        return records_of(ctx, lambda values: self._record(ctx, values), jobs)


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the template method."""
    register(Template)
