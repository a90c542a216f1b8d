"""Results: an ordered collection of records, with lossless JSONL and Parquet files written in a stream.

A file is written under a temporary name beside its destination and renamed when complete, so a crashed
run never leaves a half-written file that looks like a result.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, overload

import msgspec

from datagen._datamodel.config import converter, structure
from datagen._datamodel.records import Record, stable_id
from datagen.errors import ConfigError, UsageError, missing_extra

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datagen._datamodel.report import RunReport

FORMATS = {".jsonl": "jsonl", ".parquet": "parquet"}
_JSON_COLUMNS = ("metadata", "provenance")

COLUMNS = ("id", "instruction", "input", "output", "messages", "metadata", "provenance")


@functools.cache
def parquet_schema() -> pa.Schema:
    """The Parquet schema of records (pyarrow is imported on first use: a JSONL run never loads it)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("instruction", pa.string()),
            ("input", pa.string()),
            ("output", pa.string()),
            ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("metadata", pa.string()),  # JSON: free-form values of any shape
            ("provenance", pa.string()),  # JSON
        ]
    )


def file_format(path: Path) -> str:
    """``jsonl`` or ``parquet`` from the file name; a :class:`UsageError` for anything else."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unsupported file type {path.suffix!r} (use .jsonl or .parquet)")
    return fmt


def record_to_dict(record: Record) -> dict[str, Any]:
    """``record`` as JSON-ready plain data (the converter's unstructuring, written out for speed: a
    test keeps the two equal)."""
    messages, metadata, provenance = record.messages, record.metadata, record.provenance
    return {
        "id": record.id,
        "instruction": record.instruction,
        "input": record.input,
        "output": record.output,
        "messages": None if messages is None else [{"role": m.role, "content": m.content} for m in messages],
        "metadata": converter.unstructure(metadata, Mapping[str, Any]) if metadata else {},
        "provenance": None if provenance is None else converter.unstructure(provenance),
    }


#: other names users' data gives the fields, first match wins (documented in docs/records.md); a row of
#: another tool's file (``{"id", "text", "url"}`` as pretraining corpora are written) has its text read as
#: the ``output`` through these and every other key kept in ``metadata``
ALIASES = {
    "instruction": ("prompt", "question", "query"),
    "output": ("response", "answer", "completion", "text", "content", "document"),
}
_CONTENT = ("instruction", "input", "output", "messages")


_ALIAS_KEYS = frozenset(alias for aliases in ALIASES.values() for alias in aliases)


def _foreign_row(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """A row with none of a record's content fields, read through :data:`ALIASES`; None if none applies."""
    present = _ALIAS_KEYS.intersection(data)
    if not present:
        return None
    row: dict[str, Any] = {}
    taken = {"id", "metadata", "provenance"}
    for field, aliases in ALIASES.items():
        for alias in aliases:
            if alias in present:
                value = data[alias]
                if isinstance(value, str) and value.strip():
                    row[field] = value
                    taken.add(alias)
                    break
    if not row:
        return None
    extra = {k: v for k, v in data.items() if v is not None and k not in taken}  # a table's empty cells
    if data.get("metadata"):
        extra = {**dict(data["metadata"]), **extra}
    if extra:
        row["metadata"] = extra
    if data.get("provenance") is not None:
        row["provenance"] = data["provenance"]
    given = data.get("id")
    row["id"] = str(given) if isinstance(given, (str, int)) and given != "" else None
    row["id"] = row["id"] or stable_id(row.get("instruction"), row.get("output"))
    return row


def foreign_fields(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """For a file of another tool's rows (``{"id", "text", ...}``): which of its keys each record field is
    read from (``{"output": "text"}``), judged on its first row; None for a file of datagen records."""
    path = Path(path)
    first: Any = None
    if file_format(path) == "jsonl":
        first = next((data for _, data in iter_json_lines(path)), None)
    else:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1):
            rows = batch.to_pylist()
            first = rows[0] if rows else None
            break
    if not isinstance(first, dict) or any(first.get(k) is not None for k in _CONTENT):
        return None
    fields = {}
    for field, aliases in ALIASES.items():
        for alias in aliases:
            value = first.get(alias)
            if isinstance(value, str) and value.strip():
                fields[field] = alias
                break
    return fields or None


def foreign_row(record: Record, fields: Mapping[str, str]) -> dict[str, Any]:
    """A record written back in the shape of the rows it was read from: its id, its fields under their
    keys there, the rest of the row (kept in metadata) after them."""
    row: dict[str, Any] = {"id": record.id}
    for field, key in fields.items():
        row[key] = getattr(record, field)
    for key, value in record.metadata.items():
        row.setdefault(key, value)
    return row


