"""A pytest plugin for plugin authors: fixtures, conformance checks and hypothesis strategies.

Installed with datagen as the ``pytest11`` entry point ``datagen``, so in any test suite:

* ``datagen_plugins``: a fresh, strict :class:`~datagen._kernel.manager.PluginManager`, every entry point
  loaded;
* :func:`check_plugin_class` / :func:`check_backend` / :func:`run_method`: conformance checks;
* :func:`records`, :func:`messages`, :func:`json_values`: hypothesis strategies (hypothesis imported lazily).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pytest

from datagen._datamodel.config import DatagenConfig, load_config
from datagen._datamodel.families import FAMILIES
from datagen._datamodel.records import ROLES, Message, Provenance, Record, Usage
from datagen._datamodel.results import Results
from datagen._engine.llm import FINISH_REASONS, Request, Response
from datagen._kernel.hookspecs import hookimpl
from datagen._kernel.manager import PluginManager, load_plugins
from datagen._kernel.registry import check_member
from datagen.errors import UsageError

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


@pytest.fixture
def datagen_plugins() -> PluginManager:
    """A fresh strict plugin manager with every installed ``datagen`` entry point loaded."""
    return load_plugins(strict=True, disable=())


@pytest.fixture
def datagen_config() -> DatagenConfig:
    """The default configuration, ignoring ``DATAGEN_*`` variables of the environment."""
    return load_config(environ={})


def check_plugin_class(cls: type[Any], family: str) -> Any:
    """Assert ``cls`` is a valid member of ``family`` and construct it from its default config."""
    name = check_member(FAMILIES[family], cls)
    assert name == cls.name
    return cls(cls.Config())


def check_response(response: Response, request: Request) -> None:
    """Assert a backend's response is well-formed for ``request``."""
    assert isinstance(response, Response)
    assert isinstance(response.text, str)
    assert response.finish_reason in FINISH_REASONS, response.finish_reason
    assert response.usage.prompt_tokens >= 0 and response.usage.completion_tokens >= 0
    assert response.usage.cost_usd is None or response.usage.cost_usd >= 0


async def check_backend(backend: Any, *, max_tokens: int = 16) -> Response:
    """Assert ``backend`` validates and answers a short request of its own kind; returns the response."""
    backend.validate()
    if backend.is_chat:
        request = Request(messages=(Message("user", "Say hello."),), max_tokens=max_tokens, temperature=0.0)
    else:
        request = Request(prompt="The capital of France is", max_tokens=max_tokens, temperature=0.0)
    try:
        response: Response = await backend.complete(request)
    finally:
        await backend.aclose()
    check_response(response, request)
    return response


