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
SAMPLERS = ("category", "uniform", "integer", "list", "person")
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
    #: the model's name at that backend (default: the backend's own)
    model: str | None = None
    #: sampling temperature (default: ``[sampling] temperature``)
    temperature: float | None = attrs.field(default=None, validator=_optional(NON_NEGATIVE))
    #: nucleus sampling (default: ``[sampling] top_p``)
    top_p: float | None = None
    #: the answer's token limit (default: ``[sampling] max_tokens``)
    max_tokens: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    #: the backend's own options (``base_url``, ``api_key_env``, ...)
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class SourceSpec:
    """``sources.NAME``: rows read from ``path``, or made by a generation ``method``."""

    #: a file (JSONL, JSON, CSV, Parquet) or a saved Hugging Face dataset's folder, relative to the pipeline
    #: file
    path: str | None = None
    #: by the file's suffix when empty (a directory: ``hf``)
    format: str = attrs.field(default="", validator=_one_of(("", *SOURCE_FORMATS)))
    #: which columns to keep and their new names (``{question: instruction}``); empty keeps all
    columns: dict[str, str] = attrs.field(factory=dict)
    #: read at most this many rows
    limit: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    #: a generation method making the rows (``self_instruct``), ``count`` of them, from ``seeds``
    method: str | None = None
    #: with ``method``: how many rows it makes
    count: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    #: with ``method``: its seed file (default: the seeds the method declares)
    seeds: str | None = None
    #: with ``method``: the model it asks, a name under ``models`` (empty: ``default``, else the
    #: automatic choice)
    model: str = ""
    #: with ``method``: the method's options (``[method.NAME]`` keys)
    options: dict[str, Any] = attrs.field(factory=dict)
    #: with ``method``: a persona file, each job of the method given one in turn (``[generate] personas``)
    personas: str | None = None


@attrs.define
class ExportSpec:
    """``output.exports[]``: the dataset written again in a training format by an exporter plugin
    (``openai``, ``trl_sft``, ``trl_dpo``, ...; ``datagen export``'s formats), once the run is complete."""

    #: the exporter's name (``trl-sft`` is ``trl_sft``)
    to: str
    #: the file, in the run directory
    path: str
    #: the exporter's options (``[exporter.NAME]`` keys: ``system``, ``style``, ...)
    options: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class OutputSpec:
    """``output``: the dataset file's format and which columns it keeps (empty: all)."""

    #: ``jsonl`` or ``parquet``: ``data.jsonl`` or ``data.parquet`` in the run directory
    format: str = attrs.field(default="jsonl", validator=_one_of(OUTPUT_FORMATS))
    #: the columns the dataset keeps, besides ``id`` (empty: all)
    columns: list[str] = attrs.field(factory=list)
    #: ``rows``: a flat column per key; ``records``: datagen's record shape (``instruction``, ``input``,
    #: ``output``, ``messages``, every other column under ``metadata``), which ``datagen metrics``,
    #: ``report``, ``filter``, ``scrub`` and ``Results.load`` read
    shape: str = attrs.field(default="rows", validator=_one_of(("rows", "records")))
    #: training-format files written from the dataset when the run is complete
    exports: list[ExportSpec] = attrs.field(factory=list)


