"""The pipeline file's schema (attrs classes structured by the config's cattrs converter) and its
reading: YAML or TOML, every problem found at once, each named ``file:line:column: $.key.path: what``.

A file has ``models`` (named backends and sampling), ``sources`` (rows from files, or from a generation
method), ``steps`` (columns from samplers or an LLM, conditions, and the stage plugins of any declared
family by name), ``metrics`` over the result, ``output`` and any datagen ``config`` key."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from datagen._app.pipefile.positions import Position, position_of, toml_positions, yaml_positions
from datagen._datamodel.config import NON_NEGATIVE, POSITIVE, problems_of
from datagen.errors import ConfigError

#: formats a source may have (a directory is a Hugging Face ``datasets`` dataset saved to disk)
SOURCE_FORMATS = ("jsonl", "json", "csv", "parquet", "hf")
SAMPLERS = ("category", "uniform", "integer", "list")
LLM_KINDS = ("text", "json", "judge")
OUTPUT_FORMATS = ("jsonl", "parquet")


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            named = ", ".join(c for c in choices if c)
            raise ValueError(f"expected one of {named}, got {value!r}")

    return check


def _optional(validator: Any) -> Any:
    return attrs.validators.optional(validator)


@attrs.define
class ModelSpec:
    """``models.NAME``: a backend, a model and its sampling; ``options`` are the backend's own keys
    (``[backend.NAME]``: ``base_url``, ...)."""

    #: a backend plugin's name; empty: the automatic choice (an API key's provider, else embedded)
    backend: str = ""
    model: str | None = None
    temperature: float | None = attrs.field(default=None, validator=_optional(NON_NEGATIVE))
    top_p: float | None = None
    max_tokens: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class SourceSpec:
    """``sources.NAME``: rows read from ``path``, or made by a generation ``method``."""

    path: str | None = None
    #: by the file's suffix when empty (a directory: ``hf``)
    format: str = attrs.field(default="", validator=_one_of(("", *SOURCE_FORMATS)))
    #: which columns to keep and their new names (``{question: instruction}``); empty keeps all
    columns: dict[str, str] = attrs.field(factory=dict)
    limit: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    #: a generation method making the rows (``self_instruct``), ``count`` of them, from ``seeds``
    method: str | None = None
    count: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    seeds: str | None = None
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class OutputSpec:
    """``output``: the dataset file's format and which columns it keeps (empty: all)."""

    format: str = attrs.field(default="jsonl", validator=_one_of(OUTPUT_FORMATS))
    columns: list[str] = attrs.field(factory=list)


@attrs.define
class SamplerStep:
    """A column made without a model: ``category`` (``values``, optional ``weights``), ``uniform``
    (``low``, ``high``, optional ``decimals``), ``integer`` (``low``..``high`` inclusive) or ``list``
    (a value per line of ``path``, or per record of a JSONL file; persona files are such lists)."""

    kind: ClassVar[str] = "sampler"
    name: str
    sampler: str = attrs.field(validator=_one_of(SAMPLERS))
    values: list[Any] = attrs.field(factory=list)
    weights: list[float] = attrs.field(factory=list)
    low: float | None = None
    high: float | None = None
    decimals: int | None = None
    path: str | None = None


@attrs.define
class LLMStep:
    """A column an LLM writes: ``text``, ``json`` (valid against ``schema``) or ``judge`` (a score and
    a rationale per ``rubric`` aspect on ``scale``); ``prompt`` and ``system`` are Jinja templates over
    the row's columns."""

    kind: ClassVar[str] = "llm"
    name: str
    llm: str = attrs.field(validator=_one_of(LLM_KINDS))
    prompt: str = ""
    system: str | None = None
    #: a name under ``models`` (empty: the model named ``default``, else the automatic choice)
    model: str = ""
    schema: dict[str, Any] | None = None
    rubric: list[str] = attrs.field(factory=list)
    scale: list[int] = attrs.field(factory=lambda: [1, 5])


@attrs.define
class TemplateStep:
    """A column from a Jinja template over the row's columns, without a model (an instruction put
    together from sampled parts)."""

    kind: ClassVar[str] = "template"
    name: str
    template: str


@attrs.define
class KeepStep:
    """A condition: rows for which the Jinja expression ``keep`` is false are removed (reason
    ``keep:NAME``), e.g. ``review_score.helpfulness.score >= 3``."""

    kind: ClassVar[str] = "keep"
    name: str
    keep: str


@attrs.define
class StageStep:
    """A stage plugin of a declared family by its name (``filter: length``, ``privacy: pii``) with
    its ``options`` (the keys of ``[FAMILY.NAME]``)."""

    kind: ClassVar[str] = "stage"
    name: str
    family: str
    plugin: str
    options: dict[str, Any] = attrs.field(factory=dict)


Step = SamplerStep | TemplateStep | LLMStep | KeepStep | StageStep


