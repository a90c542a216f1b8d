"""``exact_dedup``: drop a record whose normalised text (Unicode NFKC, case, whitespace) was seen before.

The chosen fields are normalised, joined and hashed with xxhash (XXH3, 64 bits); only the hashes are
kept, so memory grows by a few dozen bytes per distinct record. The first occurrence stays; a repeat is
removed with reason ``duplicate`` and the id of the record it repeats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import attrs
import xxhash

from datagen.plugin import Record, RegisterFilter, RunContext, hookimpl
from datagen_plugins.filters._text import FIELDS, check_fields, field_text, normalise

_SEPARATOR = "\x1f"  # between fields, so ("ab", "c") and ("a", "bc") differ


@attrs.define
class ExactDedupConfig:
    """Options of ``[filter.exact_dedup]``."""

    fields: list[str] = attrs.field(factory=lambda: list(FIELDS))
    normalize: bool = True


class ExactDedup:
    """Keeps the first of every group of records with the same (normalised) text."""

    name: ClassVar[str] = "exact_dedup"
    #: run on a run's personas (``[generate] personas``) unless ``persona_dedup`` names others: first
    dedups_personas: ClassVar[int] = 1
    #: the seed's flat ``QualityFilter`` switches that add this filter (last)
    seed_switches: ClassVar[tuple[str, ...]] = (
        "remove_duplicates",
        "duplicate_content",
        "dedup",
        "exact_dedup",
    )
    Config: ClassVar[type[Any]] = ExactDedupConfig
    #: its decisions depend on the records it saw before: a resumed pipeline shows it the rows of the
    #: row groups taken from checkpoints again
    remembers: ClassVar[bool] = True

    @classmethod
    def persona_options(cls, config: ExactDedupConfig) -> ExactDedupConfig:
        """``config`` for a run's personas: each one the ``output`` of a record."""
        return attrs.evolve(config, fields=["output"])

    def __init__(self, config: ExactDedupConfig) -> None:
        check_fields(config.fields, "$.filter.exact_dedup.fields")
        self.config = config
        self.seen: dict[int, str] = {}

    def key(self, record: Record) -> int:
        """The 64-bit hash of the record's chosen text."""
        texts = (field_text(record, f) for f in self.config.fields)
        joined = _SEPARATOR.join(normalise(t) if self.config.normalize else t for t in texts)
        return int(xxhash.xxh3_64_intdigest(joined.encode("utf-8")))

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Every record whose text has not been seen yet, in order."""
        seen = self.seen
        async for record in records:
            key = self.key(record)
            first = seen.get(key)
            if first is None:
                seen[key] = record.id
                yield record
            else:
                ctx.remove(record, "duplicate", duplicate_of=first)

    def report(self) -> dict[str, Any]:
        """Distinct texts seen."""
        return {"distinct": len(self.seen)}


@hookimpl
def datagen_register_filters(register: RegisterFilter) -> None:
    """Register the exact_dedup filter."""
    register(ExactDedup)
