"""Seed examples from files, dicts or strings, including the Self-Instruct seed-task format."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from datagen.datamodel.config import structure
from datagen.datamodel.records import Record, stable_id
from datagen.datamodel.results import iter_json_lines, iter_records
from datagen.errors import ConfigError, UsageError

_RECORD_KEYS = {"id", "instruction", "input", "output", "messages", "metadata", "provenance"}
#: other names users' data gives the fields, first match wins (documented in docs/records.md)
ALIASES = {
    "instruction": ("prompt", "question", "query"),
    "output": ("response", "answer", "completion"),
}


def default_seeds_path() -> Path:
    """The 175 Self-Instruct seed tasks (Wang et al. 2022, Apache-2.0) shipped in the package."""
    return Path(str(resources.files("datagen") / "data" / "self_instruct_seed_tasks.jsonl"))


#: the path of the 175 Self-Instruct seed tasks shipped with datagen, usable from any directory
SEED_TASKS = default_seeds_path()


def seed_from_dict(data: Any, where: str) -> Record:
    """One seed from a dict: a record, or a Self-Instruct task (``instances`` → first input/output)."""
    if not isinstance(data, Mapping):
        raise UsageError(f"{where}: a seed must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    instances = data.pop("instances", None)
    if isinstance(instances, list) and instances and isinstance(instances[0], Mapping):
        data.setdefault("input", instances[0].get("input") or None)
        data.setdefault("output", instances[0].get("output") or None)
    for field, aliases in ALIASES.items():
        if data.get(field) in (None, ""):
            for alias in aliases:
                if isinstance(data.get(alias), str) and data[alias].strip():
                    data[field] = data.pop(alias)
                    break
    extra = {k: data.pop(k) for k in list(data) if k not in _RECORD_KEYS}
    if instances is not None:
        extra["instances"] = instances
    if extra:
        data["metadata"] = {**dict(data.get("metadata") or {}), **extra}
    if data.get("input") == "":
        data["input"] = None
    instruction, messages = data.get("instruction"), data.get("messages")
    if not (isinstance(instruction, str) and instruction.strip()) and not messages:
        raise UsageError(f"{where}: a seed needs a non-empty 'instruction' (or 'messages') field")
    data.setdefault("id", stable_id(instruction, data.get("input"), messages))
    try:
        return structure(data, Record, path="$")
    except ConfigError as exc:
        raise UsageError(f"{where}: {'; '.join(exc.problems)}") from None


def load_seeds_file(path: str | os.PathLike[str]) -> list[Record]:
    """Seeds from a JSONL file (records or Self-Instruct tasks) or a Parquet file of records."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: seeds file not found")
    if path.suffix.lower() == ".parquet":
        return list(iter_records(path))
    seeds = [seed_from_dict(data, f"{path}:{lineno}") for lineno, data in iter_json_lines(path)]
    if not seeds:
        raise UsageError(f"{path}: the seeds file is empty")
    return seeds


def to_seeds(examples: Iterable[Record | Mapping[str, Any] | str] | str | os.PathLike[str]) -> list[Record]:
    """Seeds from a path, or a list of records, dicts or instruction strings."""
    if isinstance(examples, (str, os.PathLike)):
        return load_seeds_file(examples)
    seeds = []
    for i, ex in enumerate(examples):
        if isinstance(ex, Record):
            seeds.append(ex)
        elif isinstance(ex, str):
            seeds.append(seed_from_dict({"instruction": ex}, f"seed_examples[{i}]"))
        else:
            seeds.append(seed_from_dict(ex, f"seed_examples[{i}]"))
    return seeds


__all__ = ["default_seeds_path", "load_seeds_file", "seed_from_dict", "to_seeds"]
