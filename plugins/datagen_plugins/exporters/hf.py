"""``hf``: a Hugging Face dataset folder: ``datasets.load_from_disk(OUT)`` loads it, its Parquet shards
(``OUT/data/train-*.parquet``) load with ``datasets.load_dataset("parquet", ...)`` or from the Hub, and
``OUT/README.md`` is its dataset card.

Columns have real Arrow types: ``messages`` a list of ``{role, content}`` structs, ``provenance`` a struct
(its sampling ``params``, free-form, as JSON text), ``metadata`` a struct when every record's metadata
fits one type, else JSON text (the card says which). Row groups stay under ``row_group_mb`` (128 MB: the
Hub's viewer refuses groups over ~286 MiB). Beside the raw records (``data/``, the ``default`` config)
each training view is a config of its own (``sft/``, ``dpo/``; ``rejects/`` from the removed records'
file). The card (``_card``) has the Hub's YAML header and a body from the records and the run reports.
Needs ``datagen[hf]``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, UsageError, hookimpl, record_to_dict, write_file
from datagen_plugins.exporters._card import body, header, read_json, read_reports

#: the training views a dataset folder can carry besides the raw records, and the exporter of each
TRAINING_VIEWS = {"sft": "trl_sft", "dpo": "trl_dpo"}


@attrs.define
class HFOptions:
    """Options of ``[exporter.hf]``: ``views`` (training views beside the raw records, ``sft`` and ``dpo``;
    unset: each that every record fits), ``reports`` (run report JSON files the card describes),
    ``metrics`` (a ``datagen metrics --json`` file), ``rejected`` (the JSONL of removed records, the
    ``rejects`` view), ``tags``, ``license``, ``pretty_name``, ``row_group_mb``, ``shard_rows``."""

    license: str = "other"
    pretty_name: str | None = None
    row_group_mb: int = 128
    shard_rows: int = 500_000
    views: list[str] | None = None
    reports: list[str] = attrs.field(factory=list)
    metrics: str | None = None
    rejected: str | None = None
    tags: list[str] = attrs.field(factory=list)


def _provenance_type() -> Any:
    import pyarrow as pa

    usage = pa.struct(
        [("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()), ("cost_usd", pa.float64())]
    )
    return pa.struct(
        [
            ("method", pa.string()),
            ("backend", pa.string()),
            ("model", pa.string()),
            ("params", pa.string()),
            ("prompt_hash", pa.string()),
            ("seed_ids", pa.list_(pa.string())),
            ("parent_id", pa.string()),
            ("created_at", pa.string()),
            ("usage", usage),
            ("finish_reason", pa.string()),
        ]
    )


def _row(record: Record) -> dict[str, Any]:
    row = record_to_dict(record)
    if row["provenance"] is not None:
        row["provenance"] = {
            **row["provenance"],
            "params": json.dumps(row["provenance"]["params"], sort_keys=True),
        }
    return row


class HFDataset:
    """The dataset folder, its Parquet shards (one folder per view) and its card."""

    name: ClassVar[str] = "hf"
    Config: ClassVar[type[Any]] = HFOptions
    #: the options a dataset card is made from (``datagen export``'s card flags, a pipeline's report)
    card_options: ClassVar[frozenset[str]] = frozenset({"reports", "metrics", "rejected", "views"})

    def __init__(self, config: HFOptions) -> None:
        unknown = sorted(set(config.views or ()) - set(TRAINING_VIEWS))
        if unknown:
            raise UsageError(
                f"$.exporter.hf.views: no view {', '.join(map(repr, unknown))} "
                f"(views: {', '.join(TRAINING_VIEWS)}; the raw records are always written)"
            )
        self.config = config

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write the folder ``path`` (replaced as a whole when it is complete)."""
        try:
            import datasets
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise UsageError("the hf format needs datasets: pip install 'datagen[hf]'") from None
        c = self.config
        reports = read_reports(c.reports)  # every input is read before any work
        metrics = read_json(c.metrics, "metrics file", "metrics") if c.metrics else None
        rejects = self._rejects(c.rejected) if c.rejected else None
        datasets.disable_progress_bars()
        kept = list(records)
        if not kept:
            raise UsageError("no record to export as hf")
        rows = [_row(r) for r in kept]
        views, dropped = self._views(kept)
        metadata_as_struct = True
        try:
            metadata = pa.array([r["metadata"] or None for r in rows])
            if not pa.types.is_struct(metadata.type) or any(pa.types.is_null(f.type) for f in metadata.type):
                raise pa.ArrowInvalid("not one struct type")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            metadata_as_struct = False
            metadata = pa.array([json.dumps(r["metadata"], sort_keys=True, ensure_ascii=False) for r in rows])
        table = pa.table(
            {
                "id": pa.array([r["id"] for r in rows], pa.string()),
                "instruction": pa.array([r["instruction"] for r in rows], pa.string()),
                "input": pa.array([r["input"] for r in rows], pa.string()),
                "output": pa.array([r["output"] for r in rows], pa.string()),
                "messages": pa.array([r["messages"] for r in rows], _turns_type()),
                "metadata": metadata,
                "provenance": pa.array([r["provenance"] for r in rows], _provenance_type()),
            }
        )
        tables = {"data": table, **{v: _view_table(view_rows) for v, view_rows in views.items()}}
        if rejects is not None:
            tables["rejects"] = rejects
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            datasets.Dataset(table).save_to_disk(str(tmp))
            shards = {folder: self._shards(t, tmp / folder, pq) for folder, t in tables.items()}
            counts = {("default" if f == "data" else f): t.num_rows for f, t in tables.items()}
            card = "---\n" + _yaml(
                header(len(rows), [v for v in counts if v != "default"], c.license, c.pretty_name, c.tags)
            )
            card += "---\n\n" + body(
                rows, table, title=c.pretty_name or "Synthetic dataset", views=counts, dropped_views=dropped,
                metadata_as_struct=metadata_as_struct, reports=reports, metrics=metrics,
            )  # fmt: skip
            write_file(tmp / "README.md", card)
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {
            "rows": len(rows),
            "files": [str(path)],
            "shards": [str(path / "data" / s) for s in shards["data"]],
            "views": counts,
            "metadata": "struct" if metadata_as_struct else "json",
        }

    def _views(self, records: list[Record]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
        """The training views' rows, and why each view left out (unset ``views``) was left out; a view
        asked for by name that a record cannot fill is an error naming the record."""
        from datagen_plugins.exporters._shape import ChatOptions, Unfit, preference_row, turns

        chat = ChatOptions()
        rows_of: dict[str, Callable[[Record], dict[str, Any]]] = {
            "sft": lambda r: {"messages": turns(r, chat)},
            "dpo": lambda r: preference_row(r, chat, "chosen", "rejected", conversational=True),
        }

        wanted = self.config.views
        views: dict[str, list[dict[str, Any]]] = {}
        dropped: dict[str, str] = {}
        for view in wanted if wanted is not None else TRAINING_VIEWS:
            fmt, row = TRAINING_VIEWS[view], rows_of[view]
            out = []
            for position, record in enumerate(records):
                try:
                    out.append(row(record))
                except Unfit as exc:
                    why = f"record {position} (id {record.id}) cannot be written as {fmt}: {exc}"
                    if wanted is not None:
                        raise UsageError(f"$.exporter.hf.views: {why}") from None
                    dropped[view] = why
                    break
            else:
                views[view] = out
        return views, dropped

    def _rejects(self, path: str) -> Any:
        """The removed records (a ``--rejected`` JSONL) as a table: stage, family, reason, details and
        the record's fields (metadata as JSON text)."""
        import pyarrow as pa

        try:
            with open(path, encoding="utf-8") as fh:
                rows = [_reject_row(line, number, path) for number, line in enumerate(fh, 1) if line.strip()]
        except FileNotFoundError:
            raise UsageError(f"$.exporter.hf.rejected: {path}: no such file") from None
        schema = pa.schema(
            [
                *((name, pa.string()) for name in ("stage", "family", "reason", "details")),
                *((name, pa.string()) for name in ("id", "instruction", "input", "output")),
                ("messages", _turns_type()),
                ("metadata", pa.string()),
            ]
        )
        return pa.Table.from_pylist(rows, schema=schema)

    def _shards(self, table: Any, folder: Path, pq: Any) -> list[str]:
        folder.mkdir(parents=True)
        per_shard = max(1, self.config.shard_rows)
        count = max(1, -(-table.num_rows // per_shard))
        bytes_per_row = max(1, table.nbytes // max(1, table.num_rows))
        group = max(1, self.config.row_group_mb * 1024 * 1024 // bytes_per_row)
        names = []
        for i in range(count):
            name = f"train-{i:05d}-of-{count:05d}.parquet"
            pq.write_table(table.slice(i * per_shard, per_shard), folder / name, row_group_size=group)
            names.append(name)
        return names


def _text(value: Any) -> str:
    return json.dumps(value or {}, sort_keys=True, ensure_ascii=False)


def _reject_row(line: str, number: int, path: str) -> dict[str, Any]:
    """One line of a rejected-records file (``{stage, family, reason, details, record}``) as a row."""
    try:
        item = json.loads(line)
        record = item["record"]
        return {
            **{k: item.get(k) for k in ("stage", "family", "reason")},
            "details": _text(item.get("details")),
            **{k: record.get(k) for k in ("id", "instruction", "input", "output", "messages")},
            "metadata": _text(record.get("metadata")),
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"$.exporter.hf.rejected: {path}:{number}: not a rejected-records line ({exc!r})"
        ) from None


def _turns_type() -> Any:
    import pyarrow as pa

    return pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def _view_table(rows: list[dict[str, Any]]) -> Any:
    """A training view's rows as a table: turns as lists of structs, strings as strings."""
    import pyarrow as pa

    first = rows[0]
    fields = [(k, _turns_type() if isinstance(v, list) else pa.string()) for k, v in first.items()]
    return pa.Table.from_pylist(rows, schema=pa.schema(fields))


def _yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the hf exporter."""
    register(HFDataset)
