"""Everything a pipeline file must be before any work starts, every problem at once: required
distributions, models, sources, each step's settings and plugin, template references, the order."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from datagen._app.pipefile.graph import order
from datagen._app.pipefile.sources import source_columns, source_format
from datagen._app.pipefile.spec import ExportSpec, LLMStep, Loaded, MethodStep, SamplerStep, StageStep
from datagen._datamodel.config import DatagenConfig, structure
from datagen._kernel.manager import PluginManager
from datagen.errors import ConfigError, DatagenError, UsageError


@attrs.define
class Checked:
    """What checking found: the run order, the sources' columns, the problems."""

    order: list[int]
    columns: list[str]
    problems: list[str]


def requirement_problems(requires: list[str]) -> list[str]:
    """``requires`` entries that are not installed (or not in the version asked), with the pip line."""
    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    for i, text in enumerate(requires):
        try:
            wanted = Requirement(text)
        except InvalidRequirement as exc:
            problems.append(f"$.requires[{i}]: not a requirement: {exc}")
            continue
        try:
            version = md.version(wanted.name)
        except md.PackageNotFoundError:
            problems.append(f"$.requires[{i}]: {wanted.name} is not installed: pip install '{text}'")
            continue
        if wanted.specifier and not wanted.specifier.contains(version, prereleases=True):
            problems.append(
                f"$.requires[{i}]: {wanted.name} {version} is installed, the file needs {text}: "
                f"pip install '{text}'"
            )
    return problems


def plugin_names(loaded: Loaded) -> set[str]:
    """Every plugin the file names (what ``validate`` loads, and nothing else built in)."""
    spec = loaded.spec
    names = {m.backend for m in spec.models.values() if m.backend}
    names |= {s.method for s in spec.sources.values() if s.method}
    names |= {s.plugin for s in spec.steps if isinstance(s, StageStep)}
    names |= {s.method for s in spec.steps if isinstance(s, MethodStep)}
    names |= set(spec.metrics)
    names |= {f"export_{e.to.replace('-', '_')}" for e in spec.output.exports}  # the built-ins' entry points
    return names


def _source_problems(loaded: Loaded, pm: PluginManager, problems: list[str]) -> list[str]:
    spec = loaded.spec
    columns: list[str] = []
    methods = pm.registry("method")
    for name, source in spec.sources.items():
        where = f"$.sources.{name}"
        if bool(source.path) == bool(source.method):
            problems.append(f"{where}: give exactly one of path (a file) and method (a generation method)")
            continue
        if source.method:
            if source.method not in methods:
                problems.append(methods.unknown(source.method, f"{where}.method"))
            if source.model and source.model not in spec.models:
                known = ", ".join(spec.models) or "none"
                problems.append(
                    f"{where}.model: no model named {source.model!r} under models (named: {known})"
                )
            if source.count is None:
                problems.append(f"{where}.count: how many rows the method makes")
            if source.seeds and not loaded.resolve(source.seeds).exists():
                problems.append(f"{where}.seeds: {loaded.resolve(source.seeds)}: no such file")
            problems.extend(_persona_problems(source.personas, loaded, where))
        else:
            assert source.path is not None
            path = loaded.resolve(source.path)
            if not path.exists():
                problems.append(f"{where}.path: {path}: no such file")
                continue
            if not source_format(path, source):
                problems.append(f"{where}.format: cannot tell the format of {path.name}; set format")
                continue
        try:
            columns.extend(c for c in source_columns(loaded, name, source) if c not in columns)
        except DatagenError as exc:
            problems.append(f"{where}: {exc}")
    kinds = {bool(s.method) for s in spec.sources.values()}
    if len(kinds) > 1:
        problems.append(
            "$.sources: rows come either from files or from generation methods, not both; "
            "to run a method over a file's rows, make it a step (method: NAME)"
        )
    if not spec.sources and spec.rows is None:
        problems.append("$.rows: how many rows to make (the file has no source)")
    return columns


