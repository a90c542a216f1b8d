"""Runs a generation method end to end: validate everything, then stream records to their destination."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen._app.backend_choice import resolve_backend, resolve_backend_name, run_prices
from datagen._app.personas import read_personas, unique_personas
from datagen._app.pipeline import StageLLMs, build_stages, construct, plugin_versions, reject_sink
from datagen._datamodel.config import DatagenConfig
from datagen._datamodel.records import Record, utc_now
from datagen._datamodel.report import RunReport
from datagen._datamodel.results import (
    RecordWriter,
    RejectedWriter,
    Results,
    check_side_file,
    check_writable,
)
from datagen._datamodel.run import Run, RunStats
from datagen._engine.batching import BatchBackend
from datagen._engine.cache import ResponseCache
from datagen._engine.concurrency import run_sync
from datagen._engine.core import Engine
from datagen._kernel.context import GenerationContext
from datagen._kernel.manager import PluginManager
from datagen._kernel.options import plugin_option_problems
from datagen._kernel.protocols import Backend, GenerationMethod
from datagen._kernel.stages import Pipeline, StageSpec, aiter_of
from datagen.errors import BudgetExhausted, ConfigError, UsageError
from datagen.log import get_logger

log = get_logger("datagen._app.runner")

#: names other modules import from here
__all__ = [
    "execute",
    "prepare",
    "resolve_backend",
    "resolve_backend_name",
    "run_sync",
]

Progress = Callable[[int], None]


@attrs.define
class Prepared:
    """Everything a run needs, built and validated before any request is sent."""

    run: Run
    method: GenerationMethod
    backend: Backend
    seeds: Sequence[Record]
    stages: list[StageSpec] = attrs.field(factory=list)
    backend_reason: str = ""
    #: ``[generate] personas`` as the file holds them (duplicates are removed when the run starts)
    personas: list[str] = attrs.field(factory=list)


def prepare(
    config: DatagenConfig,
    pm: PluginManager,
    seeds: Sequence[Record],
    *,
    count: int,
    method: str | None = None,
    out: Path | None = None,
) -> Prepared:
    """Resolve and validate the method, backend, stages, seeds and output; raises :class:`UsageError` on
    bad input (every configuration problem at once)."""
    if count <= 0:
        raise UsageError(f"count must be a positive number, got {count}")
    problems = plugin_option_problems(config, pm)
    from datagen._kernel.capabilities import default_member

    method_name = method or default_member(pm, "method", config.method.name)
    method_cls = pm.registry("method").get(method_name)
    method_obj: GenerationMethod | None = construct(method_cls, config, "method", method_name, problems)
    backend_name, reason = resolve_backend(config, pm)
    backend_cls = pm.registry("backend").get(backend_name)
    backend: Backend | None = None
    try:
        backend_cfg = config.plugin_config("backend", backend_name, backend_cls.Config)
    except ConfigError as exc:
        problems.extend(exc.problems)
    else:
        if config.backend.model and hasattr(backend_cfg, "model"):
            backend_cfg = attrs.evolve(backend_cfg, model=config.backend.model)
        backend = construct(backend_cls, config, "backend", backend_name, problems, options=backend_cfg)
    stages = build_stages(config, pm, problems)
    personas = read_personas(config, pm, problems)
    metrics = pm.registry("metric")
    for i, name in enumerate(config.metric.run):
        if name not in metrics:
            problems.append(metrics.unknown(name, f"$.metric.run[{i}]"))
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))  # a bad table is found twice: once is enough
    assert method_obj is not None and backend is not None
    try:
        backend.validate()
    except UsageError as exc:
        if config.backend.name != "auto":
            raise
        # the key chose the backend: say so, and how to get the offline default back
        raise UsageError(f"{exc} (the {backend_name} backend was chosen because {reason})") from None
    if config.engine.batch and not isinstance(backend, BatchBackend):
        able = [e.name for e in pm.registry("backend") if issubclass(e.obj, BatchBackend)]
        raise UsageError(
            f"$.engine.batch: the {backend_name} backend has no batch API "
            f"({', '.join(sorted(able)) or 'no installed backend'} {'does' if len(able) == 1 else 'do'})"
        )
    method_obj.validate(seeds, count)
    if out is not None:
        check_writable(out, overwrite=config.generate.overwrite)
    for path, what in ((config.generate.rejected, "rejected"), (config.generate.report, "report")):
        if path is not None:
            if out is not None and Path(path).resolve() == out.resolve():
                raise UsageError(f"{path}: the {what} file cannot be the output file")
            check_side_file(Path(path), what, overwrite=config.generate.overwrite)
    run = Run(
        config=config, method=method_name, backend=backend_name, model=backend.model, count=count, out=out
    )
    prepared = Prepared(run, method_obj, backend, seeds, stages, reason, personas)
    run.limit = attempts_limit(prepared)
    return prepared


def make_engine(prepared: Prepared, pm: PluginManager) -> Engine:
    """The engine for a prepared run: its backend, the response cache unless disabled, the price table."""
    run = prepared.run
    config = run.config
    cache = ResponseCache(config.cache.dir) if config.cache.enabled else None
    return Engine(
        prepared.backend,
        config.engine,
        run.stats,
        backend_name=run.backend,
        cache=cache,
        prices=run_prices(config, pm, run.backend),
        identity=config.cache.identity,
    )


async def _generated(
    prepared: Prepared, pm: PluginManager, seeds: Sequence[Record], limit: int
) -> AsyncIterator[Record]:
    """The method's records, at most ``limit`` of them; a spent budget ends the stream cleanly."""
    run = prepared.run
    engine = make_engine(prepared, pm)
    llms = StageLLMs(run, pm)  # other models the method asks (a preference judge), made on first use
    personas = await unique_personas(prepared.personas, run, pm)
    # in an order of the run's seed: a file sorted by topic still spreads a short run over all of it
    random.Random(f"{run.config.generate.random_seed}:personas").shuffle(personas)
    ctx = GenerationContext(
        run=run,
        plugins=pm,
        engine=engine,
        rng=random.Random(run.config.generate.random_seed),
        llm_factory=llms,
        personas=tuple(personas),
    )
    if prepared.personas:
        run.stats.personas.update(
            file=str(run.config.generate.personas),
            loaded=len(prepared.personas),
            duplicates_removed=len(prepared.personas) - len(personas),
        )
    records = prepared.method.generate(ctx, seeds, limit)
    try:
        async for record in records:
            run.stats.generated += 1
            yield record
            if run.stats.generated >= limit:
                break
    except BudgetExhausted as exc:
        run.stats.stopped = str(exc)
        log.warning("run_stopped", run_id=run.id, reason=str(exc), records=run.stats.records)
    finally:
        close = getattr(records, "aclose", None)
        if close is not None:
            await close()  # stop the method now: its requests still in flight are cancelled, not orphaned
        await engine.aclose()
        if engine.cache is not None:
            engine.cache.close()
        await llms.aclose()
        if prepared.personas:
            run.stats.personas["used"] = len(ctx.personas_used)


