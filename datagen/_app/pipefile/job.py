"""What an executor plugin gets: one ``datagen run`` as a :class:`Job` (the kernel's
:class:`~datagen._kernel.protocols.PipelineJob`), and for each worker a picklable :class:`Spec`.

A worker commits row groups through the steps it may run alone (every step before the first one that
remembers rows across groups), with the fingerprints and checkpoints of a local run, into the shared
run directory. The driver then assembles the run in its own process: each group read from its
checkpoints, the remaining steps run over every group, the data file and the report written. A run
therefore resumes under any executor, and the same file gives the same rows under each."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen._app.pipefile.execute import (
    Committer,
    Outcome,
    Prepared,
    checkpoints_location,
    pending_groups,
    prepare,
    run_groups,
)
from datagen._app.pipefile.spec import Loaded
from datagen._app.pipefile.store import is_url
from datagen._datamodel.config import DatagenConfig
from datagen._datamodel.families import ExecutorSection
from datagen._datamodel.records import utc_now
from datagen._engine.concurrency import run_sync


def worker_share(config: DatagenConfig, workers: int, *, shared_rates: bool = False) -> DatagenConfig:
    """``config`` with its request, token and cost limits and its concurrency divided among ``workers``
    (rounded down, at least one request in flight), so that together the workers stay within them;
    with ``shared_rates`` the request and token rates stay whole (a shared limiter holds them)."""
    e = config.engine
    rpm, tpm = e.requests_per_minute, e.tokens_per_minute
    share = attrs.evolve(
        e,
        requests_per_minute=rpm if shared_rates or not rpm else rpm / workers,
        tokens_per_minute=tpm if shared_rates or not tpm else tpm / workers,
        max_cost_usd=e.max_cost_usd / workers if e.max_cost_usd is not None else None,
        max_tokens=max(1, e.max_tokens // workers) if e.max_tokens else None,
        max_concurrency=max(1, e.max_concurrency // workers) if e.max_concurrency else None,
    )
    return attrs.evolve(config, engine=share)


@attrs.frozen
class Spec:
    """A worker's start: the checked file, the config (its share of the limits), the model overrides
    and the run directory, every path absolute (a worker's working directory may be another)."""

    loaded: Loaded
    config: DatagenConfig
    overrides: Mapping[str, Any]
    out: Path

    def start(self) -> Worker:
        """The pipeline prepared in this process (its plugins loaded from the entry points)."""
        return Worker(prepare(self.loaded, config=self.config, overrides=dict(self.overrides)), self.out)


class Worker:
    """One worker process's pipeline: a :class:`Committer` on an event loop of its own (a thread), so
    that its engines and their connections serve every call."""

    def __init__(self, prepared: Prepared, out: Path) -> None:
        self.prepared = prepared
        self.out = out
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="datagen-worker", daemon=True)
        self._thread.start()
        self._committer = self._run(self._make())

    async def _make(self) -> Committer:
        return Committer(self.prepared, self.out)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def commit(self, groups: Sequence[int]) -> list[int]:
        """Commit ``groups``; returns those computed here (see :class:`Committer`)."""
        computed: list[int] = self._run(self._committer.commit(set(groups)))
        return computed

    def close(self) -> None:
        """Close the engines and stop the loop."""
        try:
            self._run(self._committer.aclose())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()


@attrs.define
class Job:
    """One run of a pipeline file into ``out``, handed to the executor."""

    prepared: Prepared
    overrides: Mapping[str, Any]
    out: Path
    #: ``[executor] workers`` / ``--workers`` (None: the executor's default)
    workers: int | None = None
    #: ``[executor] address`` / ``--address`` (None: the executor's default)
    address: str | None = None
    on_progress: Callable[[int, dict[str, float]], None] | None = None
    _pending: dict[int, int] | None = None
    _t0: float = attrs.field(factory=time.monotonic)
    _started_at: str = attrs.field(factory=utc_now)

    def pending(self) -> list[int]:
        """The row groups a worker still has to commit."""
        if self._pending is None:  # before any worker: what each group had committed then
            self._pending = pending_groups(self.prepared, self.out)
        return list(self._pending)

    def worker_spec(self, workers: int, *, shared_rates: bool = False) -> Spec:
        """Each worker's start, with ``1/workers`` of the limits and the budget (the rates whole with
        ``shared_rates``)."""
        config = self.prepared.config
        config = attrs.evolve(config, cache=attrs.evolve(config.cache, dir=config.cache.dir.absolute()))
        section = config.section("executor")
        where = checkpoints_location(config)
        if where and not is_url(where) and isinstance(section, ExecutorSection):
            # a directory: the same one from a worker's working directory
            absolute = str(Path(where).expanduser().absolute())
            config = config.with_sections(executor=attrs.evolve(section, checkpoints=absolute))
        shared = worker_share(config, max(1, workers), shared_rates=shared_rates)
        loaded = attrs.evolve(self.prepared.loaded, path=self.prepared.loaded.path.absolute())
        return Spec(loaded, shared, dict(self.overrides), self.out.absolute())

    def progress(self, groups_done: int) -> None:
        """Show the rows of ``groups_done`` committed groups (an estimate: a row group's size each)."""
        if self.on_progress is not None:
            spec = self.prepared.loaded.spec
            rows = groups_done * spec.row_group
            self.on_progress(min(rows, spec.rows) if spec.rows else rows, _NO_COUNTS)

    def assemble(self, fresh: Collection[int], executor: Mapping[str, Any]) -> Outcome:
        """The run finished here from the committed row groups (see the module's docstring)."""
        before = self._pending or {}
        done = {g: before.get(g, -2) for g in fresh}
        outcome: Outcome = run_sync(
            run_groups(self.prepared, out=self.out, progress=self.on_progress, fresh=done, executor=executor)
        )
        # the run began when the job did: the workers' part is in its time too
        outcome.report["started_at"] = self._started_at
        outcome.report["seconds"] = round(time.monotonic() - self._t0, 3)
        return outcome


_NO_COUNTS = {"requests": 0, "cached": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}


def choose_executor(config: DatagenConfig, prepared: Prepared, environ: Mapping[str, str]) -> Any:
    """The executor plugin ``[executor] name`` names; else the one whose ``env_switch`` variable is set
    (the first by name); else the one that declares ``default``. Built with its ``[executor.NAME]``
    table; an unknown name is a :class:`ConfigError` before any work."""
    from datagen.errors import ConfigError

    registry = prepared.plugins.registry("executor")
    name = getattr(config.section("executor"), "name", "")
    if not name:
        switched = [e.name for e in registry if environ.get(getattr(e.obj, "env_switch", None) or "")]
        defaults = [e.name for e in registry if getattr(e.obj, "default", False)]
        name = min(switched) if switched else min(defaults) if defaults else ""
        if not name:
            raise ConfigError(["$.executor.name: no executor plugin is installed that declares default"])
    if name not in registry:
        raise ConfigError([registry.unknown(name, "$.executor.name")])
    cls = registry.get(name)
    return cls(config.plugin_config("executor", name, cls.Config))
