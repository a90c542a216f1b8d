"""The ``ray`` executor: a pipeline's row groups on a Ray cluster (``pip install 'datagen[ray]'``).

One actor per worker starts the pipeline once (its plugins loaded, its models built) and is handed
runs of consecutive row groups as it frees up. Each commits its groups' checkpoints, with the
fingerprints of a local run, to the run directory or the store ``[executor] checkpoints`` names,
which every worker must reach (one machine, a shared file system, an object store). A worker that
dies is restarted and its call retried (``max_restarts``): the groups it had committed are skipped,
the one in flight is redone. The steps that remember rows across groups (dedup) and every step after
the first of them then run in the driver, over all groups, while it assembles the data file.

Limits: ``[engine]``'s ``requests_per_minute`` and ``tokens_per_minute`` are held for the whole cluster
by one limiter actor, from which each worker leases a share of the rate (see ``_limiter``), as are a
limit the server announces and a pace learned from the 429s of one it enforces unannounced; the cost
and token budgets and the concurrency are divided among the workers (``1/workers`` each)."""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs

from datagen.plugin import (
    NON_NEGATIVE,
    POSITIVE,
    DatagenError,
    PipelineJob,
    RegisterExecutor,
    UsageError,
    WorkerSpec,
    get_logger,
    hookimpl,
    provide,
)
from datagen_plugins.executors._limiter import LimiterActor, RayPace, SharedRate, ray_bucket

log = get_logger(__name__)


@attrs.define
class RayExecutorConfig:
    """Options of ``[executor.ray]`` (the cluster and the worker count are ``[executor]``'s
    ``address`` and ``workers``)."""

    #: CPUs each worker reserves
    cpus_per_worker: float = attrs.field(default=1.0, validator=POSITIVE)
    #: runs of row groups handed out per worker: more spread the work and redo less when one dies
    chunks_per_worker: int = attrs.field(default=4, validator=POSITIVE)
    #: times a dead worker is restarted and its call retried before the run fails
    max_restarts: int = attrs.field(default=3, validator=NON_NEGATIVE)
    #: seconds between a worker's renewals of its share of a configured rate (each a call to the
    #: cluster's limiter) while shares change; a steady share is renewed less often, up to every
    #: ``longest_renew_s`` (see docs/ray.md)
    renew_s: float = attrs.field(default=1.0, validator=POSITIVE)
    longest_renew_s: float = attrs.field(default=30.0, validator=POSITIVE)


class _RayWorker:
    """The actor: one pipeline per worker process, its configured rates leased from ``limiter``."""

    def __init__(self, spec: WorkerSpec, limiter: Any, renew_s: float, longest_s: float, name: str) -> None:
        provide("shared_rate_bucket", ray_bucket(limiter, renew_s, longest_s, name))
        provide("shared_pace", lambda key: RayPace(limiter, key))
        self.worker = spec.start()

    def commit(self, groups: Sequence[int]) -> int:
        self.worker.commit(groups)
        return len(groups)

    def close(self) -> None:
        self.worker.close()


#: how often the driver reads the limiter's call count while the workers run
POLL_S = 1.0


class _CallTally:
    """The limiter's calls over the run: a limiter Ray restarts counts from 0 again, so the count read
    last before it dropped is added to what the new one counts."""

    def __init__(self) -> None:
        self.before = 0  # counted by limiters that were lost
        self.last = 0

    def seen(self, stats: dict[str, Any]) -> int:
        """The run's calls so far, given the limiter's ``stats()``."""
        calls = int(stats["calls"])
        if calls < self.last:
            self.before += self.last
        self.last = calls
        return self.before + calls