class _YoungGC:
    """Shared state of :func:`young_gc_threshold`: how many runs hold it, and what to restore."""

    lock = threading.Lock()
    depth = 0
    saved: tuple[int, ...] = ()


@contextlib.contextmanager
def young_gc_threshold(threshold: int | None) -> Iterator[None]:
    """Collect the youngest generation every ``threshold`` allocations instead of 700, then restore.

    A run allocates many short-lived objects per request (HTTP messages, JSON); with Python's default the
    cyclic collector runs every few requests and costs ~0.1 ms of CPU per request. Nested or concurrent
    runs share the setting; the last to finish restores the previous thresholds. ``None`` leaves gc alone.
    """
    if threshold is None:
        yield
        return
    state = _YoungGC
    with state.lock:
        if state.depth == 0:
            state.saved = gc.get_threshold()
            gc.set_threshold(max(threshold, state.saved[0]), *state.saved[1:])
        state.depth += 1
    try:
        yield
    finally:
        with state.lock:
            state.depth -= 1
            if state.depth == 0:
                gc.set_threshold(*state.saved)


async def execute(prepared: Prepared, pm: PluginManager, progress: Progress | None = None) -> Results:
    """Run a prepared job: lifecycle hooks, privacy on the seeds, the method's records through the filter
    and privacy stages, survivors streamed to ``run.out`` (or kept in memory); ``results.report`` tells
    what happened."""
    with young_gc_threshold(prepared.run.config.engine.gc_threshold):
        return await _execute(prepared, pm, progress)


