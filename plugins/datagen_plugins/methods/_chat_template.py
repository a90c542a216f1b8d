"""A chat template's pieces, derived by rendering it: Magpie's pre-query template and the turn markers.

No table per model: the template (Jinja, as Hugging Face tokenizers and GGUF files carry it) is rendered
with sentinel messages and cut at the sentinels, so whatever the template adds — a default system
prompt (Qwen2.5, Llama 3.1's knowledge date), a beginning-of-text token, a role renamed (Gemma's
``model``) — stays exactly as the model saw it in training.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from datagen.plugin import UsageError

_S1, _S2, _S3 = (
    "\x00DATAGEN-SENTINEL-ONE\x00",
    "\x00DATAGEN-SENTINEL-TWO\x00",
    "\x00DATAGEN-SENTINEL-THREE\x00",
)


@attrs.frozen
class TemplateParts:
    """What a completion needs to play a chat: text before the first user message (the pre-query
    template), after it up to the assistant's reply, after the reply up to the next user message."""

    #: everything before the first user message's text, default system prompt included
    pre_query: str
    #: after a user message, up to where the assistant's reply starts (end of turn + assistant header)
    to_assistant: str
    #: after an assistant reply, up to where the next user message starts ('' when not derivable)
    to_next_user: str
    #: the text that ends a user turn (its first part of ``to_assistant``), a stop string for Magpie
    user_end: str
    #: the text that ends an assistant turn, a stop string for answers
    assistant_end: str
    #: the beginning-of-text token the template wrote first and that was cut off (the backend adds it
    #: when it tokenizes; kept, the model would see two)
    bos_removed: str


def _raise(message: str) -> None:
    raise ValueError(message)


def render(
    template: str, messages: list[dict[str, str]], *, generation_prompt: bool, bos: str, eos: str
) -> str:
    """``template`` rendered as Hugging Face's ``apply_chat_template`` does (sandboxed Jinja)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=generation_prompt, bos_token=bos, eos_token=eos
    )


def _after(text: str, sentinel: str, until: str | None = None) -> str:
    rest = text.split(sentinel, 1)[1]
    if until is None:
        return rest
    return rest.split(until, 1)[0] if until in rest else ""


def _end_marker(between: str) -> str:
    """The end-of-turn text at the start of ``between``: up to its first line break, or all of it."""
    stripped = between.lstrip(" ")
    head = stripped.split("\n", 1)[0].strip()
    return head or stripped.strip()


def derive(
    template: str, *, bos: str = "", eos: str = "", system: str | None = None, strip_bos: bool = True
) -> TemplateParts:
    """The pieces of ``template``; ``system`` goes in as a system message (a topic for Magpie).

    A template that cannot render a lone user message (or user, assistant, user) is an error."""
    lead: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
    try:
        one = render(
            template, [*lead, {"role": "user", "content": _S1}], generation_prompt=True, bos=bos, eos=eos
        )
    except Exception as exc:  # a template's own raise_exception, or Jinja's errors
        raise UsageError(f"the chat template cannot render a user message: {exc}") from None
    if _S1 not in one:
        raise UsageError("the chat template does not write the user's message")
    pre_query, to_assistant = one.split(_S1, 1)
    user = [*lead, {"role": "user", "content": _S1}]
    exchange = [*user, {"role": "assistant", "content": _S2}]

    def after(messages: list[dict[str, str]], sentinel: str, until: str | None = None) -> str:
        try:  # a template that allows one exchange only, or no turn left open, gives ''
            text = render(template, messages, generation_prompt=False, bos=bos, eos=eos)
        except Exception:
            return ""
        return _after(text, sentinel, until) if sentinel in text else ""

    to_next_user = after([*exchange, {"role": "user", "content": _S3}], _S2, _S3)
    user_end = _end_marker(after(user, _S1)) or _end_marker(to_assistant)
    assistant_end = _end_marker(after(exchange, _S2)) or eos
    bos_removed = ""
    if strip_bos and bos and pre_query.startswith(bos):
        pre_query, bos_removed = pre_query[len(bos) :], bos
    return TemplateParts(
        pre_query=pre_query,
        to_assistant=to_assistant,
        to_next_user=to_next_user,
        user_end=user_end,
        assistant_end=assistant_end,
        bos_removed=bos_removed,
    )


def read_template(value: str) -> tuple[str, dict[str, Any]]:
    """A template given in config: Jinja text, or a path to a ``.jinja`` file or a
    ``tokenizer_config.json`` (which also gives the bos and eos tokens). A GGUF file's template comes
    with the local backend (``model_path``)."""
    import json
    from pathlib import Path

    if "{%" in value or "{{" in value:
        return value, {}
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"$.method.magpie.chat_template: neither a Jinja template nor a file: {value}")
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        tokens = {k: _token_text(data.get(k)) for k in ("bos_token", "eos_token")}
        template = data.get("chat_template")
        if isinstance(template, list):  # named templates: the default one
            template = next((t["template"] for t in template if t.get("name") == "default"), None)
        if not isinstance(template, str):
            raise UsageError(f"{path}: no chat_template in it")
        return template, {k: v for k, v in tokens.items() if v}
    return path.read_text(encoding="utf-8"), {}


def _token_text(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("content") or "")
    return str(value or "")
