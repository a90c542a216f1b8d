"""``near_dedup``: MinHash + LSH near-duplicate removal (Broder 1997; Leskovec et al., "Mining of
Massive Datasets", ch. 3), vectorised with numpy.

Each record's text becomes a set of word n-gram shingles (``ngram`` words, 5 by default), hashed from
its words' hashes (computed in bulk over a batch's bytes); ``num_perm`` hash permutations give its
MinHash signature, whose equal entries estimate the Jaccard similarity of two shingle sets. LSH cuts the
signature into ``bands`` of ``rows``: records that agree on a whole band are near duplicates (as in
datasketch's ``MinHashLSH``, datatrove and text-dedup). Unless ``bands`` and ``rows`` are given they are
chosen from ``threshold`` to minimise the expected false positives and negatives (equal weights).
``verify = true`` also requires the estimated Jaccard to reach ``threshold``: fewer pairs under the
threshold removed, but about one pair in twenty just above it kept (the estimate's noise at 128
permutations).

``keep = "first"`` streams and keeps the first of each cluster; ``keep = "best"`` needs the whole
dataset and keeps, of each cluster, the record with the highest ``metadata[score_field]``. ``index`` (a
folder) persists the signatures and buckets, so a new batch is deduplicated against earlier ones too.
"""

from __future__ import annotations

import asyncio
import os
import pickle
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from datagen.plugin import (
    POSITIVE,
    CliOption,
    Record,
    RegisterFilter,
    RunContext,
    UsageError,
    bounded,
    hookimpl,
)
from datagen_plugins.filters._text import FIELDS, check_fields, record_text

if TYPE_CHECKING:
    import numpy as np

    from datagen_plugins.filters._minhash import Workers

#: records whose signatures are computed together (a streaming stage still yields them in order)
BATCH = 1024
INDEX_FILE = "near_dedup.pkl"
INDEX_VERSION = 4  # 4: words hashed in bulk (a polynomial hash), no longer with xxhash


@attrs.define
class NearDedupConfig:
    """Options of ``[filter.near_dedup]``."""

    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))
    ngram: int = attrs.field(default=5, validator=POSITIVE)
    num_perm: int = attrs.field(default=128, validator=bounded(2, high=1024))
    threshold: float = attrs.field(default=0.8, validator=bounded(above=0, high=1))
    bands: int | None = attrs.field(default=None, validator=POSITIVE)
    rows: int | None = attrs.field(default=None, validator=POSITIVE)
    keep: str = "first"
    score_field: str = "score"
    index: str | None = None
    seed: int = 1
    #: true: a bucket collision counts only when the estimated Jaccard also reaches ``threshold`` (less
    #: recall, more precision); false: any collision is a duplicate, as in datasketch's ``MinHashLSH``
    verify: bool = False
    workers: int = attrs.field(factory=lambda: min(2, os.cpu_count() or 1), validator=bounded(1, high=256))


