"""``datagen export --check-template``: whether a chat template lets a trainer compute the loss on the
assistant's tokens alone, and how many rows a length limit would cut, over the rows just written.

Assistant-only loss needs ``{% generation %}`` markers in the chat template; without them a trainer
masks every token out and fails late, or trains on nothing (Qwen3#1522, trl#4879). The template is a
Jinja file (the assistant's characters are counted) or a local model's folder, whose tokenizer gives the
assistant token mask and each row's length."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from datagen.plugin import UsageError

GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def conversation(row: dict[str, Any], where: str) -> list[dict[str, str]]:
    """A written row as one conversation: its ``messages``, or its prompt and completion turns."""
    if isinstance(row.get("messages"), list):
        return list(row["messages"])
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, list) and isinstance(completion, list):
        return [*prompt, *completion]
    raise UsageError(
        f"{where}: --check-template needs conversational rows (messages, or prompt and completion turns)"
    )


def check(path: Path, template: Path, max_length: int | None) -> dict[str, Any]:
    """The share of rows whose assistant tokens are masked in, and of rows longer than ``max_length``."""
    try:
        from transformers.utils.chat_template_utils import render_jinja_template
    except ImportError:
        raise UsageError("--check-template needs transformers: pip install transformers") from None
    tokenizer = None
    if template.is_dir():
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(template), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"--check-template {template}: no tokenizer loads from this folder ({exc})"
            ) from None
        text = tokenizer.chat_template
        if not isinstance(text, str):
            raise UsageError(f"--check-template {template}: the tokenizer has no chat template")
    elif template.is_file():
        text = template.read_text(encoding="utf-8")
    else:
        raise UsageError(f"--check-template {template}: no such file or folder")
    if max_length is not None and tokenizer is None:
        raise UsageError("--max-length needs a tokenizer: give --check-template a local model's folder")
    markers = GENERATION.search(text) is not None
    rows = masked_in = truncated = 0
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            chat = conversation(json.loads(line), f"{path}:{lineno}")
            rows += 1
            if tokenizer is not None:
                out = tokenizer.apply_chat_template(
                    chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=markers
                )
                masked_in += markers and sum(out["assistant_masks"]) > 0
                truncated += max_length is not None and len(out["input_ids"]) > max_length
            elif markers:
                _, spans = render_jinja_template(
                    [chat], chat_template=text, return_assistant_tokens_mask=True
                )
                masked_in += sum(end - start for start, end in spans[0]) > 0
    return {
        "rows": rows,
        "generation_markers": markers,
        "assistant_masked_in": round(masked_in / rows, 4) if rows else None,
        "truncated": round(truncated / rows, 4) if rows and max_length is not None else None,
    }