def _sampler_problems(loaded: Loaded, step: SamplerStep, where: str) -> list[str]:
    found = []
    if step.sampler == "category":
        if not step.values:
            found.append(f"{where}.values: a category sampler needs values")
        if step.weights and len(step.weights) != len(step.values):
            found.append(f"{where}.weights: {len(step.weights)} weights for {len(step.values)} values")
        if step.weights and (any(w < 0 for w in step.weights) or not sum(step.weights) > 0):
            found.append(f"{where}.weights: weights must be non-negative, not all zero")
    elif step.sampler in {"uniform", "integer"}:
        if step.low is None or step.high is None:
            found.append(f"{where}: a {step.sampler} sampler needs low and high")
        elif step.low > step.high:
            found.append(f"{where}.low: {step.low} is above high ({step.high})")
    elif step.sampler == "list":
        if not step.path:
            found.append(f"{where}.path: a list sampler needs a file of values")
        elif not loaded.resolve(step.path).is_file():
            found.append(f"{where}.path: {loaded.resolve(step.path)}: no such file")
    elif step.sampler == "person":
        found.extend(_person_problems(step, where))
    return found


def _person_problems(step: SamplerStep, where: str) -> list[str]:
    """Faker installed, every locale one of its own, the ages in order."""
    try:
        from faker.config import AVAILABLE_LOCALES
    except ImportError:
        return [f"{where}: the person sampler needs Faker: pip install 'datagen[persons]'"]
    found = [
        f"{where}.locales: {name!r} is not a Faker locale (e.g. en_US, de_DE, fr_FR, ja_JP)"
        for name in step.locales
        if name not in AVAILABLE_LOCALES
    ]
    if not step.locales:
        found.append(f"{where}.locales: at least one locale")
    low, high = step.low if step.low is not None else 18, step.high if step.high is not None else 85
    if not 0 <= low <= high:
        found.append(f"{where}.low: ages from {low} to {high} (0 <= low <= high)")
    return found


def _llm_problems(loaded: Loaded, step: LLMStep, where: str) -> list[str]:
    found = []
    if not step.prompt.strip():
        found.append(f"{where}.prompt: an llm step needs a prompt")
    if step.model and step.model not in loaded.spec.models:
        known = ", ".join(loaded.spec.models) or "none"
        found.append(f"{where}.model: no model named {step.model!r} under models (named: {known})")
    if step.llm == "json":
        if not step.schema:
            found.append(f"{where}.schema: an llm json step needs a JSON Schema")
        else:
            import jsonschema

            try:
                jsonschema.validators.validator_for(step.schema).check_schema(step.schema)
            except jsonschema.SchemaError as exc:
                found.append(f"{where}.schema: not a valid JSON Schema: {exc.message}")
    if step.llm == "judge":
        if not step.rubric:
            found.append(f"{where}.rubric: a judge needs the aspects it rates")
        if len(step.scale) != 2 or step.scale[0] >= step.scale[1]:
            found.append(f"{where}.scale: [lowest, highest] score, lowest first")
    return found


def _method_problems(step: MethodStep, loaded: Loaded, pm: PluginManager, where: str) -> list[str]:
    found = []
    methods = pm.registry("method")
    if step.method not in methods:
        found.append(methods.unknown(step.method, f"{where}.method"))
    if step.model and step.model not in loaded.spec.models:
        known = ", ".join(loaded.spec.models) or "none"
        found.append(f"{where}.model: no model named {step.model!r} under models (named: {known})")
    return [*found, *_persona_problems(step.personas, loaded, where)]


def _persona_problems(personas: str | None, loaded: Loaded, where: str) -> list[str]:
    """A method's persona file must be readable and hold personas."""
    if not personas:
        return []
    from datagen._datamodel.personas import load_personas

    try:
        load_personas(loaded.resolve(personas))
    except UsageError as exc:
        return [f"{where}.personas: {exc}"]
    return []


def _stage_problems(step: StageStep, config: DatagenConfig, pm: PluginManager, where: str) -> list[str]:
    from datagen._app.pipeline import construct

    registry = pm.registry(step.family)
    if step.plugin not in registry:
        return [registry.unknown(step.plugin, f"{where}.{step.family}")]
    cls = registry.get(step.plugin)
    found: list[str] = []
    try:
        options = structure(step.options, cls.Config, path=f"{where}.options")
    except ConfigError as exc:
        return list(exc.problems)
    construct(cls, config, step.family, step.plugin, found, options=options)
    prefix = f"$.{step.family}.{step.plugin}"
    return [f"{where}.options{p[len(prefix) :]}" if p.startswith(prefix) else f"{where}: {p}" for p in found]