@attrs.define
class SamplerStep:
    """A column made without a model: ``category`` (``values``, optional ``weights``), ``uniform``
    (``low``, ``high``, optional ``decimals``), ``integer`` (``low``..``high`` inclusive), ``list``
    (a value per line of ``path``, or per record of a JSONL file; persona files are such lists) or
    ``person`` (a made-up person from Faker, ``datagen[persons]``, in one of ``locales``, aged
    ``low``..``high``: name, first_name, last_name, sex, age, city, country, occupation, email,
    locale; ``{{ p.first_name }}`` in a template)."""

    kind: ClassVar[str] = "sampler"
    #: the column it writes
    name: str
    #: ``category``, ``uniform``, ``integer``, ``list`` or ``person``
    sampler: str = attrs.field(validator=_one_of(SAMPLERS))
    #: ``category``: the values
    values: list[Any] = attrs.field(factory=list)
    #: ``category``: a weight per value (default: equal)
    weights: list[float] = attrs.field(factory=list)
    #: ``uniform``, ``integer``: the lowest value; ``person``: the youngest age (18)
    low: float | None = None
    #: ``uniform``, ``integer``: the highest value; ``person``: the oldest age (85)
    high: float | None = None
    #: ``uniform``: round to this many decimals
    decimals: int | None = None
    #: ``list``: the file of values, relative to the pipeline file
    path: str | None = None
    #: ``person``: Faker locales drawn from with equal weight (``en_US``, ``de_DE``, ``ja_JP``, ...)
    locales: list[str] = attrs.field(factory=lambda: ["en_US"])


@attrs.define
class LLMStep:
    """A column an LLM writes: ``text``, ``json`` (valid against ``schema``) or ``judge`` (a score and
    a rationale per ``rubric`` aspect on ``scale``); ``prompt`` and ``system`` are Jinja templates over
    the row's columns."""

    kind: ClassVar[str] = "llm"
    #: the column it writes
    name: str
    #: ``text``, ``json`` or ``judge``
    llm: str = attrs.field(validator=_one_of(LLM_KINDS))
    #: a Jinja template over the row's columns: the user's turn
    prompt: str = ""
    #: a Jinja template: the system turn
    system: str | None = None
    #: a name under ``models`` (empty: the model named ``default``, else the automatic choice)
    model: str = ""
    #: ``json``: the JSON Schema the answer must be valid against (asked again, then the row is removed as
    #: ``unparsed_answer``)
    schema: dict[str, Any] | None = None
    #: ``judge``: the aspects it rates, each with a score and a rationale
    rubric: list[str] = attrs.field(factory=list)
    #: ``judge``: ``[lowest, highest]`` score
    scale: list[int] = attrs.field(factory=lambda: [1, 5])


@attrs.define
class TemplateStep:
    """A column from a Jinja template over the row's columns, without a model (an instruction put
    together from sampled parts)."""

    kind: ClassVar[str] = "template"
    #: the column it writes
    name: str
    #: a Jinja template over the row's columns (and ``id``, ``row``)
    template: str


@attrs.define
class KeepStep:
    """A condition: rows for which the Jinja expression ``keep`` is false are removed (reason
    ``keep:NAME``), e.g. ``review_score.helpfulness.score >= 3``."""

    kind: ClassVar[str] = "keep"
    #: the condition's name (the removal reason is ``keep:NAME``)
    name: str
    #: a Jinja expression over the row's columns
    keep: str


@attrs.define
class MethodStep:
    """A generation method over the rows so far: each row is a seed (its ``instruction``, ``input``,
    ``output``, every other column in its metadata), and the method's records replace the rows (ids
    ``STEP-FIRSTROW-N``); a record made from one seed (its provenance says which) keeps that row's
    other columns."""

    kind: ClassVar[str] = "method"
    #: the step's name
    name: str
    #: a generation method plugin's name (``evol_instruct``, ``respond``, ``conversation``, ...)
    method: str
    #: records to make per row of the group (the method's own count for the group is this times its rows)
    per_row: int = attrs.field(default=1, validator=POSITIVE)
    #: the model it asks, a name under ``models`` (empty: ``default``, else the automatic choice)
    model: str = ""
    #: the method's options (``[method.NAME]`` keys)
    options: dict[str, Any] = attrs.field(factory=dict)
    #: a persona file beside the pipeline file: each of the method's jobs is given one persona in turn
    #: (``[generate] personas``)
    personas: str | None = None