def record_from_dict(data: Any, *, where: str = "$") -> Record:
    """A record from plain data; a :class:`ConfigError` names ``where`` and the bad key.

    A row with no ``instruction``, ``input``, ``output`` or ``messages`` is read through the field
    aliases (``text``, ``prompt``, ``response``, ...), its other keys going to ``metadata``."""
    if isinstance(data, dict) and not any(k in data for k in _CONTENT):
        row = _foreign_row(data)
        if row is not None:
            if "provenance" not in row:  # strings and a dict of JSON values: nothing to convert
                return Record(**row)
            data = row
    return structure(data, Record, path=where)


#: JSON Lines are read and written with msgspec: 4-6 times faster than the json module on records
#: (``benchmarks/jsonl.py``), and a float that JSON cannot hold (NaN, infinity) is written as null
_ENCODE = msgspec.json.Encoder().encode
_DECODE = msgspec.json.Decoder().decode


def _json_line(record: Record) -> bytes:
    return _ENCODE(record_to_dict(record)) + b"\n"


def _to_row(record: Record) -> dict[str, Any]:
    row = record_to_dict(record)
    for col in _JSON_COLUMNS:
        row[col] = None if row[col] is None else json.dumps(row[col], ensure_ascii=False, sort_keys=True)
    return row


def _from_row(row: dict[str, Any], where: str) -> Record:
    for col in _JSON_COLUMNS:
        if row.get(col) is not None:
            row[col] = json.loads(row[col])
    if row.get("metadata") is None:
        row.pop("metadata", None)
    return record_from_dict(row, where=where)


def check_writable(path: Path, *, overwrite: bool = True, what: str = "output") -> None:
    """Fail before any work if ``path`` cannot be written (missing folder, no permission, bad suffix) or,
    unless ``overwrite``, already exists."""
    file_format(path)
    if not overwrite and path.is_file():
        raise UsageError(f"{path}: the {what} file exists; pass --overwrite (or choose another name)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: cannot write output, folder {parent} does not exist")
    if path.is_dir():
        raise UsageError(f"{path}: cannot write output, it is a folder")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{path}: cannot write output, permission denied")


def check_side_file(path: Path, what: str, *, overwrite: bool = True) -> None:
    """Fail before any work if a report or rejected file could not be written at ``path`` or, unless
    ``overwrite``, already exists (as for the output file)."""
    if not overwrite and path.is_file():
        raise UsageError(f"{path}: the {what} file exists; pass --overwrite (or choose another name)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: cannot write the {what} file, folder {parent} does not exist")
    if path.is_dir():
        raise UsageError(f"{path}: cannot write the {what} file, it is a folder")


