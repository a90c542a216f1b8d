"""Running a checked pipeline: row groups through the steps in run order, a checkpoint per step and
group, the rejects table, the run report.

Rows flow one row group at a time (``row_group`` rows); within a group each step sees every row, the
requests of an LLM column in flight together behind the engine's limiter. When a step finishes a group
its output is committed as Parquet (``.checkpoints/NN-STEP/GROUP.FINGERPRINT.parquet`` in the run
directory, or in the store ``[executor] checkpoints`` names: see :mod:`.store`) through a temporary
file moved into place. A rerun starts each group after its last committed step whose
fingerprint still matches, so after ``kill -9`` no row is lost or repeated and only the requests of
the group in flight are sent again (fewer: the response cache has the answers that arrived)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from datagen._app.pipefile.check import check, plugin_names, with_overrides
from datagen._app.pipefile.graph import digest, file_digest, fingerprints
from datagen._app.pipefile.sources import file_rows
from datagen._app.pipefile.spec import (
    LLMStep,
    Loaded,
    MethodStep,
    OutputSpec,
    SamplerStep,
    SourceSpec,
    StageStep,
    TemplateStep,
    load,
)
from datagen._app.pipefile.store import Checkpoints, open_store, step_folder
from datagen._datamodel.config import DatagenConfig, converter, deep_merge, structure
from datagen._datamodel.results import temporary_path
from datagen._datamodel.run import Run
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen.errors import BudgetExhausted, ConfigError, UsageError

if TYPE_CHECKING:
    from datagen._app.pipefile.steps import MethodRows, Models, Reject, Row, StepRun


#: the counters of each step, and of the whole run, under the keys ``plan --json`` uses
COUNTERS = ("requests", "cached", "input_tokens", "output_tokens", "cost_usd", "seconds")


@attrs.define
class Prepared:
    """A pipeline file checked and ready: its config, plugins, run order and fingerprints."""

    loaded: Loaded
    config: DatagenConfig
    plugins: PluginManager
    order: list[int]
    fingerprints: list[str]
    source_fingerprint: str

    @property
    def steps(self) -> list[Any]:
        """The steps in run order."""
        return [self.loaded.spec.steps[i] for i in self.order]


def effective_config(base: DatagenConfig, loaded: Loaded) -> DatagenConfig:
    """``base`` (the user's config) with the file's ``config`` keys on top."""
    if not loaded.spec.config:
        return base
    raw = deep_merge(converter.unstructure(base), loaded.spec.config)
    try:
        return structure(raw, DatagenConfig, path="$.config")
    except ConfigError as exc:
        raise loaded.located(list(exc.problems)) from None


def prepare(
    path: str | os.PathLike[str] | Loaded,
    *,
    config: DatagenConfig | None = None,
    plugins: PluginManager | None = None,
    overrides: dict[str, Any] | None = None,
    only_named: bool = False,
) -> Prepared:
    """Load and check a pipeline file; every problem at once, each with its file:line:column. With
    ``only_named`` (``validate``) only the built-in plugins the file names are loaded."""
    from datagen._datamodel.config import load_config

    loaded = path if isinstance(path, Loaded) else load(Path(path))
    cfg = effective_config(config or load_config(), loaded)
    if plugins is None:
        names = plugin_names(loaded)
        plugins = load_plugins_for(cfg, builtins=(lambda n: n in names) if only_named else True)
    with_overrides(loaded, overrides or {}, plugins)
    checked = check(loaded, cfg, plugins)
    if checked.problems and only_named:  # name every plugin installed in the errors, not only these
        checked = check(loaded, cfg, load_plugins_for(cfg))
    problems = [*loaded.problems, *(p for p in checked.problems if p not in loaded.problems)]
    if problems:
        raise loaded.located(problems)
    spec = loaded.spec
    sources = {
        name: {
            **attrs.asdict(s),
            "file": file_digest(loaded.resolve(s.path)) if s.path else None,
            "personas_file": file_digest(loaded.resolve(s.personas)) if s.personas else None,
        }
        for name, s in spec.sources.items()
    }
    base = digest([sources, spec.rows, spec.row_group, spec.seed, output_settings(cfg)])
    models = {name: attrs.asdict(m) for name, m in spec.models.items()}
    return Prepared(
        loaded, cfg, plugins, checked.order, fingerprints(loaded, checked.order, models, base), base
    )


def output_settings(config: DatagenConfig) -> dict[str, Any]:
    """The parts of the effective config that can change what a step writes (sampling, backends,
    methods, stage options...), secrets masked: how requests are sent (``engine``), where answers are
    cached, how logs look and where the row groups run (``executor``) are left out, so changing them
    reuses every checkpoint (a run resumes under another executor)."""
    from datagen._datamodel.config import unstructure_masked

    data: dict[str, Any] = unstructure_masked(config)
    skip = {"engine", "cache", "logging", "plugins", "executor"}
    return {k: v for k, v in data.items() if k not in skip}


# ---------------------------------------------------------------------------------------------- sources


def groups(prepared: Prepared, *, limit: int | None = None) -> Iterator[tuple[int, Callable[[Run], Any]]]:
    """``(group index, rows maker)`` for every row group: file rows are read as they come, a method's
    rows are made only when a group needs them (an async maker, given the run whose budget it spends)."""
    spec = prepared.loaded.spec
    size = spec.row_group
    cap = min(x for x in (spec.rows, limit) if x is not None) if (spec.rows or limit) else None
    methods = {n: s for n, s in spec.sources.items() if s.method}
    if methods:  # (check: a file refuses to mix them with file sources)
        index, left = 0, cap
        for name, source in methods.items():
            count = min(source.count or 0, left) if left is not None else source.count or 0
            left = None if left is None else left - count
            for g in range(math.ceil(count / size)):
                n = min(size, count - g * size)
                yield index, _method_maker(prepared, name, source, g, n)
                index += 1
        return
    if not spec.sources:
        total = cap or 0
        for g in range(math.ceil(total / size)):
            rows = [{"id": f"row-{i:06d}"} for i in range(g * size, min(total, (g + 1) * size))]
            yield g, _constant(rows)
        return
    chunk: list[Row] = []
    g = 0
    seen = 0
    for name, source in spec.sources.items():
        for row in file_rows(prepared.loaded, name, source):
            if cap is not None and seen >= cap:
                break
            chunk.append(row)
            seen += 1
            if len(chunk) == size:
                yield g, _constant(chunk)
                chunk, g = [], g + 1
    if chunk:
        yield g, _constant(chunk)


def _constant(rows: list[Row]) -> Callable[[Run], Any]:
    async def make(run: Run) -> list[Row]:
        return rows

    return make


def _method_maker(prepared: Prepared, name: str, source: SourceSpec, g: int, n: int) -> Callable[[Run], Any]:
    async def make(run: Run) -> MethodRows:
        from datagen._app.pipefile.steps import run_method
        from datagen._datamodel.seeds import to_seeds
        from datagen._kernel.capabilities import default_seeds

        assert source.method is not None
        seeds = (
            prepared.loaded.resolve(source.seeds)
            if source.seeds
            else default_seeds(prepared.plugins, source.method)
        )
        first = g * prepared.loaded.spec.row_group
        return await run_method(
            prepared, name=name, method=source.method, options=source.options, model_name=source.model,
            seeds=to_seeds(seeds), count=n, group=g, row_id=lambda k: f"{name}-{first + k:06d}", spend=run,
            personas=prepared.loaded.resolve(source.personas) if source.personas else None,
        )  # fmt: skip

    return make


# ---------------------------------------------------------------------------------------------------- run


@attrs.define
class StepTotals:
    """What one step did over the whole run."""

    name: str
    kind: str
    rows_in: int = 0
    rows_out: int = 0
    groups_computed: int = 0
    groups_resumed: int = 0
    removed: dict[str, int] = attrs.field(factory=dict)
    counters: dict[str, float] = attrs.field(factory=lambda: dict.fromkeys(COUNTERS, 0))
    #: an LLM step's requests in flight at once, as its engine last allowed (None for other steps)
    concurrency: int | None = None
    #: ... and how its engine charged a token limit (``reserved`` or ``used``; None for other steps)
    token_charge: str | None = None
    #: a method's own figures (``RunReport.method_details``: a preference judge's tie rate, ...), one
    #: entry per row group, in the order the groups finished
    method_details: list[dict[str, Any]] = attrs.field(factory=list)

    def add(self, meta: dict[str, Any], resumed: bool) -> None:
        """Count one group's checkpoint metadata."""
        self.rows_in += meta["rows_in"]
        self.rows_out += meta["rows_out"]
        if resumed:
            self.groups_resumed += 1
        else:
            self.groups_computed += 1
        for item in meta["rejects"]:
            self.removed[item["reason"]] = self.removed.get(item["reason"], 0) + 1
        for item in meta.get("method_rejections", ()):  # candidates a method source gave up on
            self.removed[item["reason"]] = self.removed.get(item["reason"], 0) + item["details"]["count"]
        if meta.get("concurrency"):
            self.concurrency = meta["concurrency"]
        if meta.get("token_charge"):
            self.token_charge = meta["token_charge"]
        if meta.get("method_details"):  # a method's own figures, group by group
            self.method_details.append({"group": meta["group"], **meta["method_details"]})
        if not resumed:  # what this run spent: a resumed group's requests were paid before
            for key in COUNTERS:
                self.counters[key] += meta["counters"].get(key, 0) or 0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the report."""
        return {
            "name": self.name,
            "kind": self.kind,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "groups_computed": self.groups_computed,
            "groups_resumed": self.groups_resumed,
            "removed": dict(sorted(self.removed.items())),
            "concurrency": self.concurrency,
            **({"token_charge": self.token_charge} if self.token_charge else {}),
            **({"method_details": self.method_details} if self.method_details else {}),
            **{k: round(v, 6) if k in {"cost_usd", "seconds"} else int(v) for k, v in self.counters.items()},
        }


def snapshot(run: Run) -> dict[str, float]:
    """The run's counters now, under the report's keys."""
    stats = run.stats
    return {
        "requests": stats.requests,
        "cached": stats.cached,
        "input_tokens": stats.usage.prompt_tokens,
        "output_tokens": stats.usage.completion_tokens,
        "cost_usd": stats.usage.cost_usd or 0.0,
        "seconds": time.monotonic(),
    }


def make_step(prepared: Prepared, step: Any, run: Run, models: Models) -> StepRun:
    """The runnable form of a step."""
    from datagen._app.pipefile.steps import Condition, LLMColumn, MethodRun, Sampler, StageRun, Template

    if isinstance(step, SamplerStep):
        return Sampler(step, prepared.loaded)
    if isinstance(step, LLMStep):
        return LLMColumn(step, models)
    if isinstance(step, TemplateStep):
        return Template(step)
    if isinstance(step, MethodStep):
        return MethodRun(step, prepared, run)
    if isinstance(step, StageStep):
        cls = prepared.plugins.registry(step.family).get(step.plugin)
        options = structure(step.options, cls.Config)
        return StageRun(step, cls(options), run, prepared.plugins)
    return Condition(step)


@attrs.define
class Outcome:
    """What a run produced: the kept rows (previews) or the files written, and the report."""

    rows: list[Row]
    rejects: list[Reject]
    report: dict[str, Any]


@attrs.define
class _Groups:
    """The state of one run over the row groups: the steps, their totals, the removals."""

    prepared: Prepared
    #: where the checkpoints are committed (None: a preview or a plan, which commits nothing)
    store: Checkpoints | None
    run: Run
    runners: list[StepRun]
    totals: list[StepTotals]
    rejects: list[Reject] = attrs.field(factory=list)
    #: the counts of a generation-method source (None when the rows come from files or samplers)
    source_totals: StepTotals | None = None

    def every_total(self) -> list[StepTotals]:
        """The source's counts (a generation method's) and each step's, in run order."""
        return ([self.source_totals] if self.source_totals else []) + self.totals

    def charge(self, meta: dict[str, Any]) -> None:
        """A resumed checkpoint's tokens and cost, counted against the run's budget."""
        from datagen._app.pipefile.steps import charge

        charge(self.run, meta["counters"])

    def committed(self, group: int) -> int:
        """The last step whose checkpoint of ``group`` matches, counting only an unbroken run from the
        first step (a missing one in between means the ones after it are stale); -1 if none."""
        done = -1
        if self.store is None:
            return done
        for k in range(len(self.prepared.steps)):
            if not self.store.has(self.step_key(k, group)):
                break
            done = k
        return done

    async def resume(self, group: int, done: int, before: int | None = None) -> tuple[list[Row], int]:
        """A group's rows after step ``done`` from its checkpoint, the counts of the steps up to it, the
        steps that remember shown their kept rows again; returns the rows and the group's source rows.
        ``before``: the last step committed before this run (-1: only a method source's rows, -2:
        nothing), when workers committed the rest in this run: those steps count as run, not resumed."""
        before = done if before is None else before
        assert self.store is not None
        table: list[Row] = []
        group_rows = 0
        if self.source_totals is not None and self.has_source(group):
            meta = self.store.read(self.source_key(group), rows=False)[1]
            self.source_totals.add(meta, resumed=before >= -1)
            self.charge(meta)
        for k in range(done + 1):
            rows, meta = self.store.read(self.step_key(k, group), rows=k == done or self.runners[k].remembers)
            if self.runners[k].remembers:
                await self.runners[k].replay(rows)
            self.totals[k].add(meta, resumed=k <= before)
            self.charge(meta)
            self.rejects.extend(meta["rejects"])
            if k == 0:
                group_rows = meta["rows_in"]
            if k == done:
                table = rows
        return table, group_rows

    async def source(self, group: int, make: Callable[[Run], Any]) -> list[Row]:
        """A group's source rows: read as they come from files, or made by a generation method, whose
        output is committed like a step's (``.checkpoints/source``) and counted as the source."""
        made = await make(self.run)
        from datagen._app.pipefile.steps import MethodRows

        if not isinstance(made, MethodRows):
            return list(made)
        meta = {
            "fingerprint": self.prepared.source_fingerprint,
            "step": "source",
            "group": group,
            "rows_in": len(made.rows),
            "rows_out": len(made.rows),
            "rejects": [],
            "method_rejections": made.rejected,
            "method_details": made.details,
            "counters": made.counters,
        }
        if self.store is not None:
            self.store.commit(self.source_key(group), made.rows, meta)
        assert self.source_totals is not None
        self.source_totals.add(meta, resumed=False)
        return made.rows

    def step_key(self, position: int, group: int) -> str:
        """The key of ``group``'s checkpoint after the step at ``position``."""
        folder = step_folder(position, self.prepared.steps[position].name)
        return Checkpoints.key(folder, group, self.prepared.fingerprints[position])

    def source_key(self, group: int) -> str:
        """The key of a method source's rows of ``group``."""
        return Checkpoints.key("source", group, self.prepared.source_fingerprint)

    def has_source(self, group: int) -> bool:
        """Whether a method source's rows of ``group`` are committed."""
        return (
            self.source_totals is not None
            and self.store is not None
            and self.store.has(self.source_key(group))
        )

    def committed_source(self, group: int) -> list[Row] | None:
        """A method source's committed rows of ``group``, if any."""
        if self.store is None or self.source_totals is None or not self.has_source(group):
            return None
        rows, meta = self.store.read(self.source_key(group))
        self.source_totals.add(meta, resumed=True)
        self.charge(meta)
        return rows

    async def advance(self, group: int, table: list[Row], start: int, stop: int | None = None) -> list[Row]:
        """``table`` through the steps from ``start`` on (up to ``stop``), each group's output committed."""
        steps = self.prepared.steps
        for k in range(start, len(steps) if stop is None else stop):
            before = snapshot(self.run)
            runner = self.runners[k]
            kept, removed = await runner.apply(table) if table else ([], [])
            after = snapshot(self.run)
            meta = {
                "fingerprint": self.prepared.fingerprints[k],
                "step": steps[k].name,
                "group": group,
                "rows_in": len(table),
                "rows_out": len(kept),
                "rejects": removed,
                "counters": {key: after[key] - before[key] + runner.spent.get(key, 0) for key in COUNTERS},
                "method_rejections": runner.gave_up,
                "method_details": runner.details,
                "concurrency": runner.concurrency,
                "token_charge": runner.token_charge,
            }
            if self.store is not None:
                self.store.commit(self.step_key(k, group), kept, meta)
            self.totals[k].add(meta, resumed=False)
            self.rejects.extend(removed)
            table = kept
        return table


