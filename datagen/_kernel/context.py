"""What a running job hands to plugins: the run, its statistics, and the LLM client for methods."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import attrs

from datagen._datamodel.records import Message, Provenance, Record, Usage, stable_id
from datagen._datamodel.run import Demand, Run
from datagen._engine.llm import Client, Request, Response
from datagen._text.prompts import current_persona, persona_scope
from datagen._text.repetition import degenerate
from datagen.errors import DegenerateAnswer
from datagen.log import Logger, get_logger

#: how far apart the sampling seeds of re-asks lie (a prime: they do not meet the seeds methods pick
#: for their cycles and examples, which step by 1 and 1000)
_ASK_AGAIN_STEP = 104_729
#: which attempt at a job the current task is making (0: the first); requests built during a later
#: attempt get another sampling seed (:meth:`GenerationContext.attempt`)
_ATTEMPT: ContextVar[int] = ContextVar("datagen_attempt", default=0)


def _reseeded(seed: int | None, attempt: int) -> int:
    """The sampling seed of the ``attempt``-th re-ask of a request seeded ``seed``."""
    return (seed or 0) + _ASK_AGAIN_STEP * attempt


if TYPE_CHECKING:
    from datagen._engine.core import Engine
    from datagen._engine.structured import StructuredAnswer
    from datagen._kernel.manager import PluginManager


#: what a stage calls for each record it removes: (record, stage, reason, details)
RemoveSink = Callable[["Record", str, str, Mapping[str, Any]], None]


def with_system_line(messages: list[Message], line: str) -> list[Message]:
    """``messages`` with ``line`` added to the system turn (one is made when there is none)."""
    if messages and messages[0].role == "system":
        return [Message("system", f"{messages[0].content}\n\n{line}"), *messages[1:]]
    return [Message("system", line), *messages]


def language_line(code: str) -> str:
    """The system line asking for the reply in the language ``code``."""
    from datagen._datamodel.languages import LANGUAGE_NAMES

    return f"Write your reply in {LANGUAGE_NAMES[code.strip().lower()]}."


#: how a request is told its job's persona when its prompts do not place the ``persona`` variable
PERSONA_LINE = (
    "Persona: {persona}\nLet this persona shape what you write: its subject, its context and its voice."
)


def _ignore_removal(_record: Record, _stage: str, _reason: str, _details: Mapping[str, Any]) -> None:
    return None


def _places(persona: str, prompt: str | None, messages: Sequence[Message] | None) -> bool:
    """Whether a request's text already holds ``persona`` (its template placed the variable)."""
    if prompt is not None and persona in prompt:
        return True
    return any(persona in m.content for m in messages or ())


@attrs.define
class RunContext:
    """Handed to filters and privacy mechanisms: the run, the plugins, a logger, and the stage's name.

    A stage says why it removes a record with :meth:`remove`; the record then goes to the run's rejected
    file (``--rejected``) with the stage and the reason, and the run report counts it.
    """

    run: Run
    plugins: PluginManager
    log: Logger = attrs.field(factory=lambda: get_logger("datagen.run"))
    stage: str = ""
    #: where the stage runs: ``inputs`` (the seeds) or ``outputs`` (the generated records)
    position: str = ""
    sink: RemoveSink = attrs.field(default=_ignore_removal, repr=False)
    #: builds an LLM client for a stage (set by the runner; see :meth:`llm`)
    llm_factory: Callable[[str | None, str | None], GenerationContext] | None = attrs.field(
        default=None, repr=False
    )

    def remove(self, record: Record, reason: str, **details: Any) -> None:
        """Remove ``record`` from the stream (do not yield it) for ``reason``, e.g. ``too_short``."""
        self.sink(record, self.stage, reason, details)

    @property
    def demand(self) -> Demand:
        """How many records the run still wants (read-only): ask it rather than the run's counters."""
        return Demand(self.run)

    def wanted(self) -> int | None:
        """How many more records the run wants out of its output stages, or None when every record is
        wanted (input stages, a pass over a file). A stage that gathers records into batches flushes
        a batch once it holds that many, so a run never waits on, nor pays for, records it does not
        need."""
        if self.position != "outputs" or self.run.count <= 0:
            return None
        return self.demand.still_wanted()

    def llm(self, backend: str | None = None, model: str | None = None) -> GenerationContext:
        """An LLM for a stage that needs one (an LLM judge): the run's backend and model unless named,
        through an engine with the run's cache, limits and accounting; closed when the run ends."""
        if self.llm_factory is None:
            raise RuntimeError("this run offers stages no LLM")
        return self.llm_factory(backend, model)


