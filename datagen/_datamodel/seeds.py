"""Seed examples from files, dicts or strings, including the Self-Instruct seed-task format."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from datagen._datamodel.config import structure
from datagen._datamodel.records import Record, stable_id
from datagen._datamodel.results import ALIASES, COLUMNS, iter_json_lines, iter_records
from datagen.errors import ConfigError, UsageError

_RECORD_KEYS = {"id", "instruction", "input", "output", "messages", "metadata", "provenance"}


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
    """Seeds from a file: JSONL (records or Self-Instruct tasks), a JSON array of objects, CSV with a
    header row, or Parquet (datagen's records or any table); the field aliases apply to every format and
    errors name the file and the line (or row)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: seeds file not found")
    suffix = path.suffix.lower()
    if suffix not in SEED_FORMATS:
        raise UsageError(
            f"{path}: unsupported seeds file type {path.suffix!r} (use {', '.join(sorted(SEED_FORMATS))})"
        )
    if suffix == ".parquet" and _is_records_file(path):
        seeds = list(iter_records(path))  # datagen's own records: already seeds
    else:
        seeds = [seed_from_dict(data, where) for where, data in _rows(path, suffix)]
    if not seeds:
        raise UsageError(f"{path}: the seeds file is empty")
    return seeds


#: the file types a seeds file may have
SEED_FORMATS = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")


def _rows(path: Path, suffix: str) -> Iterator[tuple[str, Any]]:
    """(where, row as a dict) for every row of a seeds file."""
    if suffix in (".jsonl", ".ndjson"):
        for lineno, data in iter_json_lines(path):
            yield f"{path}:{lineno}", data
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                return
            for row in reader:
                # a row's own line (a quoted field may span lines: the reader knows where it ended)
                yield f"{path}:{reader.line_num}", {k: v for k, v in row.items() if k is not None}
    else:
        yield from _parquet_rows(path)


def _json_rows(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, Mapping):  # {"data": [...]} and the like: the one list of objects inside
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise UsageError(f"{path}: a JSON seeds file is an array of objects (or an object holding one)")
        data = lists[0]
    if not isinstance(data, list):
        raise UsageError(f"{path}: a JSON seeds file is an array of objects, got {type(data).__name__}")
    for i, item in enumerate(data):
        yield f"{path}: item {i}", item


def _is_records_file(path: Path) -> bool:
    import pyarrow.parquet as pq

    return set(pq.ParquetFile(path).schema_arrow.names) == set(COLUMNS)


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    row_no = 0
    for batch in pq.ParquetFile(path).iter_batches():
        for row in batch.to_pylist():
            row_no += 1
            yield f"{path}: row {row_no}", row


def to_seeds(examples: Iterable[Record | Mapping[str, Any] | str] | str | os.PathLike[str]) -> list[Record]:
    """Seeds from a path, or a list of records, dicts or instruction strings. A lone string is a path
    when it names a file or ends in a seeds file's suffix (``.jsonl``, ``.csv``, ...), otherwise it is
    one instruction (``generate_from_seed("Write a haiku.")``)."""
    if isinstance(examples, os.PathLike):
        return load_seeds_file(examples)
    if isinstance(examples, str):
        if _names_a_file(examples):
            return load_seeds_file(examples)
        examples = [examples]
    seeds = []
    for i, ex in enumerate(examples):
        if isinstance(ex, Record):
            seeds.append(ex)
        elif isinstance(ex, str):
            seeds.append(seed_from_dict({"instruction": ex}, f"seed_examples[{i}]"))
        else:
            seeds.append(seed_from_dict(ex, f"seed_examples[{i}]"))
    return seeds


def _names_a_file(text: str) -> bool:
    if "\n" in text or len(text) > 4096:
        return False
    return Path(text).suffix.lower() in SEED_FORMATS or Path(text).is_file()


__all__ = ["SEED_FORMATS", "load_seeds_file", "seed_from_dict", "to_seeds"]
