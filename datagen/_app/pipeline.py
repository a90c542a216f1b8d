"""Stages from the config, and the stages run on existing records (``datagen filter``, ``Results.apply``)."""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from datagen._datamodel.config import DatagenConfig, as_config
from datagen._datamodel.families import stage_families, stage_lists
from datagen._datamodel.records import Record, utc_now
from datagen._datamodel.report import RunReport
from datagen._datamodel.results import RecordWriter, RejectedWriter, Results
from datagen._datamodel.run import Run
from datagen._engine.cache import ResponseCache
from datagen._engine.core import Engine
from datagen._kernel.context import GenerationContext
from datagen._kernel.manager import PluginManager, load_plugins_for
from datagen._kernel.stages import ADVICE_SAMPLE, Pipeline, RejectSink, StageReport, StageSpec, aiter_of
from datagen.errors import ConfigError, UsageError
from datagen.log import get_logger

log = get_logger("datagen.pipeline")


def build_stages(
    config: DatagenConfig, pm: PluginManager, problems: list[str] | None = None
) -> list[StageSpec]:
    """A plugin instance for every configured stage, in run order (every declared family's stage
    lists, :func:`datagen._datamodel.families.stage_lists`). Problems (unknown names, bad options, a
    plugin refusing its config) are appended to ``problems`` when given, else raised at once."""
    collect: list[str] = [] if problems is None else problems
    specs: list[StageSpec] = []
    for declared, stage_list in stage_lists():
        family, position, key = declared.name, stage_list.position, f"{declared.name}.{stage_list.key}"
        names: list[str] = getattr(config.section(family), stage_list.key)
        registry = pm.registry(family)
        for i, name in enumerate(names):
            where = f"$.{key}[{i}]"
            if name not in registry:
                collect.append(registry.unknown(name, where))
                continue
            cls = registry.get(name)
            plugin = construct(cls, config, family, name, collect)
            if plugin is not None:
                specs.append(StageSpec(family, position, name, plugin))
    language = config.generate.language
    if language:
        checker = _language_checker(config, pm, specs, language, collect)
        if checker is not None:
            last_filter = max((i for i, s in enumerate(specs) if s.family == "filter"), default=-1)
            specs.insert(last_filter + 1, checker)
    if problems is None and collect:
        raise ConfigError(collect)
    return specs


def _language_checker(
    config: DatagenConfig, pm: PluginManager, specs: list[StageSpec], code: str, problems: list[str]
) -> StageSpec | None:
    """The filter that declares ``checks_language``, keeping records in ``code`` (``[generate] language``);
    None when the chain already has it (its own ``languages`` then apply)."""
    from datagen._kernel.capabilities import declaring

    able = declaring(pm, "filter", "checks_language")
    if not able:
        problems.append(
            "$.generate.language: no installed filter checks languages (checks_language); "
            "pip install 'datagen[language]'"
        )
        return None
    if any(s.family == "filter" and s.name in able for s in specs):
        return None
    name = able[0]
    cls = pm.registry("filter").get(name)
    options = config.plugin_config("filter", name, cls.Config)
    plugin = construct(cls, config, "filter", name, problems, options=attrs.evolve(options, languages=[code]))
    return StageSpec("filter", "outputs", name, plugin) if plugin is not None else None


def construct(
    cls: Any, config: DatagenConfig, family: str, name: str, problems: list[str], *, options: Any = None
) -> Any:
    """``cls(its options)``, or None with the problems appended (bad options, a refusing constructor).
    ``options`` are the plugin's structured config when the caller already has them."""
    try:
        return cls(options if options is not None else config.plugin_config(family, name, cls.Config))
    except ConfigError as exc:
        problems.extend(exc.problems)
    except UsageError as exc:
        text = str(exc)
        problems.append(text if text.startswith("$.") else f"$.{family}.{name}: {text}")
    return None