def check(loaded: Loaded, config: DatagenConfig, pm: PluginManager) -> Checked:
    """Every problem of ``loaded`` (each ``$.path: what``), the run order and the sources' columns."""
    spec = loaded.spec
    problems = requirement_problems(spec.requires)
    backends = pm.registry("backend")
    for name, model in spec.models.items():
        if model.backend and model.backend not in backends:
            problems.append(backends.unknown(model.backend, f"$.models.{name}.backend"))
    columns = _source_problems(loaded, pm, problems)
    seen: dict[str, int] = {}
    for i, step in enumerate(spec.steps):
        where = f"$.steps[{i}]"
        if step.name in seen:
            problems.append(f"{where}.name: {step.name!r} is already the name of $.steps[{seen[step.name]}]")
        seen.setdefault(step.name, i)
        if isinstance(step, SamplerStep):
            problems.extend(_sampler_problems(loaded, step, where))
        elif isinstance(step, LLMStep):
            problems.extend(_llm_problems(loaded, step, where))
        elif isinstance(step, StageStep):
            problems.extend(_stage_problems(step, config, pm, where))
        elif isinstance(step, MethodStep):
            problems.extend(_method_problems(step, loaded, pm, where))
    run_order = order(spec.steps, columns, problems)
    metrics = pm.registry("metric")
    for i, name in enumerate(spec.metrics):
        if name not in metrics:
            problems.append(metrics.unknown(name, f"$.metrics[{i}]"))
    problems.extend(_export_problems(spec.output.exports, spec.output.format, pm))
    return Checked(run_order, columns, problems)


def _export_problems(exports: list[ExportSpec], fmt: str, pm: PluginManager) -> list[str]:
    """Unknown exporters, options their Config refuses, and paths that are not a plain file name of the
    run directory or that another output takes."""
    problems: list[str] = []
    registry = pm.registry("exporter")
    taken = {f"data.{fmt}", "rejects.jsonl", "report.json"}
    for i, entry in enumerate(exports):
        where = f"$.output.exports[{i}]"
        name = entry.to.replace("-", "_")
        if name not in registry:
            problems.append(registry.unknown(entry.to, f"{where}.to"))
        else:
            try:
                cls = registry.get(name)
                cls(structure(entry.options, cls.Config, path=f"{where}.options"))
            except ConfigError as exc:
                problems.extend(exc.problems)
            except UsageError as exc:
                problems.append(f"{where}.options: {exc}")
        path = Path(entry.path)
        if path.is_absolute() or len(path.parts) != 1 or path.name in taken:
            problems.append(f"{where}.path: {entry.path!r} must be a new file name in the run directory")
        taken.add(path.name)
    return problems


def with_overrides(loaded: Loaded, overrides: Mapping[str, Any], pm: PluginManager) -> None:
    """``--backend``, ``--model``, ``--base-url`` applied to every model of the file (and to the
    default model when the file names none). ``--base-url`` alone puts a model without a backend on
    the backend that declares it talks to any server of its API (``compatible_servers``)."""
    backend, model, base_url = (overrides.get(k) for k in ("backend", "model", "base_url"))
    if not (backend or model or base_url):
        return
    from datagen._app.pipefile.spec import ModelSpec
    from datagen._kernel.capabilities import first_declaring

    compatible = ""
    if base_url and not backend:
        compatible = first_declaring(
            pm, "backend", "compatible_servers", True, "--base-url: no backend talks to compatible servers"
        )

    models = loaded.spec.models or {}
    if "default" not in models:
        models["default"] = ModelSpec()
    for spec in models.values():
        if backend:
            spec.backend = backend
        if model:
            spec.model = model
        if base_url:
            spec.backend = spec.backend or compatible
            spec.options = {**spec.options, "base_url": base_url}
    loaded.spec.models = models