def run_method(
    pm: PluginManager,
    method: str,
    seeds: Sequence[Record | dict[str, Any] | str],
    count: int,
    *,
    backend: str | None = None,
    options: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Results:
    """Run ``method`` on ``backend`` (default: the backend that declares itself a ``test_double``, the
    deterministic echo); check each record's provenance."""
    from datagen._app.generator import Generator

    if backend is None:
        from datagen._kernel.capabilities import first_declaring

        missing = "no installed backend declares itself a test double; pass backend="
        backend = first_declaring(pm, "backend", "test_double", True, missing)
    data = {"backend": {"name": backend}, "cache": {"enabled": False}, **(config or {})}
    gen = Generator(load_config(data=data, environ={}), plugins=pm)
    results = gen.run(method, seeds, count, **(options or {}))
    assert len(results) <= count
    for record in results:
        assert isinstance(record, Record)
        assert record.provenance is not None and record.provenance.method == method
    return results


def check_method_rejects_bad_input(
    pm: PluginManager, method: str, *, options: dict[str, Any] | None = None
) -> None:
    """Assert the method (with ``options``) refuses an empty seed list and a non-positive count before
    any request."""
    with pytest.raises(UsageError):
        run_method(pm, method, [], 1, options=options)
    with pytest.raises(UsageError):
        run_method(pm, method, ["Write a haiku."], 0, options=options)


# ------------------------------------------------------------------------------------ a programmable backend


@attrs.define
class _NoOptions:
    """The scripted backend takes no options."""


def scripted_backend(
    respond: Callable[[Request], str | Response], *, chat: bool = True, name: str = "scripted"
) -> type[Any]:
    """A backend class whose answers come from ``respond(request)`` (a string, or a whole Response)."""

    class Scripted:
        Config: ClassVar[type[Any]] = _NoOptions
        is_chat = chat
        model = f"{name}-1"

        def __init__(self, config: Any) -> None:
            self.requests: list[Request] = []

        def validate(self) -> None:
            """Nothing to check."""

        async def complete(self, request: Request) -> Response:
            """Whatever ``respond`` says."""
            answer = respond(request)
            if isinstance(answer, Response):
                return answer
            words = answer.split()
            finish = "length" if len(words) > request.max_tokens else "stop"
            return Response(
                " ".join(words[: request.max_tokens]) if finish == "length" else answer,
                finish,
                Usage(10, len(words), 0.0),
                self.model,
            )

        async def aclose(self) -> None:
            """Nothing to release."""

    Scripted.name = name  # type: ignore[attr-defined]
    Scripted.__name__ = Scripted.__qualname__ = f"Scripted_{name}"
    return Scripted


def add_scripted_backend(
    pm: PluginManager,
    respond: Callable[[Request], str | Response],
    *,
    chat: bool = True,
    name: str = "scripted",
) -> None:
    """Register :func:`scripted_backend` under ``name`` in ``pm`` (for :func:`run_method`'s ``backend``)."""
    cls = scripted_backend(respond, chat=chat, name=name)

    class Plugin:
        @hookimpl
        def datagen_register_backends(self, register: Callable[[Any], None]) -> None:
            """Register the scripted backend."""
            register(cls)

    pm.register(Plugin(), name=f"scripted-{name}")


def request_text(request: Request) -> str:
    """All the text of a request (its prompt, or its messages joined)."""
    if request.prompt is not None:
        return request.prompt
    return "\n".join(m.content for m in request.messages or ())


# ------------------------------------------------------------------------------------ hypothesis strategies


def json_values(max_leaves: int = 10) -> SearchStrategy[Any]:
    """JSON-compatible values (finite floats; dict keys are strings), as free-form metadata holds."""
    from hypothesis import strategies as st

    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**53), 2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text()
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def messages() -> SearchStrategy[Message]:
    """Single conversation turns."""
    from hypothesis import strategies as st

    return st.builds(Message, role=st.sampled_from(ROLES), content=st.text())


def provenances() -> SearchStrategy[Provenance]:
    """Provenance blocks with arbitrary parameters and usage."""
    from hypothesis import strategies as st

    text = st.text(max_size=20)
    return st.builds(
        Provenance,
        method=text,
        backend=st.none() | text,
        model=st.none() | text,
        params=st.dictionaries(st.text(max_size=8), json_values(5), max_size=4),
        prompt_hash=st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        seed_ids=st.lists(text, max_size=3).map(tuple),
        parent_id=st.none() | text,
        created_at=text,
        usage=st.builds(
            Usage,
            prompt_tokens=st.integers(0, 10**7),
            completion_tokens=st.integers(0, 10**7),
            cost_usd=st.none() | st.floats(0, 1e6, allow_nan=False),
        ),
        finish_reason=st.none() | st.sampled_from(FINISH_REASONS),
    )


def records() -> SearchStrategy[Record]:
    """Records of either shape (instruction/input/output or messages), with metadata and provenance."""
    from hypothesis import strategies as st

    optional_text = st.none() | st.text()
    return st.builds(
        Record,
        id=st.text(min_size=1, max_size=32),
        instruction=optional_text,
        input=optional_text,
        output=optional_text,
        messages=st.none() | st.lists(messages(), max_size=4).map(tuple),
        metadata=st.dictionaries(st.text(max_size=8), json_values(), max_size=4),
        provenance=st.none() | provenances(),
    )


def run(coro: Any) -> Any:
    """Run a coroutine to completion (for conformance checks called from sync tests)."""
    return asyncio.run(coro)
