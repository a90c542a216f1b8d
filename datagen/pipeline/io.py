"""The seed's ``datagen.pipeline.io``: datasets in and out of files.

``load_dataset`` reads datagen's own output and other people's data alike: JSONL, a JSON array, CSV with a
header row, or Parquet, with the field aliases of seeds (``prompt``/``question`` as the instruction,
``response``/``answer``/``completion`` as the output; other columns land in ``metadata``). ``save_dataset``
writes JSONL, Parquet, a JSON array or CSV through a temporary file renamed at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from datagen._datamodel.records import Record
from datagen._datamodel.results import Results, atomic_text, iter_json_lines, record_to_dict
from datagen._datamodel.seeds import load_seeds_file


def load_dataset(path: str | os.PathLike[str]) -> Results:
    """Every row of ``path`` as a :class:`Record` (errors name the file and the line or row)."""
    return Results(load_seeds_file(path))


def save_dataset(records: Results | Iterable[Record], path: str | os.PathLike[str]) -> Path:
    """Write ``records`` to ``path`` atomically: ``.jsonl`` or ``.parquet`` (lossless), ``.json`` (an
    array of the same objects) or ``.csv`` (a row per record: id, instruction, input, output, and each
    metadata key as a column; conversations as their JSON)."""
    results = records if isinstance(records, Results) else Results(records)
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".json":
        with atomic_text(target) as fh:
            json.dump([record_to_dict(r) for r in results], fh, ensure_ascii=False, indent=1)
        return target
    if suffix == ".csv":
        import csv

        rows = [_flat(r) for r in results]
        columns = list(dict.fromkeys(k for row in rows for k in row))
        with atomic_text(target) as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return target
    return results.save(target)


def _flat(record: Record) -> dict[str, Any]:
    row: dict[str, Any] = {"id": record.id}
    for key in ("instruction", "input", "output"):
        row[key] = getattr(record, key) or ""
    if record.messages:
        row["messages"] = json.dumps([{"role": m.role, "content": m.content} for m in record.messages])
    for key, value in record.metadata.items():
        row[key] = value if isinstance(value, str | int | float | bool) else json.dumps(value)
    return row


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Any]:
    """The parsed JSON value of every non-blank line; a bad line is an error naming file and line."""
    for _, value in iter_json_lines(Path(path)):
        yield value


def write_jsonl(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Plain JSON objects one per line (UTF-8), streamed to a temporary file renamed at the end."""
    with atomic_text(path) as fh:
        for row in rows:
            fh.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
    return Path(path)


__all__ = ["load_dataset", "read_jsonl", "save_dataset", "write_jsonl"]
