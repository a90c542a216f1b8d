"""``echo``: a deterministic offline backend that answers with the text it was sent.

For tests and dry runs of a pipeline: no model, no network, same answer every time.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterBackend, Request, Response, Usage, hookimpl


@attrs.define
class EchoConfig:
    """Options of ``[backend.echo]``."""

    model: str = "echo-1"
    prefix: str = "echo: "
    chat: bool = True
    latency_s: float = 0.0


class EchoBackend:
    """Answers ``prefix + last user message`` (or the prompt's last line), cut to ``max_tokens`` words."""

    name: ClassVar[str] = "echo"
    Config: ClassVar[type[Any]] = EchoConfig
    #: deterministic, offline and instant: what a plugin's tests run methods on (``datagen.testing``)
    test_double: ClassVar[bool] = True

    def __init__(self, config: EchoConfig) -> None:
        self.config = config
        self.model = config.model
        self.is_chat = config.chat

    def validate(self) -> None:
        """Nothing to validate: echo needs no key."""

    async def complete(self, request: Request) -> Response:
        """The echoed text, with whitespace-token usage and ``length`` when cut short."""
        if self.config.latency_s:
            await asyncio.sleep(self.config.latency_s)
        if request.messages is not None:
            users = [m.content for m in request.messages if m.role == "user"]
            source = users[-1] if users else ""
            prompt_words = sum(len(m.content.split()) for m in request.messages)
        else:
            prompt = request.prompt or ""
            lines = [ln for ln in prompt.strip().splitlines() if ln.strip()]
            source = lines[-1] if lines else ""
            prompt_words = len(prompt.split())
        words = (self.config.prefix + source).split()
        finish = "length" if len(words) > request.max_tokens else "stop"
        words = words[: request.max_tokens]
        return Response(
            text=" ".join(words),
            finish_reason=finish,
            usage=Usage(prompt_tokens=prompt_words, completion_tokens=len(words), cost_usd=0.0),
            model=self.model,
        )

    async def aclose(self) -> None:
        """Nothing to release."""


@hookimpl
def datagen_register_backends(register: RegisterBackend) -> None:
    """Register the echo backend."""
    register(EchoBackend)
