"""The seed's ``datagen.pipeline``: reading and writing datasets (:mod:`datagen.pipeline.io`)."""

from __future__ import annotations

from datagen.pipeline.io import load_dataset, read_jsonl, save_dataset, write_jsonl

__all__ = ["load_dataset", "read_jsonl", "save_dataset", "write_jsonl"]
