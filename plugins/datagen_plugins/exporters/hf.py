"""``hf``: a Hugging Face dataset folder: ``datasets.load_from_disk(OUT)`` loads it, its Parquet shards
(``OUT/data/train-*.parquet``) load with ``datasets.load_dataset("parquet", ...)`` or from the Hub, and
``OUT/README.md`` is its dataset card.

Columns have real Arrow types: ``messages`` a list of ``{role, content}`` structs, ``provenance`` a struct
(its sampling ``params``, free-form, as JSON text), ``metadata`` a struct when every record's metadata
fits one type, else JSON text (the card says which). Row groups stay under ``row_group_mb`` (128 MB: the
Hub's viewer refuses groups over ~286 MiB). The card has the Hub's YAML header (licence, tags with
``synthetic``, size category, the ``default`` config's files) and a body counted from the records: their
methods, backends and models, finish reasons, tokens and cost. Needs ``datagen[hf]``."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen.plugin import Record, RegisterExporter, UsageError, hookimpl, record_to_dict, write_file

SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))


@attrs.define
class HFOptions:
    """Options of ``[exporter.hf]``."""

    license: str = "other"
    pretty_name: str | None = None
    row_group_mb: int = 128
    shard_rows: int = 500_000


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
    """The dataset folder, its Parquet shards and its card."""

    name: ClassVar[str] = "hf"
    Config: ClassVar[type[Any]] = HFOptions

    def __init__(self, config: HFOptions) -> None:
        self.config = config

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write the folder ``path`` (replaced as a whole when it is complete)."""
        try:
            import datasets
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise UsageError("the hf format needs datasets: pip install 'datagen[hf]'") from None
        datasets.disable_progress_bars()
        rows = [_row(r) for r in records]
        if not rows:
            raise UsageError("no record to export as hf")
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
                "messages": pa.array(
                    [r["messages"] for r in rows],
                    pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
                ),
                "metadata": metadata,
                "provenance": pa.array([r["provenance"] for r in rows], _provenance_type()),
            }
        )
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            datasets.Dataset(table).save_to_disk(str(tmp))
            shards = self._shards(table, tmp / "data", pq)
            write_file(tmp / "README.md", self._card(rows, table, metadata_as_struct))
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {
            "rows": len(rows),
            "files": [str(path)],
            "shards": [str(path / "data" / s) for s in shards],
            "metadata": "struct" if metadata_as_struct else "json",
        }

    def _shards(self, table: Any, folder: Path, pq: Any) -> list[str]:
        folder.mkdir(parents=True)
        per_shard = max(1, self.config.shard_rows)
        count = -(-table.num_rows // per_shard)
        bytes_per_row = max(1, table.nbytes // max(1, table.num_rows))
        group = max(1, self.config.row_group_mb * 1024 * 1024 // bytes_per_row)
        names = []
        for i in range(count):
            name = f"train-{i:05d}-of-{count:05d}.parquet"
            pq.write_table(table.slice(i * per_shard, per_shard), folder / name, row_group_size=group)
            names.append(name)
        return names

    def _card(self, rows: list[dict[str, Any]], table: Any, metadata_as_struct: bool) -> str:
        import yaml

        n = len(rows)
        size = next((label for limit, label in SIZES if n < limit), "n>1M")
        header = {
            "license": self.config.license,
            "tags": ["synthetic", "datagen"],
            "size_categories": [size],
            "configs": [
                {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}
            ],
        }
        if self.config.pretty_name:
            header["pretty_name"] = self.config.pretty_name
        made = [r["provenance"] for r in rows if r["provenance"]]
        methods = Counter(p["method"] for p in made)
        models = Counter(f"{p['backend']} / {p['model']}" for p in made)
        finish = Counter(p["finish_reason"] for p in made)
        tokens = sum(p["usage"]["prompt_tokens"] + p["usage"]["completion_tokens"] for p in made)
        costs = [p["usage"]["cost_usd"] for p in made]
        cost = f"${sum(costs):.4f}" if costs and None not in costs else "unknown"
        lines = [
            f"# {self.config.pretty_name or 'Synthetic dataset'}",
            "",
            f"{n} records generated with datagen ({len(made)} with provenance).",
            "",
            "| | |",
            "|---|---|",
            f"| methods | {_counts(methods)} |",
            f"| backends and models | {_counts(models)} |",
            f"| finish reasons | {_counts(finish)} |",
            f"| tokens | {tokens} |",
            f"| cost | {cost} |",
            "",
            "Columns: "
            + ", ".join(f"`{name}` ({table.schema.field(name).type})" for name in table.column_names)
            + ".",
            "",
            "`metadata` is a struct."
            if metadata_as_struct
            else (
                "`metadata` is JSON text: the records' metadata do not share one type (decode it with "
                "`json.loads`)."
            ),
            "`provenance.params` (the sampling parameters) is JSON text.",
        ]
        return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n\n" + "\n".join(lines) + "\n"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{k} ({v})" for k, v in counter.most_common()) or "none recorded"


@hookimpl
def datagen_register_exporters(register: RegisterExporter) -> None:
    """Register the hf exporter."""
    register(HFDataset)
