"""``magpie``: instructions an aligned model writes itself from its pre-query template (Xu et al. 2024).

An aligned model given only the start of a user turn — its *pre-query template*, e.g.
``<|start_header_id|>user<|end_header_id|>\\n\\n`` — writes a user query, because that is what followed
in its alignment data. The query is then answered as usual, and with ``turns`` > 1 the dialogue goes on.

The pre-query template is derived from the model's own chat template (rendered with a sentinel user
message and cut at the sentinel: default system prompts stay, nothing is kept per model): the local
backend reads it from the GGUF file; elsewhere give ``chat_template`` (Jinja text, a ``.jinja`` file or a
``tokenizer_config.json``). The beginning-of-text token the template writes is cut off,
since the backend adds one when it tokenizes (two would be out of distribution). It needs raw
completions — the local backend or an OpenAI-compatible ``/v1/completions`` (``[backend.openai] api =
"completions"``); a chat-only backend is refused. ``system_prompts`` (cycled) steer topics.

A query is kept when it is well formed: not empty, stopped at the end of the user turn (not at the token
limit), and a question or request rather than an answer or a fragment; the others are counted by reason
and asked again. Every record names the template (``metadata["magpie"]``); the report gives the
well-formed share.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    POSITIVE,
    GenerationContext,
    Message,
    Record,
    RegisterMethod,
    UsageError,
    bounded,
    hookimpl,
    records_of,
    try_complete,
)
from datagen_plugins.methods._chat_template import TemplateParts, derive, read_template
from datagen_plugins.methods._shared import SEED_TASKS_FILE

_CODE = frozenset("=@{}();<>_#[]\\/|$`")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
#: first words of requests and questions (English; a query in another language passes on its "?" or
#: its length and shape)
REQUEST_WORDS = frozenset(
    "write explain describe give list create generate summarize summarise translate tell help how what why "
    "when where which who whom whose can could would should will is are do does did please i i'm i've my "
    "we our find calculate compute compare suggest provide make design rewrite classify identify solve "
    "name recommend edit convert imagine let's plan draft compose outline analyze analyse evaluate "
    "develop implement show define discuss fix debug prove derive estimate choose consider".split()
)
ANSWER_OPENINGS = (
    "sure",
    "certainly",
    "of course",
    "here is",
    "here's",
    "as an ai",
    "absolutely",
    "great question",
)


def query_problem(text: str, finish_reason: str | None) -> str | None:
    """Why ``text`` is not a well-formed user query (None when it is): ``empty``, ``cut_off`` (it ran to
    the token limit), ``answer`` (it opens as a reply), ``fragment`` (too short, or no request shape)."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    if finish_reason == "length":
        return "cut_off"
    lowered = stripped.lower()
    if lowered.startswith(ANSWER_OPENINGS):
        return "answer"
    words = _WORD.findall(lowered)
    if len(words) < 3:
        return "fragment"
    if "?" in stripped or words[0] in REQUEST_WORDS:
        return None
    visible = [c for c in stripped if not c.isspace()]
    code_like = sum(c in _CODE for c in visible) > 0.03 * len(visible)  # a program or markup, not a request
    return None if len(words) >= 12 and not code_like else "fragment"


@attrs.define
class MagpieConfig:
    """Options of ``[method.magpie]``."""

    #: the chat template (Jinja text, or a .jinja / tokenizer_config.json file); default: the
    #: backend's (the local backend reads its GGUF file)
    chat_template: str | None = None
    bos_token: str | None = None
    eos_token: str | None = None
    #: system prompts steering the topics, one per record in turn (empty: the template's default)
    system_prompts: list[str] = attrs.field(factory=list)
    #: user/assistant exchanges per record (more than one: ``messages``)
    turns: int = attrs.field(default=1, validator=bounded(1, high=20))
    query_max_tokens: int = attrs.field(default=128, validator=POSITIVE)
    query_temperature: float = attrs.field(default=1.0, validator=bounded(0))
    query_top_p: float = attrs.field(default=1.0, validator=bounded(above=0, high=1))
    max_tokens: int | None = None
    #: cut the beginning-of-text token off the template (the backend adds it when tokenizing)
    strip_bos: bool = True