def _start(prepared: Prepared, out: Path | None) -> tuple[_Groups, Models]:
    """A run's state over the row groups (its runners not made yet) and its models."""
    from datagen._app.pipefile.steps import Models

    spec = prepared.loaded.spec
    run = Run(
        config=prepared.config, method="pipeline", backend="", model=None, count=spec.rows or 0, out=out
    )
    models = Models(run, prepared.plugins, spec.models)
    steps = prepared.steps
    totals = [StepTotals(s.name, s.kind if not isinstance(s, StageStep) else s.family) for s in steps]
    store = open_store(out, checkpoints_location(prepared.config)) if out is not None else None
    state = _Groups(prepared, store, run, [], totals)
    if any(s.method for s in spec.sources.values()):
        state.source_totals = StepTotals("source", "method")
    return state, models


def checkpoints_location(config: DatagenConfig) -> str | None:
    """``[executor] checkpoints``: where the checkpoints go (None: the run directory's ``.checkpoints``)."""
    location: str | None = getattr(config.section("executor"), "checkpoints", None)
    return location


def shared_steps(prepared: Prepared) -> int:
    """How many steps, from the first, a worker may run on its row groups alone: those before the first
    step that remembers rows across groups (a dedup filter), which sees every group in one process."""
    for k, step in enumerate(prepared.steps):
        if isinstance(step, StageStep):
            cls = prepared.plugins.registry(step.family).get(step.plugin)
            if getattr(cls, "remembers", False):
                return k
    return len(prepared.steps)


