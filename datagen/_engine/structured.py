"""Structured output: ask for JSON matching a schema, then parse, repair, validate, and retry if needed.

Backends send the schema natively where they can (OpenAI ``response_format``, Anthropic tool use,
llama.cpp grammars); the answer is still checked here, because compatible servers and small models do not
always obey.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from datagen._engine.llm import Request, Response
from datagen.errors import PermanentError

if TYPE_CHECKING:
    from datagen._engine.core import Engine

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


class StructuredOutputError(PermanentError):
    """No valid JSON after every retry; ``attempts`` says how many answers were asked for."""

    def __init__(self, message: str, attempts: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts


def extract_json(text: str) -> Any:
    """The JSON value in ``text``: as is, inside a code fence, or the outermost object/array, trailing commas
    removed. Raises ``ValueError`` when there is none."""
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
            try:
                return json.loads(attempt)
            except ValueError:
                continue
    raise ValueError("no JSON value found in the answer")


def schema_problems(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Where ``value`` breaks ``schema`` (JSON Schema), each as ``path: message``; empty when valid."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(dict(schema))
    return [
        f"$.{'.'.join(str(p) for p in err.absolute_path)}: {err.message}"
        if err.absolute_path
        else f"$: {err.message}"
        for err in validator.iter_errors(value)
    ]


@attrs.frozen
class StructuredAnswer:
    """A validated JSON answer and the response it came from."""

    value: Any
    response: Response
    request: Request
    attempts: int


def closed(schema: Any) -> Any:
    """``schema`` with every object that does not say otherwise closed (``additionalProperties:
    false``), as sent to a backend: a grammar built from an open object lets a model add keys without
    end (a small model nests its aspects inside each other until the token limit), and OpenAI's strict
    structured output requires it. The answer is still validated against the schema as given."""
    if isinstance(schema, Mapping):
        out = {k: closed(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


async def complete_json(
    engine: Engine, request: Request, schema: Mapping[str, Any], *, retries: int = 2
) -> StructuredAnswer:
    """JSON matching ``schema`` (sent :func:`closed`); a truncated, unparsable or invalid answer is
    retried with a new seed."""
    problems: list[str] = []
    sent_schema = closed(schema)
    for attempt in range(retries + 1):
        seed = request.seed if attempt == 0 else (request.seed or 0) + 7919 * attempt
        sent = attrs.evolve(request, json_schema=sent_schema, seed=seed)
        response = await engine.complete(sent)
        if response.finish_reason == "length":
            problems = ["the answer was cut off at max_tokens"]
            continue
        try:
            value = extract_json(response.text)
        except ValueError as exc:
            problems = [str(exc)]
            continue
        problems = schema_problems(value, schema)
        if not problems:
            return StructuredAnswer(value, response, sent, attempt + 1)
    raise StructuredOutputError(
        f"no valid JSON after {retries + 1} attempts: {'; '.join(problems[:3])}", attempts=retries + 1
    )