@attrs.define
class StageStep:
    """A stage plugin of a declared family by its name (``filter: length``, ``privacy: pii``) with
    its ``options`` (the keys of ``[FAMILY.NAME]``)."""

    kind: ClassVar[str] = "stage"
    #: the step's name (default: the plugin's)
    name: str
    family: str
    plugin: str
    #: the plugin's options (the keys of ``[FAMILY.NAME]``); a relative path naming a file beside the
    #: pipeline file is resolved from its folder
    options: dict[str, Any] = attrs.field(factory=dict)


Step = SamplerStep | TemplateStep | LLMStep | KeepStep | MethodStep | StageStep


@attrs.define
class PipelineSpec:
    """The whole file."""

    #: the dataset's name (the report's; default: the file's name)
    name: str = ""
    #: what the dataset is, for people reading the file
    description: str = ""
    #: seeds the samplers (each row's values depend on it, the step and the row, not on row groups)
    seed: int = 0
    #: how many rows: the samplers' count without a source, else the most read from the sources
    rows: int | None = attrs.field(default=None, validator=_optional(POSITIVE))
    #: rows per row group: the unit of work and of checkpoints
    row_group: int = attrs.field(default=100, validator=POSITIVE)
    #: distributions the file needs (``datagen-presidio>=0.1``), checked before any work
    requires: list[str] = attrs.field(factory=list)
    #: named models: ``writer: {backend: openai, model: gpt-4o-mini}``; an ``llm`` step names one
    #: (``default`` when it names none)
    models: dict[str, ModelSpec] = attrs.field(factory=dict)
    #: named sources of rows, read one after the other
    sources: dict[str, SourceSpec] = attrs.field(factory=dict)
    #: the steps, each with exactly one kind key; they run in the order their references allow
    steps: list[Step] = attrs.field(factory=list)
    #: metric plugins computed on the final rows, into the report
    metrics: list[str] = attrs.field(factory=list)
    #: the dataset file's format and columns
    output: OutputSpec = attrs.field(factory=OutputSpec)
    #: any datagen config key (``engine`` with its ``max_tokens`` and ``max_cost_usd`` budget, ``cache``,
    #: ``backend.openai``, ...)
    config: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class Loaded:
    """A pipeline file read and structured, with where its keys are."""

    path: Path
    spec: PipelineSpec
    raw: dict[str, Any]
    positions: dict[str, Position]
    #: what did not structure (``$.path: what``), reported with the checks' problems
    problems: list[str] = attrs.field(factory=list)

    @property
    def base(self) -> Path:
        """The folder relative paths in the file start from."""
        return self.path.parent

    def resolve(self, path: str) -> Path:
        """``path`` as written in the file, relative to the file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base / candidate

    def resolve_options(self, value: Any) -> Any:
        """A step's options with every relative path that names a file or folder beside the pipeline
        file resolved from the file's folder (a benchmark file, a blocklist), so that the file runs the
        same from any working directory."""
        if isinstance(value, dict):
            return {k: self.resolve_options(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_options(v) for v in value]
        if isinstance(value, str) and value and not Path(value).is_absolute() and "\n" not in value:
            candidate = self.base / value
            try:
                if candidate.exists():
                    return str(candidate)
            except OSError:  # not a path at all (too long, bad characters)
                return value
        return value

    def located(self, problems: list[str]) -> ConfigError:
        """One error listing ``problems`` (``$.path: what``), each with ``file:line:column``, in the
        order of the file."""

        def where(problem: str) -> tuple[int, int]:
            path = problem.split(":", 1)[0]
            return position_of(self.positions, path) or (0, 0)

        return ConfigError([self.locate(p) for p in sorted(problems, key=where)], source=None)

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
    "method": MethodStep,
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
    """Read and structure a pipeline file. A file that does not parse raises at once; schema problems
    are kept in :attr:`Loaded.problems` with whatever did structure, so that checking reports them
    together with everything else."""
    file = Path(path)
    raw, positions = read(file)
    return structure_file(file, raw, positions, stage_families)


def structure_file(
    file: Path,
    raw: dict[str, Any],
    positions: dict[str, Position],
    stage_families: Mapping[str, Any] | None = None,
) -> Loaded:
    """A pipeline's data (read from ``file``, or built in Python) structured; see :func:`load`."""
    from datagen._datamodel.config import converter
    from datagen._datamodel.families import stage_families as declared

    families = stage_families if stage_families is not None else {f.name: f for f in declared()}
    problems: list[str] = []
    top: dict[str, Any] = {}
    known = {a.name for a in attrs.fields(PipelineSpec)}
    for key, value in raw.items():
        if key == "steps":
            continue
        if key not in known:
            problems.append(f"$.{key}: unknown key (known: {', '.join(sorted(known))})")
            continue
        found = problems_of({key: value}, PipelineSpec, "$")
        if found:
            problems.extend(found)
        else:
            top[key] = value
    spec: PipelineSpec = converter.structure(top, PipelineSpec)
    spec.steps = structure_steps(raw.get("steps"), families, problems)
    loaded = Loaded(file, spec, raw, positions, problems)
    for step in spec.steps:
        if isinstance(step, StageStep | MethodStep):
            step.options = loaded.resolve_options(step.options)
    for source in spec.sources.values():
        source.options = loaded.resolve_options(source.options)
    return loaded