def group_ids(prepared: Prepared) -> list[int]:
    """Every row group's index."""
    return [g for g, _ in groups(prepared)]


def pending_groups(prepared: Prepared, out: Path) -> dict[int, int]:
    """The row groups whose checkpoint of the last step a worker may run (or, when it may run none, of
    a method source) is not committed in ``out``, each with the last step it has committed (-1: only a
    method source's rows, -2: nothing)."""
    upto = shared_steps(prepared)
    state, _ = _start(prepared, out)
    if upto == 0 and state.source_totals is None:
        return {}  # file rows: nothing a worker can do ahead of the steps that remember
    pending = {}
    for g in group_ids(prepared):
        done = state.committed(g)
        if done < 0:
            done = -1 if state.has_source(g) else -2
        if done < upto - 1 or (upto == 0 and done == -2):
            pending[g] = done
    return pending


class Committer:
    """A worker's part of a run: row groups through the steps a worker may run (:func:`shared_steps`;
    a method source's rows when none), each committed to ``out``. One per worker: its engines (their
    connections, their share of a rate limit) serve every call of :meth:`commit` until :meth:`aclose`.
    """

    def __init__(self, prepared: Prepared, out: Path) -> None:
        self.prepared = prepared
        self.upto = shared_steps(prepared)
        self.state, self.models = _start(prepared, out)

    async def commit(self, only: set[int]) -> list[int]:
        """Commit row groups ``only`` (one found committed is skipped); returns those computed here."""
        state, upto = self.state, self.upto
        if not state.runners:
            steps = self.prepared.steps[:upto]
            state.runners = [make_step(self.prepared, s, state.run, self.models) for s in steps]
        computed: list[int] = []
        for g, make in groups(self.prepared):
            if g not in only:
                continue
            if upto == 0:  # only a method source's rows to make
                if state.source_totals is not None and not state.has_source(g):
                    await state.source(g, make)
                    computed.append(g)
                continue
            done = state.committed(g)
            if done >= upto - 1:
                continue
            if done >= 0:
                table, _ = await state.resume(g, done)
            else:
                committed = state.committed_source(g)
                table = committed if committed is not None else await state.source(g, make)
            await state.advance(g, table, done + 1, upto)
            computed.append(g)
        return computed

    async def aclose(self) -> None:
        """Close the steps and the models' engines."""
        for runner in self.state.runners:
            await runner.aclose()
        await self.models.aclose()


