"""What each kind of step does to a row group: samplers and LLM columns add a column, a condition
removes rows, a stage plugin (any declared stage family) runs on the rows as records.

Every step takes the group's rows (dicts with an ``id``) and returns the rows it keeps and the rows it
removed, each removal with the step, the reason and its details (the rejects table)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen._app.pipefile.graph import environment
from datagen._app.pipefile.spec import (
    KeepStep,
    LLMStep,
    Loaded,
    MethodStep,
    ModelSpec,
    SamplerStep,
    StageStep,
    Step,
    TemplateStep,
)
from datagen._datamodel.config import DatagenConfig, converter, deep_merge, structure
from datagen._datamodel.records import Message, Record, Usage
from datagen._datamodel.run import Run
from datagen._engine.structured import StructuredOutputError
from datagen._kernel.context import GenerationContext
from datagen._kernel.manager import PluginManager
from datagen.errors import UsageError

Row = dict[str, Any]
Reject = dict[str, Any]
#: record fields a row's columns of the same name fill; every other column travels in the metadata
RECORD_FIELDS = ("instruction", "input", "output", "messages")


# ------------------------------------------------------------------------------------------------ models


class Models:
    """The file's named models, each a :class:`GenerationContext` on its own engine (the run's cache,
    limits and accounting), made on first use and closed by :meth:`aclose`."""

    def __init__(self, run: Run, plugins: PluginManager, models: Mapping[str, ModelSpec]) -> None:
        self.run = run
        self.plugins = plugins
        self.models = dict(models)
        self._made: dict[str, GenerationContext] = {}
        self._llms: list[Any] = []  # each model's StageLLMs, which own the engines

    def spec(self, name: str) -> ModelSpec:
        """The named model (empty: ``default``, else the automatic choice with the run's sampling)."""
        return self.models.get(name or "default", ModelSpec())

    def config_for(self, spec: ModelSpec) -> DatagenConfig:
        """The run's config with the model's backend options and sampling on top."""
        return model_config(self.run.config, spec)

    def context(self, name: str) -> GenerationContext:
        """The generation context of the named model."""
        key = name or "default"
        if key not in self._made:
            from datagen._app.pipeline import StageLLMs

            config = self.config_for(self.spec(name))
            llms = StageLLMs(attrs.evolve(self.run, config=config), self.plugins)
            self._made[key] = llms(None, None)
            self._llms.append(llms)
        return self._made[key]

    async def aclose(self) -> None:
        """Close every engine."""
        for llms in self._llms:
            await llms.aclose()
        self._made.clear()
        self._llms.clear()


def left_of_budget(config: DatagenConfig, run: Run) -> dict[str, Any]:
    """``[engine] max_tokens`` and ``max_cost_usd`` less what ``run`` has spent (for a run of its own
    that must stay inside the file's budget); a budget already spent is an error before any request."""
    from datagen.errors import BudgetExhausted

    engine, usage = config.engine, run.stats.usage
    left: dict[str, Any] = {}
    if engine.max_tokens is not None:
        if usage.total_tokens >= engine.max_tokens:
            raise BudgetExhausted(
                f"token budget reached: {usage.total_tokens} of max_tokens={engine.max_tokens}"
            )
        left["max_tokens"] = engine.max_tokens - usage.total_tokens
    if engine.max_cost_usd is not None and usage.cost_usd is not None:
        if usage.cost_usd >= engine.max_cost_usd:
            raise BudgetExhausted(
                f"cost budget reached: ${usage.cost_usd:.4f} of max_cost_usd={engine.max_cost_usd}"
            )
        left["max_cost_usd"] = engine.max_cost_usd - usage.cost_usd
    return left


def charge(run: Run, counters: Mapping[str, float]) -> None:
    """Count tokens and cost spent outside the run's engines (a resumed group's, as its checkpoint
    says; a generation method's own run) against the run's budget (``[engine] max_tokens``,
    ``max_cost_usd``), which the engines check before every request: the budget is the whole run
    directory's, across steps, methods and resumes."""
    spent = Usage(
        int(counters.get("input_tokens", 0)), int(counters.get("output_tokens", 0)),
        float(counters.get("cost_usd", 0.0)),
    )  # fmt: skip
    run.stats.usage = run.stats.usage + spent  # (an unknown cost stays unknown)


def model_config(config: DatagenConfig, spec: ModelSpec) -> DatagenConfig:
    """``config`` with a named model's backend, model, backend options and sampling on top."""
    extra: dict[str, Any] = {}
    if spec.backend:
        extra["backend"] = {"name": spec.backend, **({spec.backend: spec.options} if spec.options else {})}
    if spec.model:
        extra.setdefault("backend", {})["model"] = spec.model
    sampling = {
        k: v
        for k, v in {
            "temperature": spec.temperature,
            "top_p": spec.top_p,
            "max_tokens": spec.max_tokens,
        }.items()
        if v is not None
    }
    if sampling:
        extra["sampling"] = sampling
    if not extra:
        return config
    return structure(deep_merge(converter.unstructure(config), extra), DatagenConfig)


# ------------------------------------------------------------------------------------------ row helpers


def row_to_record(row: Row) -> Record:
    """A row as a record: its record fields, every other column in the metadata."""
    messages = row.get("messages")
    fields: dict[str, Any] = {}
    for key in ("instruction", "input", "output"):
        value = row.get(key)
        fields[key] = value if value is None or isinstance(value, str) else json.dumps(value)
    return Record(
        id=str(row["id"]),
        messages=tuple(Message(m["role"], m["content"]) for m in messages) if messages else None,
        metadata={k: v for k, v in row.items() if k not in RECORD_FIELDS and k != "id"},
        **fields,
    )


def record_to_row(record: Record, original: Row) -> Row:
    """A record back as a row with the original's columns (and any column a stage added)."""
    row: Row = {"id": record.id}
    for key in RECORD_FIELDS:
        value = getattr(record, key)
        if key == "messages" and value is not None:
            value = [{"role": m.role, "content": m.content} for m in value]
        if key in original or value is not None:
            row[key] = value
    row.update(record.metadata)
    return row


def reject(row: Row, step: str, reason: str, **details: Any) -> Reject:
    """One entry of the rejects table: the row's id, the step, the reason, and details (an LLM step's
    ``attempts``: how many times the row's request was asked)."""
    return {"id": row["id"], "step": step, "reason": reason, "details": details}


# -------------------------------------------------------------------------------------------------- steps


class StepRun:
    """A step bound to a run: ``apply(rows)`` → (kept rows, rejects)."""

    #: whether a resumed row group's kept rows must be shown to it again (its decisions depend on the
    #: rows before, as a dedup filter's do)
    remembers: bool = False

    def __init__(self, step: Step) -> None:
        self.step = step
        #: what the last ``apply`` spent outside the run's counters (a method's own engine)
        self.spent: dict[str, float] = {}
        #: what the last ``apply``'s method gave up on, by reason (rejects entries with a count)
        self.gave_up: list[Reject] = []
        #: what the method of the last ``apply`` reported of its own (a method step's)
        self.details: dict[str, Any] = {}
        #: requests the step's engine let in flight at once, as it last stood (LLM steps; what ``plan``
        #: scales its seconds by)
        self.concurrency: int | None = None
        #: how the step's engine charges a token limit, ``reserved`` or ``used`` (LLM steps; what
        #: ``plan`` counts the tokens of a configured ``tokens_per_minute`` by)
        self.token_charge: str | None = None

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        """The rows kept (with this step's column) and the removals."""
        raise NotImplementedError

    async def replay(self, rows: list[Row]) -> None:
        """Show a resumed group's kept rows to a step that remembers (nothing for the others)."""

    async def aclose(self) -> None:
        """Release what the step holds."""


class Sampler(StepRun):
    """A column drawn without a model; each row's value depends on the file's seed, the step and the
    row's id only, so any row-group size gives the same rows."""

    step: SamplerStep

    def __init__(self, step: SamplerStep, loaded: Loaded) -> None:
        super().__init__(step)
        self.seed = loaded.spec.seed
        self.values: list[Any] = list(step.values)
        self.fakers: dict[str, Any] = {}
        if step.sampler == "list":
            assert step.path is not None
            self.values = list_values(loaded.resolve(step.path))
        if step.sampler == "person":
            from faker import Faker

            self.fakers = {name: Faker(name) for name in step.locales}

    def draw(self, row: Row) -> Any:
        """This row's value."""
        step = self.step
        rng = random.Random(f"{self.seed}:{step.name}:{row['id']}")
        if step.sampler == "person":
            return self.person(rng)
        if step.sampler == "category":
            return rng.choices(self.values, weights=step.weights or None)[0]
        if step.sampler == "list":
            return rng.choice(self.values)
        assert step.low is not None and step.high is not None
        if step.sampler == "integer":
            return rng.randint(int(step.low), int(step.high))
        value = rng.uniform(step.low, step.high)
        return round(value, step.decimals) if step.decimals is not None else value

    def person(self, rng: random.Random) -> dict[str, Any]:
        """A made-up person: a locale, a sex and an age from ``rng``, the rest from that locale's Faker
        seeded from ``rng`` (so the person depends on the seed, the step and the row id only)."""
        import unicodedata

        step = self.step
        locale = rng.choice(step.locales)
        fake = self.fakers[locale]
        fake.seed_instance(rng.getrandbits(64))
        sex = rng.choice(("female", "male"))
        first = fake.first_name_female() if sex == "female" else fake.first_name_male()
        last = fake.last_name()
        low = int(step.low) if step.low is not None else 18
        high = int(step.high) if step.high is not None else 85
        handle = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode()
        handle = "".join(c for c in handle.lower() if c.isalnum() or c == ".").strip(".") or "person"
        return {
            "name": f"{first} {last}", "first_name": first, "last_name": last, "sex": sex,
            "age": rng.randint(low, high), "city": fake.city(), "country": _country(fake),
            "occupation": fake.job(), "email": f"{handle}@{fake.free_email_domain()}", "locale": locale,
        }  # fmt: skip

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        return [{**row, self.step.name: self.draw(row)} for row in rows], []


def _country(fake: Any) -> str | None:
    """The locale's country (None where Faker cannot name one, as for ``en_MS``)."""
    try:
        return str(fake.current_country())
    except ValueError:
        return None


def list_values(path: Any) -> list[Any]:
    """The values of a list file: a JSONL file's records (a persona file), else its non-blank lines."""
    from pathlib import Path

    file = Path(path)
    lines = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if file.suffix.lower() in {".jsonl", ".ndjson"}:
        return [json.loads(line) for line in lines]
    return [line.strip() for line in lines]


def judge_schema(rubric: Sequence[str], scale: Sequence[int]) -> dict[str, Any]:
    """The JSON Schema of a judge's answer: a score in ``scale`` and a rationale per aspect."""
    low, high = scale[0], scale[-1]
    aspect = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": low, "maximum": high},
            "rationale": {"type": "string"},
        },
        "required": ["score", "rationale"],
    }
    return {"type": "object", "properties": dict.fromkeys(rubric, aspect), "required": list(rubric)}