def _resolve_names(stages: Sequence[str | tuple[str, str]], pm: PluginManager) -> dict[str, list[str]]:
    """The stage names by family: ``(family, name)`` pairs as given, a bare name in the first stage
    family (in run order: filter, then privacy) that has a member of that name."""
    families = stage_families()
    out: dict[str, list[str]] = {f.name: [] for f in families}
    for stage in stages:
        family, name = stage if isinstance(stage, tuple) else ("", stage)
        if not family:
            family = next((f.name for f in families if name in pm.registry(f.name)), families[0].name)
        if family not in out:
            known = ", ".join(repr(f.name) for f in families)
            raise UsageError(f"stage {stage!r}: the family must be one that runs stages ({known})")
        out[family].append(name)
    return out


def output_stage_config(config: DatagenConfig, names: Mapping[str, Sequence[str]]) -> DatagenConfig:
    """A copy of ``config`` whose stages are ``names`` (family → stage names) on the output: every
    output stage list of such a family holds them, every other stage list is empty."""
    sections = {}
    for family in stage_families():
        changes: dict[str, Any] = {
            s.key: list(names.get(family.name, ())) if s.position == "outputs" else []
            for s in family.stage_lists
        }
        sections[family.name] = attrs.evolve(config.section(family.name), **changes)
    return config.with_sections(**sections)


def configured_output_stages(config: DatagenConfig) -> dict[str, list[str]]:
    """The config's output stage names by family (what ``datagen filter`` runs without flags)."""
    out: dict[str, list[str]] = {}
    for family, stage_list in stage_lists():
        if stage_list.position == "outputs":
            out.setdefault(family.name, []).extend(getattr(config.section(family.name), stage_list.key))
    return out


def apply_stages(
    records: Iterable[Record],
    stages: Sequence[str | tuple[str, str]] = (),
    *,
    config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    plugins: PluginManager | None = None,
    out: str | os.PathLike[str] | None = None,
    rejected: str | os.PathLike[str] | None = None,
    overwrite: bool = True,
    shape: Callable[[Record], dict[str, Any]] | None = None,
) -> Results:
    """Run stages (filter, privacy, ...) over existing ``records``: the named ``stages`` when given, else
    the config's output stage lists (``[filter] chain`` then ``[privacy] outputs``). Returns the kept
    records with a report; ``out`` gets them as records, or as ``shape`` makes each row."""
    cfg = as_config(config)
    pm = plugins or load_plugins_for(cfg)
    # a copy: the caller's config keeps its own stage lists
    names = _resolve_names(stages, pm) if stages else configured_output_stages(cfg)
    cfg = output_stage_config(cfg, names)
    from datagen._kernel.options import validate_plugin_options

    validate_plugin_options(cfg, pm)
    specs = build_stages(cfg, pm)
    out_path = Path(out) if out is not None else None
    if out_path is not None:
        from datagen._datamodel.results import check_writable

        check_writable(out_path, overwrite=overwrite)
    run = Run(config=cfg, method="filter", backend="", model=None, count=0, out=out_path)
    from datagen._engine.concurrency import run_sync

    results: Results = run_sync(
        _apply(run, pm, specs=specs, records=records, out=out_path, rejected=rejected, shape=shape)
    )
    return results


