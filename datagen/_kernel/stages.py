"""Pipeline stages: the filters and privacy mechanisms a run applies to its records, in order.

A stage is any plugin of a stage family (``filter``, ``privacy``, or one declared with stage lists in
:mod:`datagen._datamodel.families`): ``apply(ctx, records)`` takes an async
iterator of records and yields the ones that go on. A stage that removes a record says why with
``ctx.remove(record, reason)``; one that drops a record without a word is still counted (reason
``unexplained``) and the record still reaches the rejected file, so nothing disappears silently.

A stage may also say, from a sample of the records, that its options do not fit them (``advise(records)
-> list[str]``, optional): Gopher's 50-word minimum on one-line answers, say. The advice is logged once,
before a pass over a file starts and after the first records of a generation run.

A streaming stage yields in input order (that is how silently dropped records are found without holding
the stream). A stage that needs the whole dataset (global deduplication, differential privacy) sets the
class attribute ``whole_dataset = True``: the runner then gives it every record that survived the stages
before it, once generation has finished.
"""

from __future__ import annotations

import contextlib
from collections import Counter, deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from datagen._datamodel.families import FAMILIES
from datagen._datamodel.records import Record
from datagen._kernel.context import RemoveSink, RunContext

if TYPE_CHECKING:
    from datagen._datamodel.run import Run
    from datagen._kernel.manager import PluginManager

UNEXPLAINED = "unexplained"


@attrs.frozen
class Rejected:
    """What :meth:`Stage.process` returns for a record it removes."""

    reason: str
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define
class StageReport:
    """What one stage did: records examined, kept and removed, and why."""

    name: str
    family: str
    position: str
    whole_dataset: bool = False
    examined: int = 0
    kept: int = 0
    removed: int = 0
    reasons: Counter[str] = attrs.field(factory=Counter)
    #: what the plugin adds of its own (``report()``), e.g. entities found by type, budget spent
    details: dict[str, Any] = attrs.field(factory=dict)

    @property
    def retention(self) -> float | None:
        """Kept / examined; None when nothing came in."""
        return self.kept / self.examined if self.examined else None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run report."""
        return {
            "name": self.name,
            "family": self.family,
            "position": self.position,
            "whole_dataset": self.whole_dataset,
            "examined": self.examined,
            "kept": self.kept,
            "removed": self.removed,
            "retention": self.retention,
            "reasons": dict(self.reasons.most_common()),
            "details": self.details,
        }


class Stage:
    """A convenient base for per-record stages: implement :meth:`process`.

    ``process`` returns the record (possibly rewritten; keep its ``id``) to pass it on, or
    :class:`Rejected` with a reason to remove it.
    """

    whole_dataset: ClassVar[bool] = False

    def process(self, ctx: RunContext, record: Record) -> Record | Rejected:
        """Pass (or rewrite) ``record``, or reject it."""
        raise NotImplementedError

    async def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Every record through :meth:`process`, in order."""
        async for record in records:
            out = self.process(ctx, record)
            if isinstance(out, Rejected):
                ctx.remove(record, out.reason, **dict(out.details))
            else:
                yield out


#: how many records a stage's ``advise`` looks at
ADVICE_SAMPLE = 100

#: where removed records go: (record, stage report, reason, details)
RejectSink = Callable[[Record, StageReport, str, Mapping[str, Any]], None]


@attrs.define
class StageSpec:
    """A stage as configured: its family, where it runs, its name and the plugin instance."""

    family: str
    position: str
    name: str
    plugin: Any

    @property
    def whole_dataset(self) -> bool:
        """Whether the plugin asks for the whole dataset at once."""
        return bool(getattr(self.plugin, "whole_dataset", False))


class _Pending:
    """Records a stage has taken and not yet passed on or removed, in order, by id."""

    def __init__(self) -> None:
        self._items: dict[int, Record] = {}
        self._by_id: dict[str, list[int]] = {}
        #: sequence numbers in order, including some already taken (skipped when met): ``before`` looks
        #: only at the oldest, in O(1) each, where walking the dict would pass its deleted slots again
        self._order: deque[int] = deque()
        self._next = 0

    def add(self, record: Record) -> None:
        self._items[self._next] = record
        self._by_id.setdefault(record.id, []).append(self._next)
        self._order.append(self._next)
        self._next += 1

    def take(self, record_id: str) -> int | None:
        """Forget the oldest pending record with this id; its sequence number, or None."""
        seqs = self._by_id.get(record_id)
        if not seqs:
            return None
        seq = seqs.pop(0)
        if not seqs:
            del self._by_id[record_id]
        del self._items[seq]
        return seq

    def before(self, seq: int) -> list[Record]:
        """Take every pending record older than ``seq`` (a streaming stage dropped them silently)."""
        old = []
        items, order = self._items, self._order
        while order and order[0] < seq:
            s = order.popleft()
            record = items.pop(s, None)
            if record is None:  # passed on or removed already
                continue
            seqs = self._by_id[record.id]
            seqs.remove(s)
            if not seqs:
                del self._by_id[record.id]
            old.append(record)
        return old

    def rest(self) -> list[Record]:
        """Take everything still pending."""
        rest = list(self._items.values())
        self._items.clear()
        self._by_id.clear()
        self._order.clear()
        return rest


