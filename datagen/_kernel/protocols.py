"""The Protocols a plugin class satisfies, one per extension family.

Every plugin class has a class attribute ``name`` (its registered name, a Python identifier) and a class
attribute ``Config``: an attrs class whose fields all have defaults, structured from the plugin's table in
the config file (``[backend.openai]``, ``[filter.length]``, ...). It is constructed as ``cls(config)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from datagen._engine.llm import BACKEND_DEFAULTS, Client, backend_attribute

__all__ = [
    "BACKEND_CLASS_DEFAULTS",
    "BACKEND_DEFAULTS",
    "Backend",
    "backend_attribute",
    "backend_class_attribute",
]  # the engine's, re-exported for plugins

if TYPE_CHECKING:
    from datagen._datamodel.records import Record
    from datagen._datamodel.results import Results
    from datagen._kernel.context import GenerationContext, RunContext


@runtime_checkable
class Plugin(Protocol):
    """What every plugin class has."""

    name: ClassVar[str]
    Config: ClassVar[type[Any]]


#: Optional class attributes of a backend plugin that the app reads to choose one for ``backend = "auto"``,
#: with the value it assumes when one is missing.
BACKEND_CLASS_DEFAULTS: dict[str, Any] = {
    #: the environment variable holding its API key (e.g. ``OPENAI_API_KEY``)
    "env_key": None,
    #: its place in automatic choice when its key is set, smaller first (None: never chosen by ``auto``)
    "auto_choice": None,
    #: whether ``auto`` falls back to it when no key is set (the embedded model)
    "offline_default": False,
    #: whether it talks to any server of its API given a ``base_url`` (vLLM, llama.cpp, Ollama, ...):
    #: what a pipeline's ``--base-url`` uses when no ``--backend`` is named
    "compatible_servers": False,
}


def backend_class_attribute(cls: Any, name: str) -> Any:
    """An optional backend class attribute, or its default from :data:`BACKEND_CLASS_DEFAULTS`."""
    return getattr(cls, name, BACKEND_CLASS_DEFAULTS[name])


@runtime_checkable
class Backend(Plugin, Client, Protocol):
    """Talks to one kind of LLM. ``is_chat`` says whether it takes chat messages or completion prompts.

    Optional attributes (read with their defaults from :data:`BACKEND_DEFAULTS` when absent):

    - ``rate_limits: RateLimits | None`` — the limits the server announced in its last answer's headers;
      the engine follows them unless the config sets its own.
    - ``preferred_concurrency: int | None`` — requests in flight that suit this backend (the embedded
      model: its slots); ``[engine] max_concurrency`` wins.
    - ``cache_identity: str`` — what names the server in cache keys (e.g. its base URL), so answers of
      different servers are kept apart; ``[cache] identity`` wins.

    Optional class attributes for ``backend = "auto"`` (defaults in :data:`BACKEND_CLASS_DEFAULTS`):
    ``env_key`` (the variable holding its API key), ``auto_choice`` (its place when that key is set,
    smaller first) and ``offline_default`` (chosen when no key is set).
    """

    def validate(self) -> None:
        """Raise :class:`datagen.errors.UsageError` for a missing or malformed key, before any request."""


@runtime_checkable
class PIIDetector(Protocol):
    """A privacy mechanism that also finds and replaces personal data in single texts; its class declares
    ``detects_pii = True``. ``datagen audit``, ``PrivacyManager.find_pii`` / ``scrub_text`` and the audit's
    PII count ask the registry for one (:func:`datagen._kernel.capabilities.pii_detector`) instead of
    naming a plugin. Each entity has ``type``, ``start``, ``end``, ``score`` and ``value``."""

    def find(self, texts: list[str]) -> list[list[Any]]:
        """The entities of each text, offsets into it."""
        ...

    def scrub(self, text: str, entities: Any) -> str:
        """``text`` with ``entities`` replaced."""
        ...


@runtime_checkable
class GenerationMethod(Plugin, Protocol):
    """Produces records from seeds through a backend."""

    def validate(self, seeds: Sequence[Record], count: int) -> None:
        """Raise :class:`datagen.errors.UsageError` for bad input, before any request is sent."""

    def generate(self, ctx: GenerationContext, seeds: Sequence[Record], count: int) -> AsyncIterator[Record]:
        """Stream records, each with full provenance. ``count`` is the number of candidates the method may
        produce (``ctx.demand.limit``: the requested count, or up to ``max_attempts_factor`` times it when
        stages may remove records); ``ctx.demand`` says how many are still wanted (``still_wanted()``,
        ``remaining(produced, limit)``), read-only. The runner stops reading when the run has what it
        needs and closes the stream. An async generator that itself iterates another one should close
        it (``contextlib.aclosing``) so that requests still in flight are cancelled when the run stops."""
        ...


@runtime_checkable
class Filter(Plugin, Protocol):
    """Keeps, drops or rewrites records of a stream (length, heuristics, dedup, LLM judge).

    Optional: ``checks_language = True`` on a filter whose Config has ``languages`` (ISO 639-1 codes):
    ``[generate] language`` adds the first such filter to the chain, keeping that language only."""

    def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Yield the records that pass, in order."""
        ...


