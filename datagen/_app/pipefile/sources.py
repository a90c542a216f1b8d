"""Rows from a pipeline's sources: JSONL, JSON, CSV, Parquet files and Hugging Face ``datasets``
saved to disk, with their columns kept and renamed as the file says; or records a generation method
makes (run per row group by :mod:`.execute`)."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from datagen._app.pipefile.spec import Loaded, SourceSpec
from datagen.errors import UsageError

#: the columns a generation method's rows have (a record's fields)
METHOD_COLUMNS = ("instruction", "input", "output", "messages")


def source_format(path: Path, spec: SourceSpec) -> str:
    """The source's format: as configured, else by the path (a directory is a saved HF dataset)."""
    if spec.format:
        return spec.format
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower().lstrip(".")
    return {"jsonl": "jsonl", "ndjson": "jsonl", "json": "json", "csv": "csv", "parquet": "parquet"}.get(
        suffix, ""
    )


def _raw_rows(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise UsageError(f"{path}:{number}: not a JSON line: {exc}") from None
                if not isinstance(row, dict):
                    raise UsageError(f"{path}:{number}: expected a JSON object per line")
                yield row
    elif fmt == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UsageError(f"{path}: not valid JSON: {exc}") from None
        items = data.get("data", data.get("rows")) if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(r, dict) for r in items):
            raise UsageError(f'{path}: expected a list of objects (or {{"data": [...]}})')
        yield from items
    elif fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            yield from csv.DictReader(handle)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
    elif fmt == "hf":
        try:
            from datasets import load_from_disk
        except ImportError:
            raise UsageError(
                f"{path}: reading a saved Hugging Face dataset needs the datasets package: "
                "pip install 'datagen[hf]'"
            ) from None
        dataset = load_from_disk(str(path))
        if hasattr(dataset, "keys"):  # a DatasetDict: its splits one after the other
            for split in dataset:
                yield from dataset[split]
        else:
            yield from dataset
    else:
        raise UsageError(f"{path}: unknown format {fmt!r}")


def file_rows(loaded: Loaded, name: str, spec: SourceSpec) -> Iterator[dict[str, Any]]:
    """The rows of a file source, columns kept and renamed, at most ``limit``; each with an ``id``
    (its own, else ``NAME-INDEX``). A datagen records file's metadata keys become columns (its
    provenance stays behind)."""
    assert spec.path is not None
    path = loaded.resolve(spec.path)
    fmt = source_format(path, spec)
    rows = _raw_rows(path, fmt)
    if spec.limit is not None:
        rows = itertools.islice(rows, spec.limit)
    for index, raw in enumerate(rows):
        if spec.columns:
            missing = [c for c in spec.columns if c not in raw]
            if missing:
                raise UsageError(
                    f"{path}: row {index + 1} has no column {missing[0]!r} (sources.{name}.columns; "
                    f"it has {', '.join(map(str, raw)) or 'none'})"
                )
            row = {new: raw[old] for old, new in spec.columns.items()}
        else:
            row = dict(raw)
        if isinstance(row.get("metadata"), dict) and "provenance" in row:  # a datagen records file
            nested = row.pop("metadata")
            row.pop("provenance")
            row.update({k: v for k, v in nested.items() if k not in row})
        row_id = raw.get("id") if isinstance(raw.get("id"), str | int) else None
        row["id"] = str(row_id) if row_id is not None else f"{name}-{index:06d}"
        yield row


def source_columns(loaded: Loaded, name: str, spec: SourceSpec) -> list[str]:
    """The columns a source gives (read from its first row, for a file without ``columns``)."""
    if spec.method:
        return list(METHOD_COLUMNS)
    if spec.columns:
        return list(spec.columns.values())
    first = next(iter(file_rows(loaded, name, spec)), None)
    return [c for c in first if c != "id"] if first else []