class LLMColumn(StepRun):
    """A column an LLM writes for each row, the rows of a group asked concurrently (the engine's
    limiter, cache and retries in front). A row whose answer never came, or never parsed against the
    schema, is removed with the reason; nothing is guessed."""

    step: LLMStep

    def __init__(self, step: LLMStep, models: Models) -> None:
        super().__init__(step)
        env = environment()
        self.prompt = env.from_string(step.prompt)
        self.system = env.from_string(step.system) if step.system else None
        self.models = models
        self.schema = step.schema
        if step.llm == "judge":
            self.schema = judge_schema(step.rubric, step.scale)

    def render(self, row: Row) -> tuple[str, str | None]:
        """The prompt and system text for ``row``."""
        names = {**row, "row": row}
        prompt = self.prompt.render(**names)
        if self.step.llm == "judge":
            low, high = self.step.scale[0], self.step.scale[-1]
            prompt += (
                f"\n\nRate the above on each aspect from {low} (worst) to {high} (best): "
                + ", ".join(self.step.rubric)
                + '. Answer with JSON only: {"ASPECT": {"score": N, "rationale": "one sentence"}, ...}.'
            )
        return prompt, self.system.render(**names) if self.system else None

    async def one(self, ctx: GenerationContext, row: Row) -> tuple[Row | None, Reject | None]:
        from datagen._kernel.methods import request_for, try_complete

        prompt, system = self.render(row)
        request = request_for(ctx, prompt, system=system)
        if self.schema is None:
            response = await try_complete(ctx, request, f"llm_failed:{self.step.name}")
            if response is None or not response.text.strip():
                return None, reject(row, self.step.name, "no_answer")
            return {**row, self.step.name: response.text.strip()}, None
        try:
            answer = await ctx.complete_json(request, self.schema)
        except StructuredOutputError as exc:
            details = {"error": str(exc)[:200], "attempts": exc.attempts}
            return None, reject(row, self.step.name, "unparsed_answer", **details)
        return {**row, self.step.name: answer.value}, None

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        ctx = self.models.context(self.step.model)
        done = await asyncio.gather(*(self.one(ctx, row) for row in rows))
        engine = ctx.require_engine()
        self.concurrency, self.token_charge = max(1, int(engine.limit.limit)), engine.token_charge
        return [r for r, _ in done if r is not None], [x for _, x in done if x is not None]