def temporary_path(target: Path) -> Path:
    """Where ``target`` is written before it is renamed into place: ``.NAME.PID.tmp`` beside it.

    Temporary files of the same target left by a process that no longer runs (killed with ``kill -9``,
    a power cut) are removed first, so reruns never pile them up."""
    prefix, mine = f".{target.name}.", os.getpid()
    parent = target.parent if str(target.parent) else Path(".")
    with contextlib.suppress(OSError):
        for stale in parent.glob(f"{glob.escape(prefix)}*.tmp"):
            pid = stale.name[len(prefix) : -len(".tmp")]
            if pid.isdigit() and int(pid) != mine and not _alive(int(pid)):
                stale.unlink(missing_ok=True)
    return target.with_name(f"{prefix}{mine}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def atomic_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A text file to write ``path`` through: a temporary file renamed into place when the block ends
    without an error (and removed when it does not), so a crash never leaves a half-written file under
    the real name."""
    target = Path(path)
    tmp = temporary_path(target)
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            yield fh
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_file(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_text`)."""
    with atomic_text(path) as fh:
        fh.write(text)
    return Path(path)


class RecordWriter:
    """Streams records to a JSONL or Parquet file via a temporary file renamed on :meth:`close`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        row_group_size: int = 2_000,
        shape: Callable[[Record], dict[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = file_format(self.path)
        check_writable(self.path)
        self.tmp = temporary_path(self.path)
        self.count = 0
        self.shape = shape  # rows of another shape (see foreign_row); Parquet columns from the first rows
        self._row_group_size = row_group_size
        self._rows: list[dict[str, Any]] = []
        self._text = open(self.tmp, "wb") if self.format == "jsonl" else None  # noqa: SIM115
        self._parquet: pq.ParquetWriter | None = None
        self._schema: Any = None  # (pyarrow is imported for Parquet only)
        if self.format == "parquet" and shape is None:
            import pyarrow.parquet as pq

            self._schema = parquet_schema()
            self._parquet = pq.ParquetWriter(self.tmp, self._schema, compression="zstd")

    def write(self, record: Record) -> None:
        """Append one record."""
        if self._text is not None:
            self._text.write(
                _json_line(record) if self.shape is None else _ENCODE(self.shape(record)) + b"\n"
            )
        else:
            self._rows.append(_to_row(record) if self.shape is None else self.shape(record))
            if len(self._rows) >= self._row_group_size:
                self._flush_rows()
        self.count += 1

    def write_all(self, records: Iterable[Record]) -> None:
        """Append every record of ``records``."""
        for record in records:
            self.write(record)

    def _flush_rows(self) -> None:
        if self.format != "parquet" or not self._rows:
            return
        import pyarrow as pa

        if self._parquet is None:  # another shape: the columns the first rows have
            import pyarrow.parquet as pq

            self._schema = pa.Table.from_pylist(self._rows).schema
            self._parquet = pq.ParquetWriter(self.tmp, self._schema, compression="zstd")
        try:
            table = pa.Table.from_pylist(self._rows, schema=self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise UsageError(f"{self.path}: the rows do not share the first rows' columns ({exc})") from None
        self._parquet.write_table(table)
        self._rows = []

    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        if self._text is not None:
            self._text.close()
        if self.format == "parquet":
            self._flush_rows()
            if self._parquet is None:  # nothing written in another shape: an empty file of records
                import pyarrow.parquet as pq

                pq.ParquetWriter(self.tmp, parquet_schema(), compression="zstd").close()
            else:
                self._parquet.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; nothing appears at the destination."""
        if self._text is not None:
            self._text.close()
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class RejectedWriter:
    """The rejected file: one JSON line per removed record, with the stage, family, reason and details.

    Written under a temporary name and renamed by :meth:`close`, like every output.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".jsonl":
            raise UsageError(f"{self.path}: the rejected file is JSON lines; name it .jsonl")
        check_writable(self.path)
        self.tmp = temporary_path(self.path)
        self.count = 0
        self._fh = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115

    def write(self, record: Record, stage: str, family: str, reason: str, details: Mapping[str, Any]) -> None:
        """Append one removed record."""
        line = {
            "stage": stage,
            "family": family,
            "reason": reason,
            "details": dict(details),
            "record": record_to_dict(record),
        }
        self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self.count += 1

    def close(self) -> Path:
        """Finish and move to the final name."""
        self._fh.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the temporary file."""
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for each non-blank line; a bad line is an error naming file and line."""
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.isspace():
                continue
            try:
                yield lineno, _DECODE(line)
            except msgspec.DecodeError as exc:
                reason = str(exc).removeprefix("JSON is malformed: ")
                raise UsageError(f"{path}:{lineno}: not valid JSON ({reason})") from None


def iter_records(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Stream the records of a JSONL or Parquet file; errors name the file and line (or row)."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if fmt == "jsonl":
        for lineno, data in iter_json_lines(path):
            try:
                yield record_from_dict(data)
            except ConfigError as exc:
                raise UsageError(f"{path}:{lineno}: not a record: {'; '.join(exc.problems)}") from None
    else:
        row_no = 0
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                row_no += 1
                try:
                    yield _from_row(row, "$")
                except ConfigError as exc:
                    raise UsageError(
                        f"{path}: row {row_no}: not a record: {'; '.join(exc.problems)}"
                    ) from None


def _count(path: Path) -> int:
    if file_format(path) == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


class Results:
    """An ordered collection of :class:`Record`; in memory, or backed by a file and streamed from it."""

    def __init__(self, records: Iterable[Record] = ()) -> None:
        self._records: list[Record] | None = list(records)
        self._path: Path | None = None
        self._len: int | None = None
        #: the report of the run (or filter pass) that made these results, if any
        self.report: RunReport | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Results:
        """Read a whole JSONL or Parquet file into memory."""
        return cls(iter_records(path))

    @classmethod
    def scan(cls, path: str | os.PathLike[str]) -> Results:
        """Results backed by a file: iteration streams it; indexing and :meth:`to_pandas` load it."""
        res = cls()
        res._records, res._path = None, Path(path)
        file_format(res._path)
        return res

    @property
    def path(self) -> Path | None:
        """The file behind file-backed results."""
        return self._path

    def _materialize(self) -> list[Record]:
        if self._records is None:
            assert self._path is not None
            self._records = list(iter_records(self._path))
        return self._records

    def __len__(self) -> int:
        if self._records is not None:
            return len(self._records)
        if self._len is None:
            assert self._path is not None
            self._len = _count(self._path)
        return self._len

    def __iter__(self) -> Iterator[Record]:
        if self._records is not None:
            return iter(self._records)
        assert self._path is not None
        return iter_records(self._path)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Results: ...
    def __getitem__(self, index: int | slice) -> Record | Results:
        records = self._materialize()
        if isinstance(index, slice):
            return Results(records[index])
        return records[index]

    __hash__ = None  # type: ignore[assignment]  # mutable collection

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        return list(self) == list(other)

    def __repr__(self) -> str:
        where = f", path={str(self._path)!r}" if self._path is not None else ""
        return f"Results(len={len(self)}{where})"

    def filter(self, predicate: Callable[[Record], bool]) -> Results:
        """The records for which ``predicate`` is true, in order."""
        return Results(r for r in self if predicate(r))

    def apply(
        self,
        *stages: str | tuple[str, str],
        config: Any = None,
        plugins: Any = None,
        out: str | os.PathLike[str] | None = None,
        rejected: str | os.PathLike[str] | None = None,
    ) -> Results:
        """These records through filter and privacy stages, without generating: ``apply("length",
        ("privacy", "pii"))``. A bare name is a filter, or a privacy mechanism if no filter has it.

        ``config`` (a :class:`~datagen._datamodel.config.DatagenConfig`, mapping or path) gives the stages'
        options; ``out`` streams the kept records to a file; ``rejected`` writes what each stage removed.
        The returned results carry the report (``.report``).
        """
        from datagen.services import service

        apply_stages = service("apply_stages")  # provided by the application layer (datagen/__init__.py)
        result: Results = apply_stages(
            self, stages, config=config, plugins=plugins, out=out, rejected=rejected
        )
        return result

    def export(
        self, fmt: str, path: str | os.PathLike[str], *, config: Any = None, plugins: Any = None
    ) -> dict[str, Any]:
        """Write these records in a training format (``"openai"``, ``"trl-sft"``, ``"trl-dpo"``, ...:
        the exporter plugins installed), with the ``[exporter.NAME]`` options of ``config``; returns
        what was written (``rows``, ``files``). A record the format cannot express is an error naming
        it, and then no file appears."""
        from datagen.services import service

        export = service("export")  # provided by the application layer (datagen/__init__.py)
        done: dict[str, Any] = export(self, fmt, path, config=config, plugins=plugins)
        return done

    def save(self, path: str | os.PathLike[str], *, row_group_size: int = 2_000) -> Path:
        """Write to ``.jsonl`` or ``.parquet`` (streamed, atomically renamed)."""
        with RecordWriter(path, row_group_size=row_group_size) as writer:
            writer.write_all(self)
        return writer.path

    def to_pandas(self) -> pd.DataFrame:
        """A DataFrame, one row per record; nested fields stay dicts and lists (``datagen[pandas]``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise missing_extra(exc, "Results.to_pandas") or exc from None

        return pd.DataFrame([record_to_dict(r) for r in self], columns=list(COLUMNS))

    def to_torch(
        self, tokenizer: Any, *, max_length: int | None = None, assistant_only: bool | None = None
    ) -> tuple[Any, Any]:
        """A PyTorch ``Dataset`` of ``{input_ids, labels}`` and a collate function for a ``DataLoader``:
        each record through the tokenizer's chat template (labels only on the assistant's tokens when
        the template has ``{% generation %}`` markers), cut at ``max_length`` (torch: ``datagen[rl]``)."""
        from datagen.services import service

        to_torch = service("to_torch")  # provided by the application layer (datagen/__init__.py)
        made: tuple[Any, Any] = to_torch(
            self, tokenizer, max_length=max_length, assistant_only=assistant_only
        )
        return made

    @classmethod
    def from_pandas(cls, frame: pd.DataFrame) -> Results:
        """Records from a DataFrame made by :meth:`to_pandas` (missing columns take their defaults)."""
        records = []
        for i, row in enumerate(frame.to_dict(orient="records")):
            clean: dict[str, Any] = {str(k): _from_cell(v) for k, v in row.items()}
            if clean.get("metadata") is None:
                clean.pop("metadata", None)
            if clean.get("id") is None:
                clean.pop("id", None)
            records.append(record_from_dict(clean, where=f"$[{i}]"))
        return cls(records)


def _from_cell(value: Any) -> Any:
    """pandas cells back to plain data (NaN/None → None, numpy containers → lists)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value