@runtime_checkable
class PrivacyMechanism(Plugin, Protocol):
    """Transforms a stream of records for privacy (PII scrubbing, differential privacy)."""

    def apply(self, ctx: RunContext, records: AsyncIterator[Record]) -> AsyncIterator[Record]:
        """Yield the transformed records."""
        ...

    def spent(self) -> Mapping[str, float]:
        """The privacy budget spent so far (e.g. ``{"epsilon": 1.2, "delta": 1e-6}``); empty if none."""
        ...


@runtime_checkable
class Metric(Plugin, Protocol):
    """Measures a dataset (stats, diversity, perplexity, readability, topics).

    Optional: a class attribute ``cost`` (a relative weight, 1 when absent); when several metrics run in
    worker processes the heaviest start first."""

    def compute(self, results: Results) -> Mapping[str, Any]:
        """Named values, JSON-serialisable."""
        ...


@runtime_checkable
class Plot(Plugin, Protocol):
    """Draws figures of a dataset and its metrics."""

    def render(self, results: Results, metrics: Mapping[str, Mapping[str, Any]], out_dir: Path) -> list[Path]:
        """Write image files into ``out_dir`` and return their paths."""
        ...


@runtime_checkable
class Agent(Plugin, Protocol):
    """Searches generation parameters against a score, ask/tell style (random, REINFORCE, PPO, Bayesian)."""

    def ask(self) -> dict[str, Any]:
        """The next parameters to try."""
        ...

    def tell(self, params: Mapping[str, Any], reward: float) -> None:
        """Report the reward the parameters earned."""

    def best(self) -> tuple[dict[str, Any], float]:
        """The best parameters seen and their reward."""
        ...


@runtime_checkable
class Exporter(Plugin, Protocol):
    """Writes records in a format a trainer reads (OpenAI fine-tuning, TRL, ShareGPT, ...).

    One that writes a dataset card names the options it makes it from in ``card_options`` (a class
    attribute, a frozenset of option names): ``datagen export``'s ``--report``/``--metrics``/
    ``--rejected``/``--view`` go to those options, and a pipeline gives its own report to ``reports``.
    """

    def export(self, records: Iterable[Record], path: Path) -> dict[str, Any]:
        """Write every record to ``path`` (under a temporary name renamed at the end) and any side file
        the format needs beside it; return what was written (``rows``, ``files``). A record the format
        cannot express is a :class:`~datagen.errors.UsageError` naming it, before the file appears."""
        ...


class GroupWorker(Protocol):
    """One worker's view of a pipeline run (built once per worker process by :meth:`WorkerSpec.start`)."""

    def commit(self, groups: Sequence[int]) -> list[int]:
        """Commit the checkpoints of row groups ``groups`` up to the last step a worker may run; returns
        the groups computed here (a group found committed already is skipped)."""
        ...

    def close(self) -> None:
        """Close its engines (a share of a rate limit goes back to the others)."""


class WorkerSpec(Protocol):
    """What a worker process needs to run row groups of one pipeline (picklable: the file, its config
    with this worker's share of the limits and the budget, the run directory)."""

    def start(self) -> GroupWorker:
        """The pipeline checked and its plugins loaded, in this process."""
        ...


class PipelineJob(Protocol):
    """One ``datagen run``, as an executor receives it."""

    #: the run directory (data, report, and the checkpoints unless ``[executor] checkpoints`` names
    #: another directory or an fsspec URL, where every worker commits)
    out: Path
    #: ``[executor] workers`` / ``--workers`` (None: the executor's default)
    workers: int | None
    #: ``[executor] address`` / ``--address``: the cluster to join (None: the executor's default)
    address: str | None

    def pending(self) -> list[int]:
        """The row groups a worker still has to commit (all of them on a fresh run), in order."""
        ...

    def worker_spec(self, workers: int, *, shared_rates: bool = False) -> WorkerSpec:
        """The spec each of ``workers`` workers starts from: the run's limits divided among them, so
        that together they never exceed them; with ``shared_rates`` the request and token rates are
        left whole, for a limiter the workers share (the ``shared_rate_bucket`` service)."""
        ...

    def progress(self, groups_done: int) -> None:
        """Show that ``groups_done`` of :meth:`pending` are committed."""

    def assemble(self, fresh: Collection[int], executor: Mapping[str, Any]) -> Any:
        """In this process: every row group read from its checkpoints (``fresh``: the ones the workers
        computed in this run, counted as run, not resumed), the steps no worker may run (those that
        remember rows across groups, and every step after the first of them) run here, the data file
        written. ``executor`` (name, workers, ...) goes in the report. Returns the run's outcome."""
        ...


@runtime_checkable
class Executor(Plugin, Protocol):
    """Runs a pipeline's row groups: in this process, or on workers (a Ray cluster) that commit the same
    checkpoints with the same fingerprints to the run directory, so a run resumes under any executor.

    Optional class attributes: ``default = True`` (the one used when none is named: ``local``) and
    ``env_switch`` (an environment variable that, when set, chooses it: ``RAY_ADDRESS``)."""

    def execute(self, job: PipelineJob) -> Any:
        """Run ``job`` and return :meth:`PipelineJob.assemble`'s outcome."""
        ...