class Template(StepRun):
    """A column rendered from a Jinja template over the row."""

    step: TemplateStep

    def __init__(self, step: TemplateStep) -> None:
        super().__init__(step)
        self.template = environment().from_string(step.template)

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        from jinja2 import TemplateError

        out = []
        for row in rows:
            try:
                out.append({**row, self.step.name: self.template.render(**row, row=row)})
            except TemplateError as exc:
                raise UsageError(f"step {self.step.name!r}: template on row {row['id']}: {exc}") from None
        return out, []


@attrs.define
class MethodRows:
    """A method source's rows for one group, what making them cost and what the method rejected."""

    rows: list[Row]
    counters: dict[str, float]
    rejected: list[Reject]
    #: what the method reports of its own (``RunReport.method_details``), for this group
    details: dict[str, Any] = attrs.field(factory=dict)


async def run_method(
    prepared: Any,
    *,
    name: str,
    method: str,
    options: dict[str, Any],
    model_name: str,
    seeds: list[Any],
    count: int,
    group: int,
    row_id: Callable[[int], str],
    carry: dict[str, Row] | None = None,
    spend: Run | None = None,
    personas: Path | None = None,
) -> MethodRows:
    """``count`` records of a generation method on ``seeds`` with the named model, as rows (ids from
    ``row_id``), with what they cost and the method's rejections by reason (a method source's rows, or
    a method step's). With ``carry`` (seed id → row) a record made from one seed (its provenance's
    ``seed_ids``, else ``parent_id``) takes that row's other columns. With ``spend`` (the pipeline's
    run) the method's run gets what is left of the file's token and cost budget, and what it spent is
    charged to it."""
    from datagen._app.runner import execute, prepare as prepare_run

    model = prepared.loaded.spec.models.get(model_name or "default", ModelSpec())
    raw = deep_merge(
        converter.unstructure(model_config(prepared.config, model)),
        {
            "method": {method: options},
            "generate": {
                "random_seed": prepared.loaded.spec.seed * 100_003 + group,
                "require_count": False,
                **({"personas": str(personas)} if personas is not None else {}),
            },
        },
    )
    if spend is not None:
        raw["engine"].update(left_of_budget(prepared.config, spend))
    run = prepare_run(structure(raw, DatagenConfig), prepared.plugins, seeds, count=count, method=method)
    results = await execute(run, prepared.plugins)
    report = results.report
    assert report is not None
    if spend is not None:
        charge(spend, {"input_tokens": report.prompt_tokens, "output_tokens": report.completion_tokens,
                       "cost_usd": report.cost_usd or 0.0})  # fmt: skip
    counters = {
        "requests": report.requests,
        "cached": report.cached,
        "input_tokens": report.prompt_tokens,
        "output_tokens": report.completion_tokens,
        "cost_usd": report.cost_usd or 0.0,
        "seconds": report.elapsed_s,
    }
    rejected = [
        {"id": f"{name}-group{group}", "step": name, "reason": reason, "details": {"count": n}}
        for reason, n in report.method_rejections.items()
    ]
    rows = []
    for k, record in enumerate(results):
        row: Row = {**record_to_row(record, {}), "id": row_id(k)}
        if carry:
            prov = record.provenance
            origin = (prov.seed_ids[0] if len(prov.seed_ids) == 1 else prov.parent_id) if prov else None
            for key, value in carry.get(origin or "", {}).items():
                row.setdefault(key, value)
        rows.append(row)
    return MethodRows(rows, counters, rejected, dict(report.method_details))