async def _apply(
    run: Run,
    pm: PluginManager,
    *,
    specs: list[StageSpec],
    records: Iterable[Record],
    out: Path | None,
    rejected: str | os.PathLike[str] | None,
    shape: Callable[[Record], dict[str, Any]] | None = None,
) -> Results:
    started, t0 = utc_now(), time.monotonic()
    rejects = RejectedWriter(rejected) if rejected is not None else None
    llms = StageLLMs(run, pm)
    pipeline = Pipeline(run, pm, specs, sink=reject_sink(rejects), llm_factory=llms)
    writer = RecordWriter(out, shape=shape) if out is not None else None
    kept: list[Record] = []
    examined = 0

    iterator = iter(records)
    head = list(itertools.islice(iterator, ADVICE_SAMPLE))

    def source() -> Iterable[Record]:
        nonlocal examined
        for record in itertools.chain(head, iterator):
            examined += 1
            yield record

    try:
        pipeline.start()
        pipeline.advise(head)  # before any work: options that do not fit the data (the first records)
        stream = pipeline.chain(range(len(specs)), aiter_of(source()))
        async with contextlib.aclosing(stream):
            async for record in stream:
                if writer is not None:
                    writer.write(record)
                else:
                    kept.append(record)
    except BaseException:
        if writer is not None:
            writer.abort()
        if rejects is not None:
            rejects.abort()
        raise
    finally:
        await llms.aclose()
    written = writer.count if writer is not None else len(kept)
    if writer is not None:
        if written:
            writer.close()
        else:  # no record left: no file that looks like a result
            writer.abort()
            out = None
    if rejects is not None:
        rejects.close()
    results = Results.scan(out) if out is not None else Results(kept)
    report = RunReport(
        run_id=run.id,
        kind="filter",
        requested=None,
        written=written,
        generated=examined,
        status="complete" if written else "empty",
        started_at=started,
        finished_at=utc_now(),
        elapsed_s=round(time.monotonic() - t0, 3),
        stages=[r.to_dict() for r in pipeline.reports],
        privacy_spent=pipeline.spent(),
        plugins=plugin_versions(pm, specs),
        out=str(out) if out is not None else None,
        rejected_file=str(rejects.path) if rejects is not None else None,
    )
    results.report = report
    return results


class StageLLMs:
    """The LLM clients stages ask for (``ctx.llm()``): one engine per backend and model, with the run's
    cache, limits and accounting, closed by :meth:`aclose` when the run ends."""

    def __init__(self, run: Run, plugins: PluginManager) -> None:
        self.run = run
        self.plugins = plugins
        self._contexts: dict[tuple[str, str | None], GenerationContext] = {}

    def __call__(self, backend: str | None, model: str | None) -> GenerationContext:
        from datagen._app.backend_choice import resolve_backend_name, run_prices

        config = self.run.config
        name = backend or resolve_backend_name(config, self.plugins)
        key = (name, model)
        if key not in self._contexts:
            cls = self.plugins.registry("backend").get(name)
            options = config.plugin_config("backend", name, cls.Config)
            chosen = model or (config.backend.model if backend is None else None)  # the run's model
            if chosen and hasattr(options, "model"):
                options = attrs.evolve(options, model=chosen)
            instance = cls(options)
            instance.validate()
            cache = ResponseCache(config.cache.dir) if config.cache.enabled else None
            engine = Engine(
                instance,
                config.engine,
                self.run.stats,
                backend_name=name,
                cache=cache,
                prices=run_prices(config, self.plugins, name),
                identity=config.cache.identity,
            )
            run = attrs.evolve(self.run, backend=name, model=instance.model)
            self._contexts[key] = GenerationContext(
                run=run, plugins=self.plugins, engine=engine, llm_factory=self
            )
        return self._contexts[key]

    async def aclose(self) -> None:
        """Close every engine (and its backend and cache)."""
        for ctx in self._contexts.values():
            engine = ctx.require_engine()
            await engine.aclose()
            if engine.cache is not None:
                engine.cache.close()
        self._contexts.clear()


def reject_sink(writer: RejectedWriter | None) -> RejectSink | None:
    """The pipeline's sink writing removed records to ``writer``."""
    if writer is None:
        return None

    def sink(record: Record, report: StageReport, reason: str, details: Mapping[str, Any]) -> None:
        writer.write(record, report.name, report.family, reason, details)

    return sink


def plugin_versions(
    pm: PluginManager, specs: Sequence[StageSpec], *names: tuple[str, str]
) -> dict[str, str | None]:
    """``family:name`` → the version of the distribution that provides it, for the report."""
    versions = {i.name: i.version for i in pm.plugin_infos()}
    out: dict[str, str | None] = {}
    wanted = [(s.family, s.name) for s in specs] + list(names)
    for family, name in wanted:
        registry = pm.registry(family)
        if name in registry:
            out[f"{family}:{name}"] = versions.get(registry.entry(name).plugin)
    return out
