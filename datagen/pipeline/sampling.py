"""The seed's sampling helper: a subset of a dataset, drawn at random, stratified by a field, or
stratified by length bucket, reproducibly (``seed``)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import Any

from datagen._datamodel.records import Record
from datagen._datamodel.results import Results
from datagen.errors import UsageError

STRATEGIES = ("random", "stratified", "length")


def _value(record: Record, field: str) -> Any:
    if field in {"instruction", "input", "output", "id"}:
        return getattr(record, field)
    if field not in record.metadata:
        raise UsageError(f"sample by {field!r}: record {record.id} has no such field or metadata key")
    return record.metadata[field]


def _length(record: Record) -> int:
    text = record.output if record.output is not None else record.prompt_text
    return len((text or "").split())


def _allocate(sizes: dict[Hashable, int], n: int) -> dict[Hashable, int]:
    """``n`` spread over the strata in proportion to their sizes (largest remainders), none above its
    size."""
    total = sum(sizes.values())
    exact = {k: n * v / total for k, v in sizes.items()}
    share = {k: min(sizes[k], int(x)) for k, x in exact.items()}
    left = n - sum(share.values())
    for key in sorted(sizes, key=lambda k: (exact[k] - int(exact[k]), sizes[k]), reverse=True):
        if left <= 0:
            break
        if share[key] < sizes[key]:
            share[key] += 1
            left -= 1
    return share


def sample_dataset(
    records: Results | Iterable[Record],
    n: int,
    *,
    strategy: str = "random",
    by: str | None = None,
    buckets: int = 4,
    seed: int = 0,
) -> Results:
    """``n`` records of ``records`` (all of them when there are fewer), in their original order.

    ``random``: a uniform sample. ``stratified``: every value of the field ``by`` (a record field or a
    metadata key) keeps its share of the dataset. ``length``: the same over ``buckets`` length
    quantiles of the answer (the prompt for records without one), so short and long examples keep
    their shares."""
    if strategy not in STRATEGIES:
        raise UsageError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if n < 0:
        raise UsageError(f"n must not be negative, got {n}")
    pool = list(records)
    if n >= len(pool):
        return Results(pool)
    rng = random.Random(seed)
    if strategy == "random":
        chosen = set(rng.sample(range(len(pool)), n))
        return Results(r for i, r in enumerate(pool) if i in chosen)
    if strategy == "stratified":
        if not by:
            raise UsageError("strategy 'stratified' needs by=FIELD")
        keys: list[Hashable] = [repr(_value(r, by)) for r in pool]
    else:
        lengths = [_length(r) for r in pool]
        ordered = sorted(lengths)
        edges = [ordered[min(len(ordered) - 1, len(ordered) * q // buckets)] for q in range(1, buckets)]
        keys = [sum(length >= edge for edge in edges) for length in lengths]
    strata: dict[Hashable, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        strata[key].append(i)
    share = _allocate({k: len(v) for k, v in strata.items()}, n)
    chosen = {i for key, members in strata.items() for i in rng.sample(members, share[key])}
    return Results(r for i, r in enumerate(pool) if i in chosen)


__all__ = ["STRATEGIES", "sample_dataset"]