@attrs.define
class PipelineSpec:
    """The whole file."""

    name: str = ""
    description: str = ""
    #: seeds the samplers (each row's values depend on it, the step and the row, not on row groups)
    seed: int = 0
    #: how many rows: the samplers' count without a source, else the most read from the sources
    rows: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    #: rows per row group: the unit of work and of checkpoints
    row_group: int = attrs.field(default=100, validator=POSITIVE)
    #: distributions the file needs (``datagen-presidio>=0.1``), checked before any work
    requires: list[str] = attrs.field(factory=list)
    models: dict[str, ModelSpec] = attrs.field(factory=dict)
    sources: dict[str, SourceSpec] = attrs.field(factory=dict)
    steps: list[Step] = attrs.field(factory=list)
    metrics: list[str] = attrs.field(factory=list)
    output: OutputSpec = attrs.field(factory=OutputSpec)
    #: any datagen config key (``engine``, ``cache``, ``budget``, ``backend.openai``, ...)
    config: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class Loaded:
    """A pipeline file read and structured, with where its keys are."""

    path: Path
    spec: PipelineSpec
    raw: dict[str, Any]
    positions: dict[str, Position]

    @property
    def base(self) -> Path:
        """The folder relative paths in the file start from."""
        return self.path.parent

    def resolve(self, path: str) -> Path:
        """``path`` as written in the file, relative to the file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base / candidate

    def located(self, problems: list[str]) -> ConfigError:
        """One error listing ``problems`` (``$.path: what``), each with ``file:line:column``."""
        return ConfigError([self.locate(p) for p in problems], source=None)

    def locate(self, problem: str) -> str:
        """``$.steps[1].prompt: ...`` → ``FILE:3:5: $.steps[1].prompt: ...``."""
        path = problem.split(":", 1)[0]
        where = position_of(self.positions, path) if path.startswith("$") else None
        if where is None:
            return f"{self.path}: {problem}"
        return f"{self.path}:{where[0]}:{where[1]}: {problem}"


_STEP_CLASSES: dict[str, type[Any]] = {
    "sampler": SamplerStep,
    "template": TemplateStep,
    "llm": LLMStep,
    "keep": KeepStep,
}


def read(path: Path) -> tuple[dict[str, Any], dict[str, Position]]:
    """The file's data and positions; a file that does not parse is an error with its line."""
    if not path.is_file():
        raise ConfigError([f"{path}: no such pipeline file"], source=None)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"], source=None) from None
        return data, toml_positions(text)
    if suffix in {".yaml", ".yml", ".json"}:
        import yaml

        try:
            data = yaml.safe_load(text) if suffix != ".json" else json.loads(text)
        except (yaml.YAMLError, ValueError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            raise ConfigError([f"{path}{where}: not valid YAML: {exc}"], source=None) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError([f"{path}: a pipeline file is a mapping of keys, got {type(data).__name__}"])
        return data, yaml_positions(text) if suffix != ".json" else {}
    raise ConfigError([f"{path}: a pipeline file is .yaml, .yml, .toml or .json, got {suffix!r}"])


def structure_steps(raw: Any, stage_families: Mapping[str, Any], problems: list[str]) -> list[Step]:
    """Each step by its kind key: ``sampler``, ``llm``, ``keep``, or a declared stage family's name
    (``filter``, ``privacy``, ...) whose value names the plugin."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.append("$.steps: expected a list of steps")
        return []
    steps: list[Step] = []
    for i, item in enumerate(raw):
        where = f"$.steps[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: expected a mapping, got {type(item).__name__}")
            continue
        kinds = [k for k in item if k in _STEP_CLASSES or k in stage_families]
        if len(kinds) != 1:
            known = ", ".join([*_STEP_CLASSES, *stage_families])
            what = "no kind" if not kinds else f"several kinds ({', '.join(kinds)})"
            problems.append(f"{where}: {what}; a step has exactly one of: {known}")
            continue
        kind = kinds[0]
        if kind in stage_families:
            plugin = item[kind]
            if not isinstance(plugin, str) or not plugin:
                problems.append(f"{where}.{kind}: expected the plugin's name")
                continue
            extra = sorted(set(item) - {kind, "name", "options"})
            problems.extend(f"{where}.{key}: unknown key (a {kind} step has name, options)" for key in extra)
            options = item.get("options", {})
            if not isinstance(options, dict):
                problems.append(f"{where}.options: expected a mapping")
                continue
            name = item.get("name", plugin)
            if not isinstance(name, str):
                problems.append(f"{where}.name: expected text")
                continue
            steps.append(StageStep(name=name, family=kind, plugin=plugin, options=options))
            continue
        cls = _STEP_CLASSES[kind]
        found = problems_of(item, cls, where)
        if found:
            problems.extend(found)
            continue
        from datagen._datamodel.config import converter

        steps.append(converter.structure(item, cls))
    return steps


def load(path: str | Path, stage_families: Mapping[str, Any] | None = None) -> Loaded:
    """Read and structure a pipeline file; every schema problem at once as one :class:`ConfigError`."""
    from datagen._datamodel.families import stage_families as declared

    file = Path(path)
    raw, positions = read(file)
    families = stage_families if stage_families is not None else {f.name: f for f in declared()}
    problems: list[str] = []
    top = {k: v for k, v in raw.items() if k != "steps"}
    spec: PipelineSpec | None = None
    found = problems_of(top, PipelineSpec, "$")
    problems.extend(found)
    steps = structure_steps(raw.get("steps"), families, problems)
    if not found:
        from datagen._datamodel.config import converter

        spec = converter.structure(top, PipelineSpec)
        spec.steps = steps
    loaded = Loaded(file, spec or PipelineSpec(), raw, positions)
    if problems:
        raise loaded.located(problems)
    return loaded
