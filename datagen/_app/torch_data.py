"""Records as a PyTorch dataset of token ids and labels, with a padding collate function
(``Results.to_torch``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from datagen._datamodel.records import Record
from datagen.errors import UsageError, missing_extra

#: label of a token the loss ignores (PyTorch's cross-entropy default)
IGNORE = -100
_GENERATION = re.compile(r"\{%-?\s*generation\s*-?%\}")


def _conversation(record: Record) -> list[dict[str, str]]:
    if record.messages:
        return [{"role": m.role, "content": m.content} for m in record.messages]
    chat = [{"role": "user", "content": record.prompt_text}] if record.prompt_text else []
    return [*chat, {"role": "assistant", "content": record.output}] if record.output else chat


def encode(
    record: Record, tokenizer: Any, max_length: int | None, assistant_only: bool
) -> tuple[list[int], list[int]]:
    """A record's token ids and labels: through the tokenizer's chat template when it has one (labels
    only on the assistant's tokens with ``assistant_only``), else its prompt and answer as plain text."""
    if getattr(tokenizer, "chat_template", None):
        chat = _conversation(record)
        out = tokenizer.apply_chat_template(
            chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=assistant_only
        )
        ids = list(out["input_ids"])
        mask = list(out["assistant_masks"]) if assistant_only else [1] * len(ids)
    else:
        text = "\n\n".join(p for p in (record.prompt_text, record.output) if p)
        ids = list(tokenizer(text)["input_ids"])
        mask = [1] * len(ids)
    labels = [token if keep else IGNORE for token, keep in zip(ids, mask, strict=True)]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
    return ids, labels


def to_torch(
    records: Iterable[Record],
    tokenizer: Any,
    *,
    max_length: int | None = None,
    assistant_only: bool | None = None,
) -> tuple[Any, Callable[[Sequence[dict[str, Any]]], dict[str, Any]]]:
    """A ``torch.utils.data.Dataset`` of ``{input_ids, labels}`` tensors and a collate function that pads
    a batch (``attention_mask`` added; labels padded with -100) for a ``DataLoader``.

    ``assistant_only`` (default: when the chat template has ``{% generation %}`` markers) labels only
    the assistant's tokens; asking for it from a template without the markers is an error, since every
    label would be ignored."""
    try:
        import torch
        from torch.utils.data import Dataset
    except ImportError as exc:
        raise missing_extra(exc, "Results.to_torch") or exc from None
    template = getattr(tokenizer, "chat_template", None)
    markers = isinstance(template, str) and _GENERATION.search(template) is not None
    if assistant_only is None:
        assistant_only = markers
    if assistant_only and not markers:
        raise UsageError(
            "to_torch(assistant_only=True): the tokenizer's chat template has no {% generation %} markers, "
            "so no token would be labelled"
        )
    encoded = [encode(r, tokenizer, max_length, assistant_only) for r in records]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    pad = 0 if pad is None else pad

    class Examples(Dataset):  # type: ignore[misc]
        """The encoded records."""

        def __len__(self) -> int:
            return len(encoded)

        def __getitem__(self, index: int) -> dict[str, Any]:
            ids, labels = encoded[index]
            return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}

    def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Pad to the longest example of the batch."""
        width = max(len(item["input_ids"]) for item in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            n = len(item["input_ids"])
            ids[row, :n] = item["input_ids"]
            labels[row, :n] = item["labels"]
            attention[row, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": attention}

    return Examples(), collate