def attempts_limit(prepared: Prepared) -> int:
    """How many records the method may produce: ``count``, or with output stages that can remove
    records, ``max_attempts_factor`` times that."""
    run = prepared.run
    if not any(s.position == "outputs" for s in prepared.stages):
        return run.count
    return max(run.count, math.ceil(run.count * run.config.generate.max_attempts_factor))


class _Sink:
    """Where surviving records go: a file through a temporary name, or a list."""

    def __init__(self, out: Path | None, stats: RunStats) -> None:
        self.writer = RecordWriter(out) if out is not None else None
        self.kept: list[Record] = []
        self.stats = stats

    def write(self, record: Record) -> None:
        if record.provenance is not None and record.provenance.finish_reason == "length":
            self.stats.truncated += 1  # a written record whose answer stopped at max_tokens
        if self.writer is not None:
            self.writer.write(record)
        else:
            self.kept.append(record)

    @property
    def count(self) -> int:
        return self.writer.count if self.writer is not None else len(self.kept)

    def results(self) -> Results:
        """Finish: the file is renamed into place only when it holds at least one record."""
        if self.writer is None:
            return Results(self.kept)
        if self.writer.count == 0:
            self.writer.abort()
            return Results()
        return Results.scan(self.writer.close())

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


async def _execute(prepared: Prepared, pm: PluginManager, progress: Progress | None) -> Results:
    run = prepared.run
    config = run.config
    started, t0 = utc_now(), time.monotonic()
    pm.hook.datagen_run_start(run=run)
    rejects = RejectedWriter(config.generate.rejected) if config.generate.rejected is not None else None
    llms = StageLLMs(run, pm)
    pipeline = Pipeline(run, pm, prepared.stages, sink=reject_sink(rejects), llm_factory=llms)
    sink = _Sink(run.out, run.stats)
    try:
        pipeline.start()
        await _flow(prepared, pm, pipeline, sink, progress)
    except BaseException:
        sink.abort()
        if rejects is not None:
            rejects.abort()
        raise
    finally:
        await llms.aclose()
    run.stats.records = sink.count
    results = sink.results()
    if rejects is not None:
        rejects.close()
    report = build_report(
        prepared, pm, pipeline, started=started, elapsed=time.monotonic() - t0, rejects=rejects
    )
    results.report = report
    if config.metric.run and len(results):
        from datagen._app.metrics import compute

        report.metrics = await asyncio.to_thread(
            compute, results, config.metric.run, config=config, plugins=pm
        )
    if config.generate.report is not None:
        report.save(config.generate.report)
    log.info("run_finished", run_id=run.id, **run.stats.as_dict())
    if report.status != "complete":
        log.warning(
            "run_short",
            written=report.written,
            requested=report.requested,
            reasons="; ".join(report.short_reasons) or "unknown",
        )
    pm.hook.datagen_run_end(run=run, results=results)
    return results


async def _flow(
    prepared: Prepared, pm: PluginManager, pipeline: Pipeline, sink: _Sink, progress: Progress | None
) -> None:
    """Seeds through the input stages; the method's records through the output stages into ``sink``,
    until ``count`` survive. Stages from the first whole-dataset one on run after generation, over a
    spool file of the survivors."""
    run = prepared.run
    inputs, late_inputs = pipeline.split("inputs")
    seeds = [r async for r in pipeline.chain(inputs + late_inputs, aiter_of(prepared.seeds))]
    head, tail = pipeline.split("outputs")
    spool: RecordWriter | None = None
    if tail:
        fd, name = tempfile.mkstemp(prefix="datagen-spool-", suffix=".jsonl")
        os.close(fd)
        spool = RecordWriter(name)
    try:
        survivors = pipeline.chain(head, _generated(prepared, pm, seeds, run.limit))
        async with contextlib.aclosing(survivors):
            kept = 0
            async for record in survivors:
                kept += 1
                run.stats.records = kept  # live, for the methods' demand window (ctx.remaining)
                if spool is not None:
                    spool.write(record)
                else:
                    sink.write(record)
                    if progress:
                        progress(1)
                if kept >= run.count:
                    break
    except BaseException:
        if spool is not None:
            spool.abort()
            spool.path.unlink(missing_ok=True)
        raise
    if spool is None:
        return
    spooled = spool.close()
    try:
        async for record in pipeline.chain(tail, aiter_of(Results.scan(spooled))):
            sink.write(record)
            if progress:
                progress(1)
    finally:
        spooled.unlink(missing_ok=True)