async def run_groups(
    prepared: Prepared,
    *,
    out: Path | None,
    limit: int | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
    keep_rows: bool = False,
    fresh: Mapping[int, int] | None = None,
    executor: Mapping[str, Any] | None = None,
) -> Outcome:
    """Every row group through every step. With ``out`` (a run directory) each step's output per group
    is committed and reused; without (a preview or a plan) nothing is written. ``fresh``: the groups
    workers committed in this run (:class:`Committer`), each with the last step it had committed
    before (see :func:`pending_groups`): the steps after it count as run rather than resumed."""
    from datagen._datamodel.records import utc_now

    spec = prepared.loaded.spec
    steps = prepared.steps
    state, models = _start(prepared, out)
    run = state.run
    kept_rows: list[Row] = []
    writer = _RowWriter(out / f"data.{spec.output.format}", spec.output) if out is not None else None
    started, t0 = utc_now(), time.monotonic()
    rows_in = 0
    try:
        state.runners = [make_step(prepared, s, run, models) for s in steps]
        for g, make in groups(prepared, limit=limit):
            done = state.committed(g)
            if done >= 0:
                table, group_rows = await state.resume(g, done, (fresh or {}).get(g))
            else:
                committed = state.committed_source(g)
                table = committed if committed is not None else await state.source(g, make)
                group_rows = len(table)
            rows_in += group_rows
            table = await state.advance(g, table, done + 1)
            if writer is not None:
                writer.write(table)
            if keep_rows:
                kept_rows.extend(table)
            if progress is not None:
                progress(rows_in, _sum(state.every_total()))
    except BaseException as exc:
        if writer is not None:
            writer.abort()
        if isinstance(exc, BudgetExhausted) and out is not None:
            raise BudgetExhausted(
                f"{exc}: the budget covers every step, method and resumed row group of {out}; the "
                "committed row groups are kept, so a larger budget continues the run"
            ) from None
        raise
    finally:
        for runner in state.runners:
            await runner.aclose()
        await models.aclose()
    outputs: list[str] = []
    if writer is not None and out is not None:
        outputs.append(str(writer.close()))
        outputs.append(str(_write_jsonl(out / "rejects.jsonl", state.rejects)))
    report = {
        "name": spec.name or prepared.loaded.path.stem,
        "file": str(prepared.loaded.path),
        "started_at": started,
        "finished_at": utc_now(),
        "rows": rows_in,
        "written": writer.count if writer is not None else len(kept_rows),
        "removed": len(state.rejects),
        **_sum(state.every_total()),
        "seconds": round(time.monotonic() - t0, 3),
        "steps": [t.as_dict() for t in state.every_total()],
        "outputs": outputs,
    }
    if executor is not None:
        report["executor"] = dict(executor)
    return Outcome(kept_rows, state.rejects, report)