def _integrate(f: Any, low: float, high: float, steps: int = 200) -> float:
    import numpy as np

    xs = np.linspace(low, high, steps)
    return float(np.trapezoid(f(xs), xs))


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The (bands, rows) with ``bands * rows <= num_perm`` that minimise the probability mass of false
    positives below ``threshold`` plus false negatives above it, under the LSH S-curve."""
    best, best_error = (1, num_perm), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integrate(lambda s, b=b, r=r: 1 - (1 - s**r) ** b, 0.0, threshold)
            fn = _integrate(lambda s, b=b, r=r: (1 - s**r) ** b, threshold, 1.0)
            error = 0.5 * fp + 0.5 * fn
            if error < best_error:
                best, best_error = (b, r), error
    return best


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> float:
    """The share of equal signature entries: an unbiased estimate of the Jaccard similarity."""
    return float((a == b).sum()) / len(a)


class NearDedup:
    """Drops near duplicates (``near_duplicate``, with the id it duplicates and the estimated Jaccard)."""

    name: ClassVar[str] = "near_dedup"
    #: run on a run's personas (``[generate] personas``) unless ``persona_dedup`` names others: second
    dedups_personas: ClassVar[int] = 2
    #: ``datagen generate`` / ``datagen filter --index DIR`` sets ``[filter.near_dedup] index``
    cli_options: ClassVar[tuple[CliOption, ...]] = (
        CliOption(
            "--index",
            "index",
            "near_dedup's persistent index folder: deduplicate against earlier runs too.",
            "dir",
        ),
    )
    Config: ClassVar[type[Any]] = NearDedupConfig
    #: its decisions depend on the records it saw before: a resumed pipeline shows it the rows of the
    #: row groups taken from checkpoints again
    remembers: ClassVar[bool] = True
    #: ``groups(texts)`` clusters near duplicates (leak-free splits of ``datagen export --split``)
    groups_near_duplicates: ClassVar[bool] = True

    @classmethod
    def persona_options(cls, config: NearDedupConfig) -> NearDedupConfig:
        """``config`` for a run's personas (each the ``output`` of a record, one sentence): word sets,
        not five-word shingles, which miss a copy with one word changed (Persona Hub's MinHash used single
        words too); 16 bands x 8 rows, which find a pair at Jaccard 0.85 with probability 0.99 (the
        default split for 0.8, 9 x 13, missed three of three one-word edits of one-sentence personas),
        the candidates under the threshold dropped by ``verify``; no persistent index; the first kept."""
        return attrs.evolve(
            config, fields=["output"], ngram=1, bands=16, rows=8, verify=True, index=None, keep="first"
        )

    def __init__(self, config: NearDedupConfig) -> None:
        import numpy as np

        check_fields(config.fields, "$.filter.near_dedup.fields")
        if config.keep not in {"first", "best"}:
            raise UsageError(f"$.filter.near_dedup.keep: expected 'first' or 'best', got {config.keep!r}")
        if (config.bands is None) != (config.rows is None):
            raise UsageError("$.filter.near_dedup: give both bands and rows, or neither")
        if (
            config.bands is not None
            and config.rows is not None
            and config.bands * config.rows > config.num_perm
        ):
            raise UsageError("$.filter.near_dedup: bands * rows must not exceed num_perm")
        self.config = config
        self.whole_dataset = config.keep == "best"
        if config.bands is not None and config.rows is not None:
            self.bands, self.rows = config.bands, config.rows
        else:
            self.bands, self.rows = optimal_bands(config.threshold, config.num_perm)
        from datagen_plugins.filters._minhash import MinHasher

        self.hasher = MinHasher(config.num_perm, config.ngram, config.seed)
        mix = np.random.default_rng(config.seed + 1).integers(0, 2**63, size=self.rows, dtype=np.uint64)
        self._band_mix = mix * np.uint64(2) + np.uint64(1)
        # bucket key -> the indexed record (an int), or several (a list): most buckets hold one, and
        # a list per bucket would double the index's memory
        self.tables: list[dict[int, int | list[int]]] = [{} for _ in range(self.bands)]
        self._signatures = np.empty((0, config.num_perm), dtype=np.uint32)  # rows; grown by doubling
        self.ids: list[str] = []
        self.from_index = 0
        if config.index is not None:
            self._load(Path(config.index))

    # ------------------------------------------------------------------------------------------ index

    def _params(self) -> tuple[Any, ...]:
        c = self.config
        return (INDEX_VERSION, c.num_perm, c.ngram, c.seed, self.bands, self.rows, tuple(c.fields))

    def _load(self, folder: Path) -> None:
        path = folder / INDEX_FILE
        if not path.is_file():
            return
        with open(path, "rb") as fh:
            data = pickle.load(fh)  # datagen's own index file
        if data.get("params") != self._params():
            raise UsageError(
                f"{path}: this index was built with other near_dedup settings {data.get('params')}; "
                "use another --index folder or the same settings"
            )
        self.tables, self._signatures, self.ids = data["tables"], data["signatures"], data["ids"]
        self.from_index = len(self.ids)

    def save(self) -> None:
        """Write the index (through a temporary file renamed into place)."""
        if self.config.index is None:
            return
        folder = Path(self.config.index)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{INDEX_FILE}.{os.getpid()}.tmp"
        data = {
            "params": self._params(),
            "tables": self.tables,
            "signatures": self._signatures[: len(self.ids)],
            "ids": self.ids,
        }
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, folder / INDEX_FILE)

    # ------------------------------------------------------------------------------------------ lookup

    def band_keys(self, signatures: np.ndarray) -> list[list[int]]:
        """Each signature's LSH bucket keys, one per band: a 64-bit hash of the band's ``rows`` values
        (a collision only adds a candidate, which the Jaccard estimate then rejects)."""
        rows: list[list[int]] = self._key_matrix(signatures).tolist()
        return rows

    def _key_matrix(self, signatures: np.ndarray) -> np.ndarray:
        import numpy as np

        r, b = self.rows, self.bands
        bands = signatures[:, : b * r].reshape(len(signatures), b, r).astype(np.uint64)
        with np.errstate(over="ignore"):
            keys: np.ndarray = (bands * self._band_mix).sum(axis=2, dtype=np.uint64)
        return keys

    def buckets(self, keys: list[int]) -> list[int | list[int] | None]:
        """What each band's table holds under the signature's key (None for an empty bucket)."""
        return list(map(dict.get, self.tables, keys))  # one C-level loop: most records hit nothing

    def match(self, signature: np.ndarray, keys: list[int]) -> tuple[int, float] | None:
        """The first indexed record this signature nearly duplicates, with the estimated Jaccard."""
        seen: set[int] = set()
        for found in self.buckets(keys):
            for index in (found,) if isinstance(found, int) else found or ():
                if index in seen:
                    continue
                seen.add(index)
                score = jaccard_estimate(signature, self._signatures[index])
                if score >= self.config.threshold or not self.config.verify:
                    return index, score
        return None

    def add(self, record_id: str, signature: np.ndarray, keys: list[int]) -> int:
        """Index a kept record."""
        index = len(self.ids)
        if index == len(self._signatures):
            import numpy as np

            grown = np.empty((max(1024, 2 * index), self.config.num_perm), dtype=np.uint32)
            grown[:index] = self._signatures
            self._signatures = grown
        self._signatures[index] = signature
        self.ids.append(record_id)
        for table, key in zip(self.tables, keys, strict=True):
            found = table.setdefault(key, index)
            if found != index:
                if isinstance(found, int):
                    table[key] = [found, index]
                else:
                    found.append(index)
        return index

    def groups(self, texts: list[str]) -> list[int]:
        """A cluster number per text: texts that share an LSH bucket, directly or through others, are in
        one cluster (numbered by its first text), the transitive closure that a split must keep whole."""
        parent = list(range(len(texts)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for start in range(0, len(texts), BATCH):
            batch = texts[start : start + BATCH]
            keys = self._key_matrix(self.hasher.signatures(batch)).tolist()
            for offset, row in enumerate(keys):
                i = start + offset
                for table, key in zip(self.tables, row, strict=True):
                    first = table.setdefault(key, i)
                    if isinstance(first, int) and first != i:
                        a, b = root(first), root(i)
                        if a != b:
                            parent[max(a, b)] = min(a, b)
        return [root(i) for i in range(len(texts))]

    # ------------------------------------------------------------------------------------------ stage

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Near duplicates of earlier records (or of the index) removed; with ``keep = "best"`` each
        cluster's best-scoring record kept."""
        if self.config.keep == "best":
            async for record in self._best(ctx, records):
                yield record
            self.save()
            return
        # with workers > 1, signatures are computed in worker processes (started at the first full
        # batch, so a small run starts none) while this one matches batches against the index in order
        pending: deque[tuple[list[Record], asyncio.Task[np.ndarray]]] = deque()
        workers: Workers | None = None
        try:
            batch: list[Record] = []
            async for record in records:
                batch.append(record)
                if len(batch) < BATCH:
                    continue
                if self.config.workers == 1:
                    for kept in self._first(ctx, batch, self._sign(batch)):
                        yield kept
                else:
                    if workers is None:
                        c = self.config
                        from datagen_plugins.filters._minhash import Workers

                        workers = Workers(c.workers, c.num_perm, c.ngram, c.seed)
                        await workers.start()
                    texts = [record_text(r, self.config.fields) for r in batch]
                    pending.append((batch, asyncio.create_task(workers.signatures(texts))))
                    if len(pending) > self.config.workers:
                        done, task = pending.popleft()
                        for kept in self._first(ctx, done, await task):
                            yield kept
                batch = []
            while pending:
                done, task = pending.popleft()
                for kept in self._first(ctx, done, await task):
                    yield kept
            for kept in self._first(ctx, batch, self._sign(batch)):
                yield kept
        finally:
            for _, task in pending:
                task.cancel()
            if workers is not None:
                await workers.close()
        self.save()

    def _sign(self, batch: list[Record]) -> np.ndarray:
        signatures: np.ndarray = self.hasher.signatures([record_text(r, self.config.fields) for r in batch])
        return signatures

    def _first(self, ctx: RunContext, batch: list[Record], signatures: np.ndarray) -> list[Record]:
        """Of a batch, the records that duplicate nothing seen before, in order.

        Most records share no bucket with the index nor with an earlier record of the batch: those are
        found for the whole batch at once (one C-level pass per band over the tables, and ``np.unique``
        per band for the batch itself) and indexed together. Since none of them shares a bucket with any
        earlier record, indexing them first changes no other record's outcome; the rest are matched
        one by one in order."""
        import numpy as np

        if not batch:
            return []
        matrix = self._key_matrix(signatures)
        n = len(batch)
        columns = matrix.T.tolist()
        collides = np.zeros(n, dtype=bool)
        positions = np.arange(n)
        for table, column, keys in zip(self.tables, columns, matrix.T, strict=True):
            collides |= np.fromiter(map(table.__contains__, column), dtype=bool, count=n)
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            collides |= first[inverse.reshape(-1)] != positions  # a key an earlier record of the batch has
        fresh = np.flatnonzero(~collides)
        if len(fresh):
            chosen = fresh.tolist()
            self._add_many(batch, signatures, fresh, [[column[i] for i in chosen] for column in columns])
        keep = ~collides
        rows = matrix.tolist()
        for i in np.flatnonzero(collides).tolist():
            record, signature = batch[i], signatures[i]
            found = self.match(signature, rows[i])
            if found is None:
                self.add(record.id, signature, rows[i])
                keep[i] = True
            else:
                index, score = found
                ctx.remove(record, "near_duplicate", duplicate_of=self.ids[index], jaccard=round(score, 3))
        return [batch[i] for i in np.flatnonzero(keep).tolist()]

    def _add_many(
        self, batch: list[Record], signatures: np.ndarray, chosen: np.ndarray, columns: list[list[int]]
    ) -> None:
        """Index the ``chosen`` records of a batch, none of whose buckets is taken."""
        import numpy as np

        start, count = len(self.ids), len(chosen)
        if start + count > len(self._signatures):
            grown = np.empty((max(1024, 2 * (start + count)), self.config.num_perm), dtype=np.uint32)
            grown[:start] = self._signatures[:start]
            self._signatures = grown
        self._signatures[start : start + count] = signatures[chosen]
        self.ids.extend(batch[i].id for i in chosen.tolist())
        indexes = range(start, start + count)
        for table, column in zip(self.tables, columns, strict=True):
            table.update(zip(column, indexes, strict=True))

    async def _best(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        field = self.config.score_field
        kept: list[Record] = []
        position: dict[int, int] = {}  # index entry -> position in kept
        async for record in records:
            signature = self.hasher.signature(record_text(record, self.config.fields))
            keys = self.band_keys(signature[None, :])[0]
            found = self.match(signature, keys)
            if found is None:
                position[self.add(record.id, signature, keys)] = len(kept)
                kept.append(record)
                continue
            index, score = found
            at = position.get(index)
            if at is not None and _score(record, field) > _score(kept[at], field):
                loser, kept[at] = kept[at], record
                self.ids[index] = record.id
            else:
                loser = record
            ctx.remove(loser, "near_duplicate", duplicate_of=self.ids[index], jaccard=round(score, 3))
        for record in kept:
            yield record

    def report(self) -> dict[str, Any]:
        """Settings used and the size of the index."""
        return {
            "bands": self.bands,
            "rows": self.rows,
            "indexed": len(self.ids),
            "from_earlier_runs": self.from_index,
        }


def _score(record: Record, field: str) -> float:
    value = record.metadata.get(field)
    return float(value) if isinstance(value, (int, float)) else float("-inf")


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the near_dedup filter."""
    register(NearDedup)
