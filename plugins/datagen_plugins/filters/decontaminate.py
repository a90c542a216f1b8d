"""``decontaminate``: drop records that share a long word n-gram with a benchmark's test set.

Each benchmark (a JSONL or Parquet file: datagen records, or rows with any string fields) is read once;
its word n-grams (``ngram`` words, 13 by default as in GPT-3's contamination study, after lower-casing
and dropping punctuation) are hashed into a set per benchmark. A record with any of those n-grams in
the chosen fields is removed (``contaminated``), naming the benchmark and the n-gram.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import xxhash

from datagen.plugin import (
    POSITIVE,
    Record,
    RegisterFilter,
    Rejected,
    RunContext,
    Stage,
    UsageError,
    hookimpl,
)
from datagen_plugins.filters._text import FIELDS, check_fields, record_text, words


@attrs.define
class DecontaminateConfig:
    """Options of ``[filter.decontaminate]``."""

    #: benchmark name -> path of its test set (JSONL or Parquet)
    benchmarks: dict[str, str] = attrs.field(factory=dict)
    ngram: int = attrs.field(default=13, validator=POSITIVE)
    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def benchmark_texts(path: Path) -> Iterator[str]:
    """Every string in every row of a JSONL or Parquet file."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                yield from _strings(row)
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield from _strings(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def ngrams(tokens: list[str], n: int) -> Iterator[str]:
    """The word n-grams of ``tokens`` (none when there are fewer than ``n``)."""
    for i in range(len(tokens) - n + 1):
        yield " ".join(tokens[i : i + n])


class Decontaminate(Stage):
    """Removes records that overlap a benchmark by an ``ngram``-word sequence."""

    name: ClassVar[str] = "decontaminate"
    Config: ClassVar[type[Any]] = DecontaminateConfig

    def __init__(self, config: DecontaminateConfig) -> None:
        check_fields(config.fields, "$.filter.decontaminate.fields")
        if not config.benchmarks:
            raise UsageError("$.filter.decontaminate.benchmarks: name at least one benchmark file")
        self.config = config
        self.index: dict[int, str] = {}  # n-gram hash -> the benchmark it came from
        self.sizes: dict[str, int] = {}
        for name, file in config.benchmarks.items():
            path = Path(file)
            if not path.is_file():
                raise UsageError(f"$.filter.decontaminate.benchmarks.{name}: no such file: {file}")
            before = len(self.index)
            for text in benchmark_texts(path):
                for gram in ngrams(words(text), config.ngram):
                    self.index.setdefault(xxhash.xxh3_64_intdigest(gram.encode()), name)
            self.sizes[name] = len(self.index) - before
        self.hits: dict[str, int] = dict.fromkeys(config.benchmarks, 0)

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass the record, or name the benchmark and the shared n-gram."""
        for gram in ngrams(words(record_text(record, self.config.fields)), self.config.ngram):
            name = self.index.get(xxhash.xxh3_64_intdigest(gram.encode()))
            if name is not None:
                self.hits[name] += 1
                return Rejected("contaminated", {"benchmark": name, "ngram": gram})
        return record

    def report(self) -> dict[str, Any]:
        """Hits per benchmark, and how many distinct n-grams each contributed."""
        return {"hits": self.hits, "benchmark_ngrams": self.sizes}


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the decontaminate filter."""
    register(Decontaminate)
