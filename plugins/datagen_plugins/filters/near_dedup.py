"""``near_dedup``: MinHash + LSH near-duplicate removal (Broder 1997; Leskovec et al., "Mining of
Massive Datasets", ch. 3), vectorised with numpy.

Each record's text becomes a set of word n-gram shingles (``ngram`` words, 5 by default), hashed from
its words' xxhash values; ``num_perm`` hash permutations give its MinHash signature, whose equal
entries estimate the Jaccard similarity of two shingle sets. LSH cuts the signature into ``bands`` of
``rows``: records that agree on a whole band are candidates, and a candidate whose estimated Jaccard
reaches ``threshold`` is a near duplicate. Unless ``bands`` and ``rows`` are given they are chosen from
``threshold`` to minimise the expected false positives and negatives (equal weights).

``keep = "first"`` streams and keeps the first of each cluster; ``keep = "best"`` needs the whole
dataset and keeps, of each cluster, the record with the highest ``metadata[score_field]``. ``index`` (a
folder) persists the signatures and buckets, so a new batch is deduplicated against earlier ones too.
"""

from __future__ import annotations

import itertools
import os
import pickle
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import xxhash

from datagen.plugin import POSITIVE, Record, Register, RunContext, UsageError, bounded, hookimpl
from datagen_plugins.filters._text import FIELDS, check_fields, record_text, words

SHIFT = np.uint64(32)
#: records whose signatures are computed together (a streaming stage still yields them in order)
BATCH = 256
POLY = np.uint64(1_000_003)
MIX = np.uint64(0xFF51AFD7ED558CCD)
INDEX_FILE = "near_dedup.pkl"
INDEX_VERSION = 2


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


def _integrate(f: Any, low: float, high: float, steps: int = 200) -> float:
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