class MethodRun(StepRun):
    """A generation method over the group's rows as seeds; its records replace the rows."""

    step: MethodStep

    def __init__(self, step: MethodStep, prepared: Any, run: Run) -> None:
        super().__init__(step)
        self.prepared = prepared
        self.run = run

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        step, first = self.step, str(rows[0]["id"])
        seeds = [row_to_record(row) for row in rows]
        made = await run_method(
            self.prepared, name=step.name, method=step.method, options=step.options, model_name=step.model,
            seeds=seeds, count=len(rows) * step.per_row, group=0,
            row_id=lambda k: f"{step.name}-{first}-{k:04d}", carry={str(r["id"]): r for r in rows},
            spend=self.run, personas=self.prepared.loaded.resolve(step.personas) if step.personas else None,
        )  # fmt: skip
        # its tokens and cost are charged to the run (so the step's delta counts them) and its time
        # is the step's: only the requests, counted by the method's own run, are added
        self.spent = {k: made.counters[k] for k in ("requests", "cached")}
        self.gave_up = made.rejected
        self.details = made.details
        return made.rows, []


class Condition(StepRun):
    """Rows for which the expression is false are removed with reason ``keep:NAME``."""

    step: KeepStep

    def __init__(self, step: KeepStep) -> None:
        super().__init__(step)
        self.test = environment().compile_expression(step.keep, undefined_to_none=False)

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        from jinja2 import TemplateError

        kept, removed = [], []
        for row in rows:
            try:
                ok = self.test(**row, row=row)
            except TemplateError as exc:
                raise UsageError(f"step {self.step.name!r}: keep on row {row['id']}: {exc}") from None
            if ok:
                kept.append(row)
            else:
                removed.append(reject(row, self.step.name, f"keep:{self.step.name}"))
        return kept, removed


