"""``litellm``: any of LiteLLM's 100+ providers (``bedrock/...``, ``vertex_ai/...``, ``ollama/...``,
``openai/...`` at an ``api_base``, ...) behind datagen's own limiter, retries, cache and budgets.

LiteLLM is an optional extra (``pip install 'datagen[litellm]'``), imported on the first request (its
import takes seconds). Its own retries are off (datagen retries, with the server's ``Retry-After``), and
it reads its price map from the copy inside the package (``LITELLM_LOCAL_MODEL_COST_MAP=True`` unless set
otherwise) instead of fetching it from the network. The versions published with a credential stealer
(1.82.7 and 1.82.8, BerriAI/litellm#24512) are refused. Keys come from ``[backend.litellm] api_key`` or
the provider's own variables, which LiteLLM reads (``OPENAI_API_KEY``, ``AWS_*``, ...).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    BackendError,
    PermanentError,
    RegisterBackend,
    Request,
    Response,
    Usage,
    UsageError,
    hookimpl,
    redact_text,
    register_secret,
    secret_field,
)
from datagen_plugins.backends._sdk import OPENAI_FINISH, map_sdk_error

#: published with a credential stealer (BerriAI/litellm#24512)
COMPROMISED = frozenset({"1.82.7", "1.82.8"})


@attrs.define
class LiteLLMConfig:
    """Options of ``[backend.litellm]``: ``model`` in LiteLLM's ``provider/model`` form, ``api_base``,
    ``api_key`` (else the provider's environment variables), ``chat`` (false: text completions),
    ``timeout_s``, and ``options`` passed to LiteLLM as they are (``aws_region_name``, ...)."""

    model: str = "openai/gpt-4o-mini"
    api_base: str | None = None
    api_key: str | None = secret_field()
    chat: bool = True
    timeout_s: float = 600.0
    options: dict[str, Any] = attrs.field(factory=dict)


def installed_version() -> str | None:
    """LiteLLM's installed version, None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm")
    except PackageNotFoundError:
        return None


class LiteLLMBackend:
    """Chat (``acompletion``) or text completions (``atext_completion``) through LiteLLM."""

    name: ClassVar[str] = "litellm"
    Config: ClassVar[type[Any]] = LiteLLMConfig

    def __init__(self, config: LiteLLMConfig) -> None:
        self.config = config
        self.model = config.model
        self.is_chat = config.chat
        self.cache_identity = f"litellm:{config.api_base or config.model.split('/', 1)[0]}"
        self._litellm: Any = None

    @property
    def token_charge(self) -> str:
        """How the provider counts a request against a token limit: Anthropic counts what its output
        used, once answered (``used``); the others are charged what a request may use (``reserved``:
        OpenAI's and Azure's way, and the most any provider counts, so never over a limit)."""
        return "used" if self.config.model.split("/", 1)[0] == "anthropic" else "reserved"

    def validate(self) -> None:
        """LiteLLM installed, not a compromised release, the model named with its provider."""
        found = installed_version()
        if found is None:
            raise UsageError("the litellm backend needs LiteLLM: pip install 'datagen[litellm]'")
        if found in COMPROMISED:
            raise UsageError(
                f"litellm {found} is one of the releases published with a credential stealer "
                "(BerriAI/litellm#24512): uninstall it, rotate the keys it could read, and install "
                "another version (pip install -U 'litellm!=1.82.7,!=1.82.8')"
            )
        if "/" not in self.config.model:
            raise UsageError(
                f"$.backend.litellm.model: {self.config.model!r} names no provider; LiteLLM models are "
                "PROVIDER/MODEL (openai/gpt-4o-mini, bedrock/..., ollama/llama3)"
            )
        if self.config.api_key:
            register_secret(self.config.api_key)

    def litellm(self) -> Any:
        """The module, imported once with its price map read locally and its chatter off."""
        if self._litellm is None:
            self.validate()
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            self._litellm = litellm
        return self._litellm

    def _arguments(self, request: Request) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {
            **c.options,
            "model": c.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "timeout": c.timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        if c.api_base:
            args["api_base"] = c.api_base
        if c.api_key:
            args["api_key"] = c.api_key
        if request.stop:
            args["stop"] = list(request.stop)
        if request.seed is not None:
            args["seed"] = request.seed
        if request.json_schema is not None:
            schema = {"name": "answer", "schema": dict(request.json_schema), "strict": False}
            args["response_format"] = {"type": "json_schema", "json_schema": schema}
        return args

    async def complete(self, request: Request) -> Response:
        """One request through LiteLLM; its errors become datagen's (rate limits with Retry-After)."""
        litellm = self.litellm()
        args = self._arguments(request)
        try:
            if request.messages is not None:
                messages = [{"role": m.role, "content": m.content} for m in request.messages]
                answer = await litellm.acompletion(messages=messages, **args)
            else:
                answer = await litellm.atext_completion(prompt=request.prompt, **args)
        except Exception as exc:
            raise self._error(exc) from None
        choice = answer.choices[0]
        text = choice.message.content if request.messages is not None else choice.text
        usage = getattr(answer, "usage", None)
        tokens = (getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0)
        return Response(
            text=text or "",
            finish_reason=OPENAI_FINISH.get(choice.finish_reason or "stop", "stop"),
            usage=Usage(*tokens, self._cost(answer)),
            model=getattr(answer, "model", None) or self.model,
        )

    def _cost(self, answer: Any) -> float | None:
        """The price LiteLLM already computed for the answer from its local map (not computed a second
        time); None for a model it does not price: unknown, not zero."""
        hidden = getattr(answer, "_hidden_params", None) or {}
        cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
        return float(cost) if isinstance(cost, int | float) and cost > 0 else None

    def _error(self, exc: Exception) -> BackendError:
        """LiteLLM's exceptions are the openai SDK's (with the provider's status and headers)."""
        import openai

        where = self.config.api_base or self.config.model
        if isinstance(exc, openai.OpenAIError):
            return map_sdk_error(exc, openai, "litellm", where)
        return PermanentError(redact_text(f"litellm at {where}: {type(exc).__name__}: {exc}"))

    async def aclose(self) -> None:
        """LiteLLM keeps its clients in a module-level cache; nothing of this backend's to close."""


@hookimpl
def datagen_register_backends(register: RegisterBackend) -> None:
    """Register the litellm backend."""
    register(LiteLLMBackend)
