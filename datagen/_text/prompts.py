"""Prompt templates: Jinja2 text in package data (a TOML file per method), overridable from the config.

A method's templates live in ``<package>/prompts/<method>.toml``, one key per template. Methods come in two
prompt styles: ``*_chat`` templates for chat models and ``*_completion`` templates (few-shot text to
continue) for base models such as the embedded one. Users replace any of them with
``[method.NAME.prompts] key = "..."``; unknown keys and template syntax errors are reported before work.
"""

from __future__ import annotations

import contextlib
import functools
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from importlib import resources
from typing import TYPE_CHECKING, Any

from datagen._text.rouge import rouge_l, tokenize
from datagen.errors import UsageError

if TYPE_CHECKING:
    import jinja2

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_LABEL = re.compile(r"^\s*(?:#[^#\n]{1,40}#\s*:?|[\w ()/-]{1,30}:|\d+[.)]|[-*\u2022])\s*")
#: shorter example lines than this are not compared (labels, "Answer: Equal")
MIN_EXAMPLE_WORDS = 4
#: the persona the current job writes for (``[generate] personas``): every template's ``persona``
_PERSONA: ContextVar[str | None] = ContextVar("datagen_persona", default=None)


def current_persona() -> str | None:
    """The persona of the job running in this task, or None."""
    return _PERSONA.get()


@contextlib.contextmanager
def persona_scope(persona: str | None) -> Iterator[None]:
    """Within this block (and the tasks started in it) templates render with ``persona``."""
    token = _PERSONA.set(persona)
    try:
        yield
    finally:
        _PERSONA.reset(token)


@functools.cache
def _env() -> jinja2.Environment:
    """Jinja2, imported when the first template is compiled (not by ``datagen --help`` or a plain run)."""
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def example_lines(source: str) -> list[list[str]]:
    """The static lines of a template (variables and tags removed, leading labels stripped), tokenized:
    its few-shot examples and instructions, which a model's answer must not simply copy."""
    lines = []
    for raw in _JINJA.sub("\n", source).splitlines():
        tokens = tokenize(_LABEL.sub("", raw))
        if len(tokens) >= MIN_EXAMPLE_WORDS:
            lines.append(tokens)
    return lines


class PromptSet:
    """The named templates of one method, with the user's overrides applied."""

    def __init__(
        self,
        package: str,
        method: str,
        overrides: Mapping[str, str] | None = None,
        *,
        file: str | None = None,
    ) -> None:
        text = (resources.files(package) / "prompts" / f"{file or method}.toml").read_text(encoding="utf-8")
        self.method = method
        self.sources: dict[str, str] = dict(tomllib.loads(text))
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.sources))
        if unknown:
            raise UsageError(
                f"$.method.{method}.prompts: unknown template(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(self.sources))}"
            )
        self.sources.update(overrides)
        import jinja2

        self._undefined: type[jinja2.UndefinedError] = jinja2.UndefinedError
        self._templates: dict[str, jinja2.Template] = {}
        self._examples = [line for source in self.sources.values() for line in example_lines(source)]
        for key, source in self.sources.items():
            try:
                self._templates[key] = _env().from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise UsageError(
                    f"$.method.{method}.prompts.{key}: line {exc.lineno}: {exc.message}"
                ) from None

    def render(self, key: str, **variables: Any) -> str:
        """Fill template ``key``; an undefined variable is an error naming the template. Every template
        also sees ``persona``: the job's persona, or an empty string."""
        variables.setdefault("persona", current_persona() or "")
        try:
            return self._templates[key].render(**variables)
        except self._undefined as exc:
            raise UsageError(f"$.method.{self.method}.prompts.{key}: {exc.message}") from None

    def copies_example(self, text: str, threshold: float = 0.7) -> bool:
        """Whether ``text`` copies, or nearly copies (ROUGE-L at or above ``threshold``), a line of these
        templates: a few-shot example or the instructions themselves, echoed back by the model."""
        tokens = tokenize(text)
        if not tokens:
            return False
        n = len(tokens)
        for line in self._examples:
            m = len(line)
            if 2 * min(n, m) / (n + m) >= threshold and rouge_l(tokens, line) >= threshold:
                return True
        return False

    def styled(self, key: str, chat: bool, **variables: Any) -> str:
        """Template ``key_chat`` or ``key_completion`` for the backend's style."""
        return self.render(f"{key}_{'chat' if chat else 'completion'}", **variables)