def write_exports(prepared: Prepared, data: Path, out: Path, report: Path) -> list[dict[str, Any]]:
    """The file's ``output.exports``, each written from the finished dataset by its exporter; an
    exporter that describes runs (a ``reports`` option, the ``hf`` card) is given the run's report
    unless the entry names its own."""
    from datagen._app.exports import exporter
    from datagen._app.pipefile.steps import row_to_record

    registry = prepared.plugins.registry("exporter")
    done = []
    for entry in prepared.loaded.spec.output.exports:
        name, options = entry.to.replace("-", "_"), dict(entry.options)
        if "reports" in getattr(registry.get(name), "card_options", ()):  # it writes a dataset card
            options.setdefault("reports", [str(report)])
        plugin = exporter(name, plugins=prepared.plugins, options=options)
        records = (row_to_record(row) for row in _read_rows(data))
        done.append({"format": name, **plugin.export(records, out / entry.path)})
    return done


def _sum(totals: list[StepTotals]) -> dict[str, float]:
    out = {key: sum(t.counters[key] for t in totals) for key in COUNTERS if key != "seconds"}
    out["cost_usd"] = round(out["cost_usd"], 6)
    return {k: (v if k == "cost_usd" else int(v)) for k, v in out.items()}


class _RowWriter:
    """The final dataset, streamed to a temporary file renamed into place by :meth:`close`: flat rows,
    or records through the record writer."""

    def __init__(self, path: Path, output: OutputSpec) -> None:
        from datagen._datamodel.results import RecordWriter

        self.path = path
        self.columns = output.columns
        self.records = RecordWriter(path) if output.shape == "records" else None
        self.tmp = temporary_path(path)
        self.count = 0
        self.parquet_rows: list[Row] = []
        jsonl = path.suffix == ".jsonl" and self.records is None
        self.handle = self.tmp.open("w", encoding="utf-8") if jsonl else None

    def _shape(self, row: Row) -> Row:
        if not self.columns:
            return row
        return {"id": row["id"], **{c: row.get(c) for c in self.columns if c != "id"}}

    def write(self, rows: list[Row]) -> None:
        from datagen._app.pipefile.steps import row_to_record

        for row in rows:
            shaped = self._shape(row)
            if self.records is not None:
                self.records.write(row_to_record(shaped))
            elif self.handle is not None:
                self.handle.write(json.dumps(shaped, ensure_ascii=False, default=str) + "\n")
            else:
                self.parquet_rows.append(shaped)
            self.count += 1

    def close(self) -> Path:
        if self.records is not None:
            return self.records.close()
        if self.handle is not None:
            self.handle.close()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(self.parquet_rows), self.tmp)
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self.records is not None:
            self.records.abort()
        if self.handle is not None:
            self.handle.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    tmp = temporary_path(path)
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    os.replace(tmp, path)
    return path


def check_out(out: Path) -> None:
    """A run directory must be a directory (it is created when missing)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: the run directory is a file")
    out.mkdir(parents=True, exist_ok=True)


def _read_rows(path: Path) -> list[Row]:
    """The rows of a dataset file a run wrote (records come back as flat rows)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows: list[Row] = pq.read_table(path).to_pylist()
    else:
        with path.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    if rows and "provenance" in rows[0] and isinstance(rows[0].get("metadata"), dict | str):
        from datagen._app.pipefile.steps import record_to_row
        from datagen._datamodel.results import Results

        return [record_to_row(r, {}) for r in Results.load(path)]
    return rows