class StageRun(StepRun):
    """A stage plugin (filter, privacy, any declared stage family) over the rows as records; the same
    plugin instance sees every row group, so a dedup filter remembers across groups."""

    step: StageStep

    def __init__(self, step: StageStep, plugin: Any, run: Run, plugins: PluginManager) -> None:
        from datagen._app.pipeline import StageLLMs
        from datagen._datamodel.families import FAMILIES
        from datagen._kernel.stages import Pipeline, StageSpec

        super().__init__(step)
        self.removed: list[Reject] = []
        self.remembers = bool(getattr(type(plugin), "remembers", False))
        self.llms = StageLLMs(run, plugins)
        lists = FAMILIES[step.family].stage_lists
        position = next((sl.position for sl in lists if sl.position == "outputs"), lists[0].position)
        self.pipeline = Pipeline(
            run,
            plugins,
            [StageSpec(step.family, position, step.plugin, plugin)],
            sink=self._sink,
            llm_factory=self.llms,
        )
        self.pipeline.start()
        self.originals: dict[str, Row] = {}
        self.advised = False

    def _sink(self, record: Record, report: Any, reason: str, details: Mapping[str, Any]) -> None:
        original = self.originals.get(record.id, {"id": record.id})
        safe = {k: v for k, v in details.items() if isinstance(v, str | int | float | bool) or v is None}
        self.removed.append(reject(original, self.step.name, reason, **safe))

    async def _run(self, rows: list[Row]) -> list[Row]:
        from datagen._kernel.stages import aiter_of

        self.originals = {str(row["id"]): row for row in rows}
        records = [row_to_record(row) for row in rows]
        if not self.advised and records:
            self.pipeline.advise(records[:50])
            self.advised = True
        kept = []
        stream = self.pipeline.chain([0], aiter_of(records))
        async for record in stream:
            kept.append(record_to_row(record, self.originals.get(record.id, {})))
        return kept

    async def apply(self, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
        self.removed = []
        kept = await self._run(rows)
        return kept, self.removed

    async def replay(self, rows: list[Row]) -> None:
        if self.remembers:
            await self._run(rows)
            self.removed = []

    async def aclose(self) -> None:
        await self.llms.aclose()

    def budget_spent(self) -> dict[str, Any]:
        """Privacy budget the stage spent."""
        return dict(self.pipeline.spent())