class Pipeline:
    """Runs configured stages over a stream of records, counting and routing every removal."""

    def __init__(
        self,
        run: Run,
        plugins: PluginManager,
        specs: Iterable[StageSpec],
        sink: RejectSink | None = None,
        llm_factory: Callable[[str | None, str | None], Any] | None = None,
    ) -> None:
        self.run = run
        self.plugins = plugins
        self.specs = list(specs)
        self.sink = sink
        self.llm_factory = llm_factory
        self.reports = [
            StageReport(s.name, s.family, s.position, whole_dataset=s.whole_dataset) for s in self.specs
        ]
        self._advised: set[int] = set()

    def advise(self, sample: list[Record], indexes: Iterable[int] | None = None) -> list[str]:
        """Ask each stage (at ``indexes``, default all) once whether its options fit records like
        ``sample``; log and return what they say."""
        said = []
        for i in range(len(self.specs)) if indexes is None else indexes:
            spec = self.specs[i]
            advise = getattr(spec.plugin, "advise", None)
            if i in self._advised or not sample:
                continue
            self._advised.add(i)  # asked once, or never for a stage without advice to give
            if not callable(advise):
                continue
            for advice in advise(sample):
                _stage_logger(spec).warning("stage_misfit", stage=spec.name, advice=advice)
                said.append(f"{spec.family} {spec.name}: {advice}")
        return said

    def _context(self, spec: StageSpec, sink: RemoveSink | None = None) -> RunContext:
        ctx = RunContext(
            run=self.run,
            plugins=self.plugins,
            stage=spec.name,
            position=spec.position,
            log=_stage_logger(spec),
            llm_factory=self.llm_factory,
        )
        if sink is not None:
            ctx.sink = sink
        return ctx

    def start(self) -> None:
        """Let each stage check what it needs before any work (``start(ctx)``, optional): a missing
        API key for a stage's backend is an error before the first record is generated."""
        for spec in self.specs:
            start = getattr(spec.plugin, "start", None)
            if callable(start):
                start(self._context(spec))

    def split(self, position: str) -> tuple[list[int], list[int]]:
        """Indexes of the stages at ``position``: the streaming head, and the tail from the first
        whole-dataset stage on (which runs after generation)."""
        idx = [i for i, s in enumerate(self.specs) if s.position == position]
        for n, i in enumerate(idx):
            if self.specs[i].whole_dataset:
                return idx[:n], idx[n:]
        return idx, []

    def chain(self, indexes: Iterable[int], records: AsyncIterator[Record]) -> AsyncGenerator[Record, None]:
        """``records`` through the stages at ``indexes``, in order."""
        # an async generator is closed by the first stage's feed; anything else gets one to close it
        stream: AsyncGenerator[Record, None] = (
            records if isinstance(records, AsyncGenerator) else _passthrough(records)
        )
        for i in indexes:
            stream = self._stage(i, stream)
        return stream

    def _remove(self, report: StageReport, record: Record, reason: str, details: Mapping[str, Any]) -> None:
        report.removed += 1
        if report.position == "outputs":
            self.run.stats.removed += 1
        report.reasons[reason] += 1
        if self.sink is not None:
            self.sink(record, report, reason, details)

    async def _stage(self, index: int, upstream: AsyncIterator[Record]) -> AsyncGenerator[Record, None]:
        spec, report = self.specs[index], self.reports[index]
        pending = _Pending()

        async def feed() -> AsyncGenerator[Record, None]:
            sample: list[Record] = []
            try:
                async for record in upstream:
                    report.examined += 1
                    pending.add(record)
                    if index not in self._advised:
                        sample.append(record)
                        if len(sample) >= ADVICE_SAMPLE:
                            self.advise(sample, [index])
                    yield record
                self.advise(sample, [index])
            finally:
                close = getattr(upstream, "aclose", None)
                if close is not None:
                    await close()  # closing a stage closes everything upstream, down to the method

        def on_remove(record: Record, _stage: str, reason: str, details: Mapping[str, Any]) -> None:
            pending.take(record.id)
            self._remove(report, record, reason, details)

        ctx = self._context(spec, on_remove)
        try:
            # the feed is closed here too, not left to the garbage collector: a plugin that stops
            # iterating its input does not close it, and everything upstream (down to the method's
            # requests in flight) must stop when this stage stops
            async with (
                contextlib.aclosing(feed()) as fed,
                contextlib.aclosing(spec.plugin.apply(ctx, fed)) as out,
            ):
                async for record in out:
                    seq = pending.take(record.id)
                    if seq is not None and not spec.whole_dataset:
                        for dropped in pending.before(seq):
                            self._remove(report, dropped, UNEXPLAINED, {})
                    report.kept += 1
                    yield record
            for dropped in pending.rest():
                self._remove(report, dropped, UNEXPLAINED, {})
        finally:
            extra = getattr(spec.plugin, "report", None)
            if callable(extra):
                report.details = dict(extra())

    def spent(self) -> dict[str, dict[str, float]]:
        """The privacy budget each stage of a budget-spending family (privacy) spent, by name (only
        those that spent any)."""
        out: dict[str, dict[str, float]] = {}
        for spec in self.specs:
            family = FAMILIES.get(spec.family)
            if family is not None and family.spends_budget:
                spent = dict(spec.plugin.spent())
                if spent:
                    out[spec.name] = spent
        return out


def _stage_logger(spec: StageSpec) -> Any:
    from datagen.log import get_logger

    return get_logger(f"datagen.{spec.family}.{spec.name}")


async def _passthrough(records: AsyncIterator[Record]) -> AsyncGenerator[Record, None]:
    try:
        async for record in records:
            yield record
    finally:
        close = getattr(records, "aclose", None)
        if close is not None:
            await close()


async def aiter_of(records: Iterable[Record]) -> AsyncGenerator[Record, None]:
    """An async iterator over a plain iterable."""
    for record in records:
        yield record