class RayExecutor:
    """Row groups on Ray workers; chosen by ``--executor ray``, ``[executor] name = "ray"`` or a set
    ``RAY_ADDRESS``."""

    name: ClassVar[str] = "ray"
    env_switch: ClassVar[str] = "RAY_ADDRESS"
    Config: ClassVar[type[Any]] = RayExecutorConfig

    def __init__(self, config: RayExecutorConfig) -> None:
        self.config = config

    def execute(self, job: PipelineJob) -> Any:
        """Commit every pending row group on the workers, then assemble the run here."""
        try:
            import ray
        except ImportError:
            raise UsageError("the ray executor needs Ray: pip install 'datagen[ray]'") from None
        if job.workers is not None and job.workers < 1:
            raise UsageError(f"$.executor.workers: at least 1 worker, got {job.workers}")
        pending = job.pending()
        info: dict[str, Any] = {"name": self.name, "workers": 0, "groups_by_workers": len(pending)}
        if pending:
            # joined, or started and left up for the rest of the process (Ray stops it at exit): a
            # second run starts at once, and the 1.3 s of a shutdown are not spent on each run
            if not ray.is_initialized():
                address = job.address or os.environ.get("RAY_ADDRESS") or None
                options: dict[str, Any] = {"address": address} if address else {}
                if address is None and job.workers:  # a local cluster: this machine, or the workers asked
                    asked = round(job.workers * self.config.cpus_per_worker)
                    options["num_cpus"] = max(os.cpu_count() or 1, asked)
                ray.init(include_dashboard=False, logging_level=logging.WARNING, **options)
            info["workers"], limiter = self._commit(ray, job, pending)
            info["limiter_calls"], info["paces_learned"] = limiter["calls"], limiter["paces"]
        # every pending group is committed now, in this run (a retried call skips what its dead worker
        # had committed, so the workers' own lists would miss those)
        return job.assemble(pending, info)

    def _commit(self, ray: Any, job: PipelineJob, pending: list[int]) -> tuple[int, dict[str, Any]]:
        """``pending`` committed by the workers; returns how many workers, and the limiter's stats:
        its calls, and the paces learned of servers that enforce a limit they do not announce."""
        from ray.exceptions import RayActorError, RayTaskError

        cfg = self.config
        room = max(1, int(ray.cluster_resources().get("CPU", 1.0) // cfg.cpus_per_worker))
        if job.workers and job.workers > room:  # the rest could never start: their calls would wait forever
            log.warning("ray_workers_capped", asked=job.workers, cluster_room=room)
        workers = min(job.workers or room, room, len(pending))
        # one limiter for the run: detached (it lives while any handle is dropped, unlike an actor tied
        # to the handle that made it), restarted by Ray if it dies, killed when the run is done
        limiter = (
            ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(LimiterActor)
            .options(
                name=f"datagen-limiter-{uuid.uuid4().hex[:12]}", namespace="datagen", lifetime="detached"
            )
            .remote(SharedRate.lease_s(max(cfg.renew_s, cfg.longest_renew_s), cfg.renew_s), workers)
        )
        remote = ray.remote(
            num_cpus=cfg.cpus_per_worker, max_restarts=cfg.max_restarts, max_task_retries=cfg.max_restarts
        )(_RayWorker)
        spec = job.worker_spec(workers, shared_rates=True)
        # each worker's name outlives its process: a restarted worker takes over its leases at once
        names = [f"worker-{i}" for i in range(workers)]
        actors = [remote.remote(spec, limiter, cfg.renew_s, cfg.longest_renew_s, name) for name in names]
        size = max(1, -(-len(pending) // (workers * cfg.chunks_per_worker)))
        runs = [pending[i : i + size] for i in range(0, len(pending), size)]
        calls = _CallTally()
        try:
            self._dispatch(ray, job, actors, runs, lambda: calls.seen(ray.get(limiter.stats.remote())))
            stats: dict[str, Any] = ray.get(limiter.stats.remote())
            stats["calls"] = calls.seen(stats)
        except RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if isinstance(cause, DatagenError):
                raise cause from None
            raise DatagenError(f"a ray worker failed: {exc}") from None
        except RayActorError as exc:
            raise DatagenError(
                f"a ray worker died more than {cfg.max_restarts} times ([executor.ray] max_restarts); "
                f"the committed row groups are kept, so a rerun continues: {exc}"
            ) from None
        finally:
            for actor in [*actors, limiter]:
                ray.kill(actor)
        return workers, stats

    @staticmethod
    def _dispatch(
        ray: Any, job: PipelineJob, actors: list[Any], runs: list[list[int]], poll: Callable[[], object]
    ) -> None:
        """Hand each worker the next run of row groups as it frees up; a worker left without work is
        closed at once, so its share of a rate limit goes to those still sending. ``poll`` is called
        every ``POLL_S`` meanwhile."""
        queue = deque(runs)
        busy: dict[Any, Any] = {}  # the call in flight -> its worker
        closing = []
        for actor in actors:
            if queue:
                busy[actor.commit.remote(queue.popleft())] = actor
            else:
                closing.append(actor.close.remote())
        done = 0
        while busy:
            poll()
            found, _ = ray.wait(list(busy), num_returns=1, timeout=POLL_S)
            if not found:
                continue
            actor = busy.pop(found[0])
            done += ray.get(found[0])  # a worker's failure is raised here
            job.progress(done)
            if queue:
                busy[actor.commit.remote(queue.popleft())] = actor
            else:
                closing.append(actor.close.remote())
        ray.get(closing)


@hookimpl
def datagen_register_executors(register: RegisterExecutor) -> None:
    """Register the ray executor."""
    register(RayExecutor)
