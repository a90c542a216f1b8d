"""``hf``: a Hugging Face dataset folder: ``datasets.load_from_disk(OUT)`` loads it, its Parquet shards
(``OUT/data/train-*.parquet``) load with ``datasets.load_dataset("parquet", ...)`` or from the Hub, and
``OUT/README.md`` is its dataset card.

Columns have real Arrow types: ``messages`` a list of ``{role, content}`` structs, ``provenance`` a struct
(its sampling ``params``, free-form, as JSON text), ``metadata`` a struct when every record's metadata
fits one type, else JSON text (the card says which). Row groups stay under ``row_group_mb`` (128 MB: the
Hub's viewer refuses groups over ~286 MiB). Beside the raw records (``data/``, the ``default`` config)
each training view is a config of its own (``sft/``, ``dpo/``; ``rejects/`` from the removed records'
file). The card (``_card``) has the Hub's YAML header and a body from the records and the run reports.
The records stream through a spool file, so memory holds a row group, not the dataset. Needs
``datagen[hf]``."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, UsageError, hookimpl, record_to_dict, write_file
from datagen_plugins.exporters._card import CardStats, body, header, read_json, read_reports
from datagen_plugins.exporters._shape import ChatOptions, Unfit, preference_row, turns

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


def _params_as_text(row: dict[str, Any]) -> dict[str, Any]:
    """A record's row as the ``hf`` format stores it: ``provenance.params`` as JSON text."""
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
        """Write the folder ``path`` (replaced as a whole when it is complete). The records stream
        through: a spool file on disk and the training views' Parquet files take them as they come, and
        the shards are written from those, so memory holds one row group at a time, not the dataset."""
        try:
            import datasets
            import pyarrow as pa
        except ImportError:
            raise UsageError("the hf format needs datasets: pip install 'datagen[hf]'") from None
        c = self.config
        reports = read_reports(c.reports)  # every input is read before any work
        metrics = read_json(c.metrics, "metrics file", "metrics") if c.metrics else None
        datasets.disable_progress_bars()
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir(parents=True)
            # the removed records first: a bad line stops the export before any record is read
            removed = self._write_rejects(c.rejected, tmp / "rejects") if c.rejected else None
            spool = tmp / ".records.jsonl"
            stats, metadata_type, views, dropped = self._spool(records, spool, tmp)
            if not stats.rows:
                raise UsageError("no record to export as hf")
            metadata_as_struct = metadata_type is not None
            try:
                schema, shards = self._write_records(spool, tmp / "data", metadata_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # a value the inferred struct cannot hold
                metadata_as_struct = False  # (_write_records dropped what it had written)
                schema, shards = self._write_records(spool, tmp / "data", None)
            spool.unlink()
            counts = {"default": stats.rows, **views}
            if removed is not None:
                counts["rejects"] = removed
            self._save_to_disk(datasets, [tmp / "data" / name for name in shards], tmp)
            card = "---\n" + _yaml(
                header(stats.rows, [v for v in counts if v != "default"], c.license, c.pretty_name, c.tags)
            )
            title = c.pretty_name or "Synthetic dataset"
            card += "---\n\n" + body(
                stats, schema, title=title, views=counts, dropped_views=dropped,
                metadata_as_struct=metadata_as_struct, reports=reports, metrics=metrics,
            )  # fmt: skip
            write_file(tmp / "README.md", card)
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {
            "rows": stats.rows,
            "files": [str(path)],
            "shards": [str(path / "data" / s) for s in shards],
            "views": counts,
            "metadata": "struct" if metadata_as_struct else "json",
        }

    def _spool(
        self, records: Iterable[Record], spool: Path, tmp: Path
    ) -> tuple[CardStats, Any, dict[str, int], dict[str, str]]:
        """One pass over the records: each row to the spool (JSON lines), counted for the card, its
        metadata's Arrow type unified with the others' (None: they share no struct type), and its
        training views' rows to their shards. Returns the counts, that type, the rows of each view
        kept and why each view left out was left out; a view asked for by name that a record cannot
        fill is an error naming the record."""
        c = self.config
        sinks = {
            view: _ViewSink(view, _Shards(tmp / view, c.shard_rows, c.row_group_mb))
            for view in (c.views if c.views is not None else TRAINING_VIEWS)
        }
        stats = CardStats()
        dropped: dict[str, str] = {}
        metadata = _MetadataType()
        with spool.open("w", encoding="utf-8") as handle:
            for position, record in enumerate(records):
                row = record_to_dict(record)
                stats.add(row)  # (its params still a mapping: nothing to parse back)
                row = _params_as_text(row)
                metadata.add(row["metadata"])
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                for view, sink in list(sinks.items()):
                    why = sink.add(record, position)
                    if why is None:
                        continue
                    if c.views is not None:
                        raise UsageError(f"$.exporter.hf.views: {why}")
                    dropped[view] = why
                    sink.shards.discard()
                    del sinks[view]
        kept = {view: sink.close() for view, sink in sinks.items()}
        return stats, metadata.result(), {v: rows for v, rows in kept.items() if rows}, dropped

    def _write_records(self, spool: Path, folder: Path, metadata_type: Any) -> tuple[Any, list[str]]:
        """The records' shards from the spool; returns their schema and the shards' names."""
        import pyarrow as pa

        schema = pa.schema(
            [
                *((name, pa.string()) for name in ("id", "instruction", "input", "output")),
                ("messages", _turns_type()),
                ("metadata", metadata_type if metadata_type is not None else pa.string()),
                ("provenance", _provenance_type()),
            ]
        )
        shards = _Shards(folder, self.config.shard_rows, self.config.row_group_mb)
        try:
            with spool.open(encoding="utf-8") as handle:
                while batch := [json.loads(line) for line in itertools.islice(handle, BATCH_ROWS)]:
                    for row in batch:
                        row["metadata"] = row["metadata"] or None
                        if metadata_type is None:
                            row["metadata"] = json.dumps(row["metadata"], sort_keys=True, ensure_ascii=False)
                    shards.write(pa.Table.from_pylist(batch, schema=schema))
        except BaseException:
            shards.discard()
            raise
        return schema, shards.close()

    @staticmethod
    def _save_to_disk(datasets: Any, shards: list[Path], folder: Path) -> None:
        """``datasets.load_from_disk(folder)``'s files, built from the shards (memory-mapped, through a
        cache in the folder that is removed after)."""
        cache = folder / ".cache"
        try:
            dataset = datasets.Dataset.from_parquet([str(s) for s in shards], cache_dir=str(cache))
            dataset.save_to_disk(str(folder))
            del dataset
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    @staticmethod
    def _reject_rows(path: str) -> Iterator[dict[str, Any]]:
        """The rows of a rejected-records file (a ``--rejected`` JSONL), one line at a time: stage,
        family, reason, details and the record's fields (metadata as JSON text)."""
        try:
            with open(path, encoding="utf-8") as fh:
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        yield _reject_row(line, number, path)
        except FileNotFoundError:
            raise UsageError(f"$.exporter.hf.rejected: {path}: no such file") from None

    def _write_rejects(self, path: str, folder: Path) -> int:
        """The ``rejects`` view's shards, written in batches as its lines are checked; returns its
        rows."""
        import pyarrow as pa

        schema = pa.schema(
            [
                *((name, pa.string()) for name in ("stage", "family", "reason", "details")),
                *((name, pa.string()) for name in ("id", "instruction", "input", "output")),
                ("messages", _turns_type()),
                ("metadata", pa.string()),
            ]
        )
        shards = _Shards(folder, self.config.shard_rows, self.config.row_group_mb)
        rows = self._reject_rows(path)
        try:
            while batch := list(itertools.islice(rows, BATCH_ROWS)):
                shards.write(pa.Table.from_pylist(batch, schema=schema))
        except BaseException:
            shards.discard()
            raise
        shards.close()
        return shards.rows


#: rows per batch read from the spool and per table handed to the shard writer
BATCH_ROWS = 5_000


class _MetadataType:
    """The Arrow type every record's metadata fits, unified batch by batch (as ``pa.array`` infers
    it over all of them at once); None when there is none: not one struct type, or a field always
    null."""

    def __init__(self) -> None:
        self.type: Any = None
        self.fits = True
        self._batch: list[Any] = []

    def add(self, metadata: Any) -> None:
        if self.fits:
            self._batch.append(metadata or None)
            if len(self._batch) >= BATCH_ROWS:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        try:
            found = pa.array(self._batch).type
            if self.type is not None:
                both = [pa.schema([("m", self.type)]), pa.schema([("m", found)])]
                found = pa.unify_schemas(both, promote_options="permissive").field("m").type
            self.type = found
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            self.fits = False
        self._batch = []

    def result(self) -> Any:
        import pyarrow as pa

        if self._batch:
            self._flush()
        t = self.type
        if (
            not self.fits
            or t is None
            or not pa.types.is_struct(t)
            or any(pa.types.is_null(f.type) for f in t)
        ):
            return None
        return t


class _Shards:
    """Parquet shards of ``shard_rows`` rows written as tables come, in row groups under
    ``row_group_mb`` (sized from the first table's bytes per row); named ``train-NNNNN-of-NNNNN``
    when closed, once their count is known."""

    def __init__(self, folder: Path, shard_rows: int, row_group_mb: int) -> None:
        self.folder = folder
        self.per_shard = max(1, shard_rows)
        self.group_bytes = row_group_mb * 1024 * 1024
        self.group: int | None = None
        self.rows = 0
        self._held: list[Any] = []  # tables waiting to fill a row group
        self._held_rows = 0
        self._writer: Any = None
        self._in_shard = 0
        self._files: list[Path] = []

    def write(self, table: Any) -> None:
        """Add ``table``'s rows."""
        if self.group is None:
            self.group = max(1, self.group_bytes // max(1, table.nbytes // max(1, table.num_rows)))
        self._held.append(table)
        self._held_rows += table.num_rows
        self.rows += table.num_rows
        if self._held_rows >= self.group:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._held) if len(self._held) > 1 else self._held[0]
        self._held, self._held_rows = [], 0
        while table.num_rows:
            if self._writer is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._files.append(self.folder / f".train-{len(self._files):05d}.parquet")
                self._writer = pq.ParquetWriter(self._files[-1], table.schema, compression="snappy")
            room = self.per_shard - self._in_shard
            part, table = table.slice(0, room), table.slice(room)
            self._writer.write_table(part, row_group_size=self.group)
            self._in_shard += part.num_rows
            if self._in_shard == self.per_shard:
                self._writer.close()
                self._writer, self._in_shard = None, 0

    def close(self) -> list[str]:
        """Finish the last shard and name them all; returns the names."""
        if self._held:
            self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        names = [f"train-{i:05d}-of-{len(self._files):05d}.parquet" for i in range(len(self._files))]
        for file, name in zip(self._files, names, strict=True):
            file.rename(self.folder / name)
        return names

    def discard(self) -> None:
        """Drop what was written (a view left out, or a failed pass)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._held, self._held_rows = [], 0
        shutil.rmtree(self.folder, ignore_errors=True)


class _ViewSink:
    """A training view's rows (``trl_sft`` or ``trl_dpo``'s shape) to its shards as they come (the
    schema from the first row)."""

    def __init__(self, view: str, shards: _Shards) -> None:
        self.view, self.shards = view, shards
        self.chat = ChatOptions()
        self._held: list[dict[str, Any]] = []
        self._schema: Any = None

    def add(self, record: Record, position: int) -> str | None:
        """Take the record's row; why it cannot be written as this view, if it cannot."""
        try:
            if self.view == "sft":
                row = {"messages": turns(record, self.chat)}
            else:
                row = preference_row(record, self.chat, "chosen", "rejected", conversational=True)
        except Unfit as exc:
            fmt = TRAINING_VIEWS[self.view]
            return f"record {position} (id {record.id}) cannot be written as {fmt}: {exc}"
        self._held.append(row)
        if len(self._held) >= BATCH_ROWS:
            self._flush()
        return None

    def _flush(self) -> None:
        import pyarrow as pa

        if self._schema is None:
            first = self._held[0]
            self._schema = pa.schema(
                [(k, _turns_type() if isinstance(v, list) else pa.string()) for k, v in first.items()]
            )
        self.shards.write(pa.Table.from_pylist(self._held, schema=self._schema))
        self._held = []

    def close(self) -> int:
        """Finish the shards; returns the view's rows."""
        if self._held:
            self._flush()
        self.shards.close()
        return self.shards.rows


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


def _yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the hf exporter."""
    register(HFDataset)