class Magpie:
    """Instruction (and dialogue) data an aligned model writes from its own pre-query template."""

    name: ClassVar[str] = "magpie"
    Config: ClassVar[type[Any]] = MagpieConfig
    #: seeds are not read (Magpie writes its own instructions); a run that names none is not refused
    default_seeds: ClassVar[Path | None] = SEED_TASKS_FILE

    def __init__(self, config: MagpieConfig) -> None:
        self.config = config
        self.template: str | None = None
        self.tokens: dict[str, str] = {}
        self.source = ""
        if config.chat_template is not None:
            self.template, self.tokens = read_template(config.chat_template)
            self.source = (
                "config"
                if "{%" in config.chat_template or "{{" in config.chat_template
                else config.chat_template
            )
        self._parts: dict[str | None, TemplateParts] = {}
        self.queries = 0
        self.problems: Counter[str] = Counter()

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Nothing to check in the seeds: Magpie writes its own instructions."""
        if count <= 0:
            raise UsageError("count must be positive")

    def _prepare(self, ctx: GenerationContext) -> None:
        if ctx.is_chat:
            raise UsageError(
                f"magpie needs raw completions (the template continued as it is), and the {ctx.run.backend} "
                "backend sends chat messages: use the local backend, or an OpenAI-compatible server's "
                '/v1/completions with [backend.openai] api = "completions"'
            )
        found = getattr(ctx.backend, "template_tokens", None)
        info = found() if callable(found) else {}
        self.tokens = {**{k: v for k, v in info.items() if k != "chat_template"}, **self.tokens}
        if self.template is None:
            if "chat_template" not in info:
                raise UsageError(
                    f"$.method.magpie.chat_template: the {ctx.run.backend} backend's model ({ctx.run.model}) "
                    "has no chat template (a base model, or a server that does not say): give the "
                    "template of the model family it was aligned with (Jinja, a .jinja file or a "
                    "tokenizer_config.json)"
                )
            self.template = info["chat_template"]
            self.source = f"{ctx.run.backend}:{ctx.run.model}"
        systems: list[str | None] = list(self.config.system_prompts) or [None]
        for system in systems:
            self.parts(system)
        if self.config.turns > 1 and not self.parts(None).to_next_user:
            raise UsageError("$.method.magpie.turns: this chat template allows one exchange only")

    def parts(self, system: str | None) -> TemplateParts:
        """The template's pieces with ``system`` (None: its default), derived once."""
        if system not in self._parts:
            assert self.template is not None
            self._parts[system] = derive(
                self.template,
                bos=self.config.bos_token
                if self.config.bos_token is not None
                else self.tokens.get("bos_token", ""),
                eos=self.config.eos_token
                if self.config.eos_token is not None
                else self.tokens.get("eos_token", ""),
                system=system,
                strip_bos=self.config.strip_bos,
            )
        return self._parts[system]

    async def _dialogue(self, ctx: GenerationContext, index: int) -> Record | None:
        systems = self.config.system_prompts
        system = systems[index % len(systems)] if systems else None
        parts = self.parts(system)
        text = parts.pre_query
        messages: list[Message] = []
        first_request = None
        for turn in range(self.config.turns):
            query_request = ctx.request(
                prompt=text,
                stop=[
                    parts.user_end,
                    *([s] if (s := parts.to_assistant.strip()) and s != parts.user_end else []),
                ],
                max_tokens=self.config.query_max_tokens,
                temperature=self.config.query_temperature,
                top_p=self.config.query_top_p,
                seed=(ctx.run.config.sampling.seed or 0) + 7919 * index + turn,
            )
            first_request = first_request or query_request
            response = await try_complete(ctx, query_request)
            if response is None:
                return None
            self.queries += 1
            problem = query_problem(response.text, response.finish_reason)
            if problem is not None:
                self.problems[problem] += 1
                ctx.reject(f"magpie_{problem}")
                return None
            query = response.text.strip()
            text += query + parts.to_assistant
            params: dict[str, Any] = {"seed": (ctx.run.config.sampling.seed or 0) + 7919 * index + turn}
            if self.config.max_tokens is not None:
                params["max_tokens"] = self.config.max_tokens
            stops = [parts.assistant_end] if parts.assistant_end else []
            answer = await try_complete(ctx, ctx.request(prompt=text, stop=stops, **params))
            if answer is None or not answer.text.strip():
                ctx.reject("magpie_no_answer")
                return None
            reply = answer.text.strip()
            messages += [Message("user", query), Message("assistant", reply)]
            text += reply + parts.to_next_user
        return Record(
            id=ctx.record_id("magpie", index),
            instruction=messages[0].content,
            output=messages[1].content,
            messages=tuple(messages) if self.config.turns > 1 else None,
            metadata={
                "magpie": {
                    "template": self.source,
                    "pre_query_template": parts.pre_query,
                    "bos_removed": parts.bos_removed,
                    "system_prompt": system,
                }
            },
            provenance=ctx.provenance(first_request, None, params={"turns": self.config.turns}),
        )

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """``count`` dialogues, each from the pre-query template (with the next system prompt)."""
        if ctx.personas:
            raise UsageError(
                "magpie: its prompt is the chat template itself, which a persona line would break; "
                "leave [generate] personas unset and steer topics with system_prompts"
            )
        self._prepare(ctx)
        return records_of(ctx, lambda index: self._dialogue(ctx, index), range(count))

    def report(self) -> dict[str, Any]:
        """The template used, queries written, the well-formed share and why the others were not."""
        good = self.queries - sum(self.problems.values())
        return {
            "template": self.source,
            "pre_query_template": self._parts[None].pre_query if None in self._parts else None,
            "queries": self.queries,
            "well_formed": good,
            "well_formed_share": round(good / self.queries, 3) if self.queries else None,
            "malformed": dict(self.problems.most_common()),
        }


@hookimpl
def datagen_register_methods(register: RegisterMethod) -> None:
    """Register the magpie method."""
    register(Magpie)