class MinHasher:
    """MinHash signatures of word n-gram shingle sets, ``num_perm`` permutations from ``seed``.

    A shingle's 32-bit hash ``x`` is permuted by multiply-shift hashing, ``((a * x + b) mod 2**64) >>
    32`` with random odd 64-bit ``a`` and random ``b`` (a 2-universal family: Dietzfelbinger et al.
    1997), which needs no modulo by a prime and so runs several times faster in numpy.
    """

    def __init__(self, num_perm: int, ngram: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        self.b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
        self.ngram = ngram
        self.num_perm = num_perm
        self._cache: dict[str, int] = {}

    def _word_hashes(self, tokens: list[str]) -> np.ndarray:
        cache = self._cache
        if len(cache) > 1_000_000:  # a bounded vocabulary cache
            cache.clear()
        values = list(map(cache.get, tokens))  # C-speed lookups; new words are hashed once below
        if None in values:
            for i, value in enumerate(values):
                if value is None:
                    token = tokens[i]
                    values[i] = cache[token] = xxhash.xxh64_intdigest(token.encode())
        return np.array(values, dtype=np.uint64)

    def signatures(self, texts: list[str]) -> np.ndarray:
        """The signatures of many texts at once: a (len(texts), num_perm) uint32 array.

        The n-grams of the whole batch are hashed in one pass over the concatenated word hashes (an
        n-gram never spans two texts), and each text's minimum taken with one ``reduceat``; repeated
        n-grams need no removal, since they cannot change a minimum."""
        if not texts:
            return np.empty((0, self.num_perm), dtype=np.uint32)
        token_lists = [words(t) or [""] for t in texts]
        lengths = np.fromiter((len(tl) for tl in token_lists), dtype=np.int64, count=len(texts))
        ids = self._word_hashes(list(itertools.chain.from_iterable(token_lists)))
        n = self.ngram
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        spans = np.minimum(lengths, n)  # a text shorter than n is one shingle of all its words
        grams_per_text = lengths - spans + 1
        # the first word of every n-gram, and how many words it has, text by text
        first = np.repeat(starts, grams_per_text) + (
            np.arange(int(grams_per_text.sum()))
            - np.repeat(np.cumsum(grams_per_text) - grams_per_text, grams_per_text)
        )
        width = np.repeat(spans, grams_per_text)
        with np.errstate(over="ignore"):  # wrapping modulo 2**64 is the point
            h = ids[first].copy()
            for k in range(1, n):
                more = width > k
                h[more] = h[more] * POLY + ids[first[more] + k]
            h ^= h >> np.uint64(33)
            h *= MIX
            h ^= h >> np.uint64(29)
            shingles = h >> SHIFT
            permuted = (np.multiply.outer(self.a, shingles) + self.b[:, None]) >> SHIFT
        gram_starts = np.concatenate(([0], np.cumsum(grams_per_text)[:-1]))
        mins = np.minimum.reduceat(permuted, gram_starts, axis=1)
        signatures: np.ndarray = mins.T.astype(np.uint32)
        return signatures

    def signature(self, text: str) -> np.ndarray:
        """The MinHash signature of one text (``num_perm`` uint32 values)."""
        signature: np.ndarray = self.signatures([text])[0]
        return signature


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> float:
    """The share of equal signature entries: an unbiased estimate of the Jaccard similarity."""
    return float(np.count_nonzero(a == b)) / len(a)


class NearDedup:
    """Drops near duplicates (``near_duplicate``, with the id it duplicates and the estimated Jaccard)."""

    name: ClassVar[str] = "near_dedup"
    Config: ClassVar[type[Any]] = NearDedupConfig

    def __init__(self, config: NearDedupConfig) -> None:
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
        self.hasher = MinHasher(config.num_perm, config.ngram, config.seed)
        self.tables: list[dict[bytes, list[int]]] = [{} for _ in range(self.bands)]
        self.signatures: list[np.ndarray] = []
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
        self.tables, self.signatures, self.ids = data["tables"], data["signatures"], data["ids"]
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
            "signatures": self.signatures,
            "ids": self.ids,
        }
        with open(tmp, "wb") as fh:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, folder / INDEX_FILE)

    # ------------------------------------------------------------------------------------------ lookup

    def _band_keys(self, signature: np.ndarray) -> list[bytes]:
        r = self.rows
        return [signature[i * r : (i + 1) * r].tobytes() for i in range(self.bands)]

    def match(self, signature: np.ndarray, keys: list[bytes]) -> tuple[int, float] | None:
        """The first indexed record this signature nearly duplicates, with the estimated Jaccard."""
        seen: set[int] = set()
        for table, key in zip(self.tables, keys, strict=True):
            for index in table.get(key, ()):
                if index in seen:
                    continue
                seen.add(index)
                score = jaccard_estimate(signature, self.signatures[index])
                if score >= self.config.threshold:
                    return index, score
        return None

    def add(self, record_id: str, signature: np.ndarray, keys: list[bytes]) -> int:
        """Index a kept record."""
        index = len(self.ids)
        self.ids.append(record_id)
        self.signatures.append(signature)
        for table, key in zip(self.tables, keys, strict=True):
            table.setdefault(key, []).append(index)
        return index

    # ------------------------------------------------------------------------------------------ stage

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Near duplicates of earlier records (or of the index) removed; with ``keep = "best"`` each
        cluster's best-scoring record kept."""
        if self.config.keep == "best":
            async for record in self._best(ctx, records):
                yield record
        else:
            batch: list[Record] = []
            async for record in records:
                batch.append(record)
                if len(batch) >= BATCH:
                    for kept in self._first(ctx, batch):
                        yield kept
                    batch = []
            for kept in self._first(ctx, batch):
                yield kept
        self.save()

    def _first(self, ctx: RunContext, batch: list[Record]) -> list[Record]:
        """Of a batch (signatures computed together), the records that duplicate nothing seen before."""
        kept = []
        signatures = self.hasher.signatures([record_text(r, self.config.fields) for r in batch])
        for record, signature in zip(batch, signatures, strict=True):
            keys = self._band_keys(signature)
            found = self.match(signature, keys)
            if found is None:
                self.add(record.id, signature, keys)
                kept.append(record)
            else:
                index, score = found
                ctx.remove(record, "near_duplicate", duplicate_of=self.ids[index], jaccard=round(score, 3))
        return kept

    async def _best(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        field = self.config.score_field
        kept: list[Record] = []
        position: dict[int, int] = {}  # index entry -> position in kept
        async for record in records:
            signature = self.hasher.signature(record_text(record, self.config.fields))
            keys = self._band_keys(signature)
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
def datagen_register_filters(register: Register) -> None:
    """Register the near_dedup filter."""
    register(NearDedup)