def short_reasons(prepared: Prepared, pipeline: Pipeline, limit: int) -> list[str]:
    """Why a run wrote fewer records than asked, most decisive first."""
    run = prepared.run
    stats = run.stats
    reasons: list[str] = []
    if stats.stopped:
        reasons.append(f"stopped: {stats.stopped}")
    if stats.generated >= limit > run.count:
        factor = run.config.generate.max_attempts_factor
        reasons.append(
            f"attempts limit reached: {stats.generated} candidates generated ({factor:g} x {run.count}; "
            "raise [generate] max_attempts_factor)"
        )
    elif stats.generated < limit and not stats.stopped:
        reasons.append(f"{run.method} produced {stats.generated} of the {limit} records it was asked for")
    for report in pipeline.reports:
        if report.removed:
            top = ", ".join(f"{k}={v}" for k, v in report.reasons.most_common(3))
            reasons.append(f"{report.family} {report.name} removed {report.removed} ({top})")
    if stats.dropped:
        top = ", ".join(f"{k}={v}" for k, v in stats.dropped.most_common(4))
        reasons.append(f"{run.method} rejected or dropped {sum(stats.dropped.values())} ({top})")
    return reasons


def build_report(
    prepared: Prepared,
    pm: PluginManager,
    pipeline: Pipeline,
    *,
    started: str,
    elapsed: float,
    rejects: RejectedWriter | None,
) -> RunReport:
    """The report of a finished run."""
    run = prepared.run
    s = run.stats
    limit = run.limit
    written = s.records
    status = "complete" if written >= run.count else ("empty" if written == 0 else "short")
    return RunReport(
        run_id=run.id,
        kind="generate",
        method=run.method,
        backend=run.backend,
        model=run.model,
        backend_reason=prepared.backend_reason,
        requested=run.count,
        written=written,
        generated=s.generated,
        status=status,
        started_at=started,
        finished_at=utc_now(),
        elapsed_s=round(elapsed, 3),
        requests=s.requests,
        sent=s.sent,
        abandoned=s.abandoned,
        cached=s.cached,
        retries=s.retries,
        failed=s.failed,
        prompt_tokens=s.usage.prompt_tokens,
        completion_tokens=s.usage.completion_tokens,
        cost_usd=s.usage.cost_usd,
        finish_reasons=dict(s.finish_reasons),
        truncated=s.truncated,
        asked_again=s.asked_again,
        method_rejections=dict(s.dropped.most_common()),
        method_details=_method_details(prepared.method),
        personas=dict(s.personas),
        stages=[r.to_dict() for r in pipeline.reports],
        privacy_spent={**_method_spent(prepared.method, run.method), **pipeline.spent()},
        stopped=s.stopped,
        short_reasons=short_reasons(prepared, pipeline, limit) if status != "complete" else [],
        plugins=plugin_versions(pm, prepared.stages, ("method", run.method), ("backend", run.backend)),
        out=str(run.out) if run.out is not None and written else None,
        rejected_file=str(rejects.path) if rejects is not None else None,
    )


def _method_details(method: Any) -> dict[str, Any]:
    """What the method reports of its own (``report()``, optional)."""
    report = getattr(method, "report", None)
    return dict(report()) if callable(report) else {}


def _method_spent(method: Any, name: str) -> dict[str, dict[str, float]]:
    """The privacy budget a differentially private method spent (``spent()``, optional), by name."""
    spent = getattr(method, "spent", None)
    value = dict(spent()) if callable(spent) else {}
    return {f"method:{name}": value} if value else {}