@attrs.define
class GenerationContext(RunContext):
    """Handed to generation methods: adds the LLM engine, default sampling and a seeded RNG."""

    engine: Engine | None = None
    rng: random.Random = attrs.field(factory=random.Random)
    #: the run's personas (``[generate] personas``, duplicates removed), in the order jobs take them
    personas: tuple[str, ...] = ()
    #: the personas jobs were given so far (the report's ``personas.used``)
    personas_used: set[str] = attrs.field(factory=set, repr=False)

    @property
    def persona(self) -> str | None:
        """The persona of the job running in this task (None without ``[generate] personas``)."""
        return current_persona()

    def persona_for(self, index: int) -> str | None:
        """The persona of the ``index``-th job: the run's personas in turn (None when it has none)."""
        if not self.personas:
            return None
        return self.personas[index % len(self.personas)]

    @contextlib.contextmanager
    def job_persona(self, index: int) -> Iterator[str | None]:
        """Within this block (and the tasks it starts) requests and templates get the ``index``-th
        job's persona; yields it (None without personas)."""
        persona = self.persona_for(index)
        if persona is not None:
            self.personas_used.add(persona)
        with persona_scope(persona):
            yield persona

    @contextlib.contextmanager
    def without_persona(self) -> Iterator[None]:
        """Within this block requests carry no persona: a judge the job consults rates its answers as
        they are, not as the persona would."""
        with persona_scope(None):
            yield

    @property
    def is_chat(self) -> bool:
        """Whether the backend takes chat messages (else completion prompts for a base model)."""
        return self.require_engine().backend.is_chat

    @property
    def parallelism(self) -> int:
        """How many requests the engine can keep in flight."""
        return self.engine.parallelism if self.engine is not None else 1

    def remaining(self, produced: int, limit: int) -> int:
        """How many more candidates to work on now, having produced ``produced`` of ``limit``
        (:meth:`Demand.remaining`)."""
        return self.demand.remaining(produced, limit)

    def window(self) -> int:
        """How many jobs to keep running at once: the engine's parallelism, at most what the demand
        says is still worth starting."""
        demand = self.demand
        return max(1, min(self.parallelism, demand.remaining(demand.produced, demand.limit)))

    @property
    def backend(self) -> Client:
        """The backend plugin instance this context sends through (its vendor SDK client, for a stage
        that needs more than completions, is its own optional ``client()``, as the OpenAI backend's)."""
        return self.require_engine().backend

    def require_engine(self) -> Engine:
        """The engine; methods that need no LLM never call this."""
        if self.engine is None:
            raise RuntimeError("this run has no backend")
        return self.engine

    def request(
        self,
        *,
        prompt: str | None = None,
        messages: Sequence[Message] | None = None,
        **overrides: Any,
    ) -> Request:
        """A request with the run's sampling defaults, ``overrides`` applied."""
        s = self.run.config.sampling
        params: dict[str, Any] = {
            "max_tokens": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stop": tuple(s.stop),
            "seed": s.seed,
        }
        params.update(overrides)
        attempt = _ATTEMPT.get()
        if attempt:  # a job asked again: every request it sends gets another sampling seed
            params["seed"] = _reseeded(params["seed"], attempt)
        if "stop" in params:
            params["stop"] = tuple(params["stop"])
        language = self.run.config.generate.language
        if language and messages is not None:
            messages = with_system_line(list(messages), language_line(language))
        # the job's persona, for the context that makes its records (not a judge the job consults)
        persona = current_persona() if self.personas else None
        if persona and not _places(persona, prompt, messages):
            if messages is not None:
                messages = with_system_line(list(messages), PERSONA_LINE.format(persona=persona))
            elif prompt is not None:
                prompt = f"Persona: {persona}\n\n{prompt}"
        return Request(messages=tuple(messages) if messages is not None else None, prompt=prompt, **params)

    def record_id(self, *parts: Any) -> str:
        """A deterministic id for a record made from ``parts``, scoped by what produced it: backend,
        model, endpoint identity, default sampling and the method's options. A rerun repeats its ids;
        runs through another backend, model or sampling never share one."""
        s = self.run.config.sampling
        scope: tuple[Any, ...] = (
            self.run.backend if self.engine else None,
            self.run.model if self.engine else None,
            self.engine.identity if self.engine else None,
            (s.temperature, s.top_p, s.max_tokens, s.seed, list(s.stop)),
            self.run.config.method.options.get(self.run.method, {}),
        )
        persona = current_persona() if self.personas else None
        if persona:  # records made for another persona are other records
            scope = (*scope, persona)
        return stable_id(scope, *parts)

    def reject(self, reason: str) -> None:
        """Count a candidate a method filtered out (without logging each one)."""
        self.run.stats.dropped[reason] += 1

    def ask_again(self, request: Request, attempt: int) -> Request:
        """``request`` with another sampling seed for its ``attempt``-th re-ask (counted in the report's
        ``asked_again``): a new answer, not the cached one."""
        self.run.stats.asked_again += 1
        base = request.seed if request.seed is not None else self.run.config.sampling.seed
        return attrs.evolve(request, seed=_reseeded(base, attempt))

    @contextlib.contextmanager
    def attempt(self, number: int) -> Iterator[None]:
        """Within this block the job is on its ``number``-th attempt: the requests :meth:`request`
        builds get another sampling seed (a new answer, not the cached one); from the second attempt on
        it is counted in the report's ``asked_again``."""
        if number:
            self.run.stats.asked_again += 1
        token = _ATTEMPT.set(number)
        try:
            yield
        finally:
            _ATTEMPT.reset(token)

    @property
    def attempt_number(self) -> int:
        """Which attempt at its job the current task is making (0: the first)."""
        return _ATTEMPT.get()

    def drop(self, reason: str, **details: Any) -> None:
        """Count a record the method gave up on, and log why."""
        self.run.stats.dropped[reason] += 1
        self.log.warning("record_dropped", reason=reason, **details)

    async def complete(self, request: Request) -> Response:
        """Send ``request`` through the engine (cache, concurrency, retries, accounting). An answer that
        looped until the token limit raises :class:`~datagen.errors.DegenerateAnswer`."""
        response = await self.require_engine().complete(request)
        kind = degenerate(response.text, response.finish_reason)
        if kind is not None:
            raise DegenerateAnswer(f"degenerate answer ({kind.replace('_', ' ')})", kind)
        return response

    async def complete_json(
        self, request: Request, schema: Mapping[str, Any], *, retries: int = 2
    ) -> StructuredAnswer:
        """A JSON answer valid against ``schema`` (parsed, repaired, validated, retried): its ``value``,
        the response and request it came from, the attempts it took. Raises ``StructuredOutputError``
        when none comes."""
        from datagen._engine.structured import complete_json

        return await complete_json(self.require_engine(), request, schema, retries=retries)

    def provenance(
        self,
        request: Request | None = None,
        response: Response | None = None,
        *,
        seed_ids: Sequence[str] = (),
        parent_id: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Provenance:
        """Provenance for a record made from ``response`` to ``request`` by this run's method."""
        sampling: dict[str, Any] = {}
        if request is not None:
            sampling = {
                k: v
                for k, v in request.payload().items()
                if k not in {"messages", "prompt"} and v not in (None, [], ())
            }
        engine = self.engine
        return Provenance(
            method=self.run.method,
            backend=self.run.backend if engine else None,
            model=(response.model if response and response.model else self.run.model) if engine else None,
            params={**sampling, **(params or {})},
            prompt_hash=request.digest() if request is not None else None,
            seed_ids=tuple(seed_ids),
            parent_id=parent_id,
            usage=response.usage if response else Usage(),
            finish_reason=response.finish_reason if response else None,
        )
