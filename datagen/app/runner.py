"""Runs a generation method end to end: validate everything, then stream records to their destination."""

from __future__ import annotations

import contextlib
import gc
import os
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen.datamodel.config import DatagenConfig, validate_plugin_options
from datagen.datamodel.records import Record
from datagen.datamodel.results import RecordWriter, Results, check_writable
from datagen.engine.batching import BatchBackend
from datagen.engine.cache import ResponseCache
from datagen.engine.core import Engine
from datagen.engine.pricing import PriceTable
from datagen.errors import BudgetExhausted, UsageError
from datagen.kernel.context import GenerationContext, Run
from datagen.kernel.manager import PluginManager
from datagen.kernel.protocols import Backend, GenerationMethod
from datagen.log import get_logger

log = get_logger("datagen.app.runner")

#: environment variables whose presence makes ``backend = "auto"`` pick that backend, in order
AUTO_BACKENDS: tuple[tuple[str, str], ...] = (
    ("OPENAI_API_KEY", "openai"),
    ("ANTHROPIC_API_KEY", "anthropic"),
)
DEFAULT_BACKEND = "local"

Progress = Callable[[int], None]


def resolve_backend_name(
    config: DatagenConfig, pm: PluginManager, environ: Mapping[str, str] | None = None
) -> str:
    """The backend to use: the configured one, or for ``auto`` the first with a key, else ``local``."""
    name = config.backend.name
    if name != "auto":
        return name
    env = os.environ if environ is None else environ
    registry = pm.registry("backend")
    for var, backend in AUTO_BACKENDS:
        configured_key = config.backend.options.get(backend, {}).get("api_key")
        if (env.get(var) or configured_key) and backend in registry:
            return backend
    return DEFAULT_BACKEND


@attrs.define
class Prepared:
    """Everything a run needs, built and validated before any request is sent."""

    run: Run
    method: GenerationMethod
    backend: Backend
    seeds: Sequence[Record]


def prepare(
    config: DatagenConfig,
    pm: PluginManager,
    seeds: Sequence[Record],
    *,
    count: int,
    method: str | None = None,
    out: Path | None = None,
) -> Prepared:
    """Resolve and validate the method, backend, seeds and output; raises :class:`UsageError` on bad input."""
    if count <= 0:
        raise UsageError(f"count must be a positive number, got {count}")
    validate_plugin_options(config, pm)
    method_name = method or config.method.name
    method_cls = pm.registry("method").get(method_name)
    method_obj: GenerationMethod = method_cls(config.plugin_config("method", method_name, method_cls.Config))
    backend_name = resolve_backend_name(config, pm)
    backend_cls = pm.registry("backend").get(backend_name)
    backend_cfg = config.plugin_config("backend", backend_name, backend_cls.Config)
    if config.backend.model and hasattr(backend_cfg, "model"):
        backend_cfg = attrs.evolve(backend_cfg, model=config.backend.model)
    backend: Backend = backend_cls(backend_cfg)
    backend.validate()
    if config.engine.batch and not isinstance(backend, BatchBackend):
        raise UsageError(
            f"$.engine.batch: the {backend_name} backend has no batch API (openai and anthropic do)"
        )
    method_obj.validate(seeds, count)
    if out is not None:
        check_writable(out)
    run = Run(
        config=config, method=method_name, backend=backend_name, model=backend.model, count=count, out=out
    )
    return Prepared(run, method_obj, backend, seeds)


def make_engine(prepared: Prepared) -> Engine:
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
        prices=PriceTable(config.prices),
    )


async def _records(prepared: Prepared, pm: PluginManager) -> AsyncIterator[Record]:
    run = prepared.run
    engine = make_engine(prepared)
    ctx = GenerationContext(
        run=run, plugins=pm, engine=engine, rng=random.Random(run.config.generate.random_seed)
    )
    records = prepared.method.generate(ctx, prepared.seeds, run.count)
    try:
        produced = 0
        async for record in records:
            produced += 1
            run.stats.records = produced
            yield record
            if produced >= run.count:
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
    """Run a prepared job: lifecycle hooks, records streamed to ``run.out`` (or kept in memory)."""
    with young_gc_threshold(prepared.run.config.engine.gc_threshold):
        return await _execute(prepared, pm, progress)


async def _execute(prepared: Prepared, pm: PluginManager, progress: Progress | None) -> Results:
    run = prepared.run
    pm.hook.datagen_run_start(run=run)
    if run.out is not None:
        with RecordWriter(run.out) as writer:
            async for record in _records(prepared, pm):
                writer.write(record)
                if progress:
                    progress(1)
        results = Results.scan(run.out)
    else:
        kept: list[Record] = []
        async for record in _records(prepared, pm):
            kept.append(record)
            if progress:
                progress(1)
        results = Results(kept)
    log.info("run_finished", run_id=run.id, **run.stats.as_dict())
    pm.hook.datagen_run_end(run=run, results=results)
    return results


def run_sync(coro: Any) -> Any:
    """Run a coroutine from synchronous code (also inside Jupyter's running loop)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