# ----------------------------------------------------------------------------------- reference page


def _field_notes(cls: type[Any]) -> dict[str, str]:
    """The ``#:`` comment above each field of ``cls`` in this module's source."""
    import ast
    import inspect

    lines = inspect.getsource(cls).splitlines()
    notes: dict[str, str] = {}
    for node in ast.parse("\n".join(lines)).body[0].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            i = node.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#:"):
                above.insert(0, lines[i].strip()[2:].strip())
                i -= 1
            notes[node.target.id] = " ".join(above)
    return notes


def _type_text(annotation: Any) -> str:
    text = str(annotation).replace("typing.", "")
    return text.replace("datagen._app.pipefile.spec.", "").replace("|", "\\|")


def reference() -> str:
    """The pipeline file's reference, generated from the schema: each section and step kind, its keys,
    their types, defaults and meaning (``docs/pipelines.md`` carries it; a test keeps them equal)."""
    import inspect

    sections = [
        ("The file", PipelineSpec, ""),
        ("`models.NAME`", ModelSpec, ""),
        ("`sources.NAME`", SourceSpec, ""),
        ("`output`", OutputSpec, ""),
        ("`output.exports[]`", ExportSpec, ""),
        ("Step: `sampler`", SamplerStep, "sampler"),
        ("Step: `template`", TemplateStep, "template"),
        ("Step: `llm`", LLMStep, "llm"),
        ("Step: `keep`", KeepStep, "keep"),
        ("Step: `method`", MethodStep, "method"),
        ("Step: a stage family (`filter`, `privacy`, ...)", StageStep, ""),
    ]
    out = []
    for title, cls, _kind in sections:
        out.append(f"### {title}\n")
        out.append(" ".join((inspect.getdoc(cls) or "").split()).replace("``", "`") + "\n")
        out.append("| key | type | default | meaning |")
        out.append("|---|---|---|---|")
        notes = _field_notes(cls)
        for field in attrs.fields(cls):
            if cls is StageStep and field.name in {"family", "plugin"}:
                continue
            if cls is StageStep and field.name == "name":
                default = "the plugin's name"
            elif field.default is attrs.NOTHING:
                default = "required"
            elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                default = f"`{field.default.factory()!r}`"
            else:
                default = f"`{field.default!r}`"
            note = notes.get(field.name, "").replace("``", "`")
            annotation = cls.__annotations__.get(field.name, field.type)  # as written: a string
            out.append(f"| `{field.name}` | `{_type_text(annotation)}` | {default} | {note} |")
        if cls is StageStep:
            out.append(
                "| `FAMILY` | `str` | required | the plugin's name under its family's key: `filter: length` |"
            )
        out.append("")
    return "\n".join(out)
