"""datagen backend ``llm``: the models of simonw's ``llm`` and its plugins behind datagen's engine."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    BackendError,
    ConnectionFailed,
    PermanentError,
    RegisterBackend,
    Request,
    Response,
    TransientError,
    Usage,
    UsageError,
    error_for_status,
    get_logger,
    hookimpl,
    redact_text,
    register_secret,
    secret_field,
)

#: datagen's token limit under the names models declare it
TOKEN_LIMIT_NAMES = ("max_tokens", "max_output_tokens", "num_predict", "max_new_tokens")
log = get_logger("datagen.llm")


@attrs.define
class LLMConfig:
    """Options of ``[backend.llm]``: ``model`` (an llm model id or alias; empty: llm's default model),
    ``key`` (else llm's key store or the plugin's variable), ``options`` (the model's own, as ``llm -o``),
    ``chat`` (requests as chat turns; false: completion-style prompts)."""

    model: str = ""
    key: str | None = secret_field()
    options: dict[str, Any] = attrs.field(factory=dict)
    chat: bool = True


class LLMBackend:
    """An llm model (async when its plugin offers one, else sync in a worker thread)."""

    name: ClassVar[str] = "llm"
    Config: ClassVar[type[Any]] = LLMConfig

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.is_chat = config.chat
        self.model = config.model or "llm-default"
        self.cache_identity = f"llm:{config.model or 'default'}"
        self._model: Any = None
        self._async = False
        self._dropped: set[str] = set()

    def validate(self) -> None:
        """The model exists in llm (with its plugins loaded) and takes the configured options."""
        import llm

        model: llm.AsyncModel | llm.Model
        try:
            model = llm.get_async_model(self.config.model or None)
            self._async = True
        except llm.UnknownModelError:
            try:
                model = llm.get_model(self.config.model or None)
            except llm.UnknownModelError:
                known = ", ".join(sorted(m.model_id for m in llm.get_models())[:20]) or "none"
                raise UsageError(
                    f"$.backend.llm.model: llm knows no model {self.config.model!r} (some it knows: {known}; "
                    "`llm models` lists them, an llm plugin adds more)"
                ) from None
        try:
            model.Options(**self.config.options)
        except Exception as exc:  # pydantic's ValidationError, which llm does not re-export
            raise UsageError(f"$.backend.llm.options: {model.model_id} refuses them: {exc}") from None
        if self.config.key:
            register_secret(self.config.key)
        self._model = model
        self.model = model.model_id

    def _options(self, request: Request) -> dict[str, Any]:
        """datagen's sampling under the names the model declares, then the configured options."""
        declared = set(getattr(self._model.Options, "model_fields", {}))
        wanted: dict[str, Any] = {"temperature": request.temperature, "top_p": request.top_p}
        if request.seed is not None:
            wanted["seed"] = request.seed
        if request.stop:
            wanted["stop"] = list(request.stop)
        limit = next((n for n in TOKEN_LIMIT_NAMES if n in declared), None)
        if limit is not None:
            wanted[limit] = request.max_tokens
        else:
            wanted["max_tokens"] = request.max_tokens
        options = {k: v for k, v in wanted.items() if k in declared}
        dropped = set(wanted) - set(options) - self._dropped
        if dropped:
            self._dropped |= dropped
            log.info("llm_options_not_declared", model=self.model, options=sorted(dropped))
        return {**options, **self.config.options}

    def _arguments(self, request: Request) -> dict[str, Any]:
        import llm

        args: dict[str, Any] = {"options": self._options(request), "stream": False}
        if self.config.key:
            args["key"] = self.config.key
        if request.json_schema is not None:
            args["schema"] = dict(request.json_schema)
        if request.messages is None:
            return {**args, "prompt": request.prompt}
        turns = list(request.messages)
        system = "\n\n".join(m.content for m in turns if m.role == "system") or None
        rest = [m for m in turns if m.role != "system"]
        if len(rest) == 1 and rest[0].role == "user":
            return {**args, "prompt": rest[0].content, "system": system}
        build = {"system": llm.system, "user": llm.user, "assistant": llm.assistant}
        return {**args, "messages": [build[m.role](m.content) for m in turns if m.role in build]}

    async def complete(self, request: Request) -> Response:
        """One prompt to the model; its text and token usage (cost unknown: llm keeps no prices)."""
        if self._model is None:
            self.validate()
        args = self._arguments(request)
        try:
            if self._async:
                answer = self._model.prompt(**args)
                text, usage = await answer.text(), await answer.usage()
            else:
                text, usage = await asyncio.to_thread(self._sync, args)
        except Exception as exc:
            raise self._error(exc) from None
        return Response(
            text=text or "",
            finish_reason="stop",
            usage=Usage(usage.input or 0, usage.output or 0, None),
            model=self.model,
        )

    def _sync(self, args: dict[str, Any]) -> tuple[str, Any]:
        answer = self._model.prompt(**args)
        return answer.text(), answer.usage()

    def _error(self, exc: Exception) -> BackendError:
        """An HTTP status the model's SDK reports (OpenAI's, Anthropic's, httpx's: ``status_code`` and a
        ``response`` with headers) keeps its meaning: 429 is retried after ``Retry-After``, 401/403
        stops the run, 5xx is retried; a timeout or dropped connection is retried; anything else is the
        model's own failure, counted and not retried."""
        where = f"llm model {self.model}"
        message = redact_text(f"{where}: {type(exc).__name__}: {exc}")
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            if status in {401, 403}:
                message = f"{where} rejected the key ({status}); check it and try again"
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            return error_for_status(status, message, headers)
        names = {cls.__name__ for cls in type(exc).__mro__}
        if isinstance(exc, ConnectionError) or "APIConnectionError" in names or "ConnectError" in names:
            return ConnectionFailed(message)
        if isinstance(exc, TimeoutError) or names & {"APITimeoutError", "TimeoutException"}:
            return TransientError(message)
        return PermanentError(message)

    async def aclose(self) -> None:
        """llm's models hold no connection of ours."""


@hookimpl
def datagen_register_backends(register: RegisterBackend) -> None:
    """Register the llm backend."""
    register(LLMBackend)
