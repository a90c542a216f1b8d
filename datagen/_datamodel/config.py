"""Configuration: nested attrs classes, one strict cattrs converter, file + environment + flag layering.

Every plugin's own options live in a table named after it inside its family's section, e.g.
``[backend.openai]``, and are structured by the same converter into that plugin's ``Config`` class.
Errors are collected, each naming its path: ``$.backend.openai.max_retries: expected int, got 'three'``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from datagen._datamodel.families import (
    FAMILIES,
    BackendSection,
    FamilySection,
    FilterSection,
    MethodSection,
    MetricSection,
    PrivacySection,
    sectioned,
)
from datagen._datamodel.space import Param
from datagen.errors import ConfigError
from datagen.log import SECRET_KEY_RE

T = TypeVar("T")
ENV_PREFIX = "DATAGEN_"
MASK = "****"


def secret_field(default: str | None = None) -> Any:
    """An attrs field holding a secret: masked by ``config show`` and never part of a repr."""
    return attrs.field(default=default, repr=False, metadata={"secret": True})


# ---------------------------------------------------------------------------------------------- converter


class BoundError(ValueError):
    """A number outside its allowed range; ``key`` names the option."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def bounded(low: float | None = None, *, above: float | None = None, high: float | None = None) -> Any:
    """An attrs validator: ``None`` passes; a number must be >= ``low``, > ``above`` and <= ``high``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if low is not None and value < low:
            raise BoundError(attribute.name, f"must be at least {low:g}, got {value!r}")
        if above is not None and value <= above:
            raise BoundError(attribute.name, f"must be greater than {above:g}, got {value!r}")
        if high is not None and value > high:
            raise BoundError(attribute.name, f"must be at most {high:g}, got {value!r}")

    return check


def _known_language(_instance: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    """An attrs validator: ``None`` or an ISO 639-1 code with a known name."""
    from datagen._datamodel.languages import LANGUAGE_NAMES

    if value is not None and value.strip().lower() not in LANGUAGE_NAMES:
        known = ", ".join(sorted(LANGUAGE_NAMES))
        raise BoundError(attribute.name, f"no language with the ISO 639-1 code {value!r} (known: {known})")


def one_of(*choices: str) -> Any:
    """An attrs validator: the value is one of ``choices``."""

    def check(_instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise BoundError(attribute.name, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


POSITIVE = bounded(above=0)
NON_NEGATIVE = bounded(0)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _strict_str(value: Any, _tp: type) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected str, got {value!r}")


def _strict_int(value: Any, _tp: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    raise TypeError(f"expected int, got {value!r}")


def _strict_float(value: Any, _tp: type) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TypeError(f"expected float, got {value!r}")


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _strict_bool(value: Any, _tp: type) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError(f"expected bool, got {value!r}")


def _str_list(value: Any, tp: Any) -> list[str]:
    if isinstance(value, str):  # from an environment variable or flag: comma separated
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list of str, got {value!r}")
    return [_strict_str(v, str) for v in value]


def make_converter() -> cattrs.Converter:
    """The converter every config and record goes through: strict scalars, no unknown keys."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_func(lambda t: t == list[str], _str_list)
    conv.register_structure_hook(Path, lambda v, _: Path(_strict_str(v, str)))
    conv.register_unstructure_hook(Path, str)
    return conv


converter = make_converter()


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "required key is missing"
    return str(exc) or type(exc).__name__


def _walk(exc: BaseException, path: str) -> Iterator[str]:
    if isinstance(exc, BoundError):
        yield f"{path}.{exc.key}: {exc}"
    elif isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            yield f"{path}.{key}: unknown key"
    elif isinstance(exc, ClassValidationError):
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            sub = f"{path}.{note.name}" if isinstance(note, AttributeValidationNote) else path
            yield from _walk(inner, sub)
        for inner in without:
            yield from _walk(inner, path)
    elif isinstance(exc, IterableValidationError):
        with_inotes, without_i = exc.group_exceptions()
        for inner, inote in with_inotes:
            idx = inote.index if isinstance(inote, IterableValidationNote) else "?"
            yield from _walk(inner, f"{path}[{idx!r}]" if isinstance(idx, int) else f"{path}.{idx}")
        for inner in without_i:
            yield from _walk(inner, path)
    elif isinstance(exc, BaseExceptionGroup):
        for sub_exc in exc.exceptions:
            yield from _walk(sub_exc, path)
    else:
        yield f"{path}: {_message(exc)}"


_ERRORS = (cattrs.BaseValidationError, TypeError, ValueError, KeyError)


def _validate_all(obj: Any, path: str) -> Iterator[str]:
    """Run every attrs validator of ``obj`` and its nested attrs values, yielding each failure."""
    if not attrs.has(type(obj)):
        if isinstance(obj, dict):
            for key, value in obj.items():
                yield from _validate_all(value, f"{path}.{key}")
        return
    for a in attrs.fields(type(obj)):
        value = getattr(obj, a.name)
        if a.validator is not None:
            try:
                a.validator(obj, a, value)
            except BoundError as exc:
                yield f"{path}.{exc.key}: {exc}"
            except (TypeError, ValueError) as exc:
                yield f"{path}.{a.name}: {exc}"
        yield from _validate_all(value, f"{path}.{a.name}")


def problems_of(data: Any, cls: type[Any], path: str) -> list[str]:
    """Every problem of structuring ``data`` into ``cls``: type errors and unknown keys from cattrs, and
    (when those are fine) every failing range check, not only the first of each class."""
    try:
        converter.structure(data, cls)
    except _ERRORS as exc:
        first = list(_walk(exc, path)) or [f"{path}: {exc}"]
    else:
        return []
    with attrs.validators.disabled():  # build it unchecked, then check every field
        try:
            obj = converter.structure(data, cls)
        except _ERRORS:
            return first
    return list(_validate_all(obj, path)) or first


def structure(data: Any, cls: type[T], *, path: str = "$", source: str | None = None) -> T:
    """Structure ``data`` into ``cls``, raising one :class:`ConfigError` that lists every problem."""
    try:
        return converter.structure(data, cls)
    except _ERRORS as exc:
        raise ConfigError(problems_of(data, cls, path), source) from exc


# ------------------------------------------------------------------------------------------ config classes


@attrs.define
class SamplingConfig:
    """``[sampling]``: default sampling parameters sent with each request."""

    temperature: float = attrs.field(default=0.7, validator=NON_NEGATIVE)
    top_p: float = attrs.field(default=1.0, validator=bounded(above=0, high=1))
    max_tokens: int = attrs.field(default=256, validator=POSITIVE)
    seed: int | None = None
    stop: list[str] = attrs.field(factory=list)


@attrs.define
class GenerateConfig:
    """``[generate]``: what a ``datagen generate`` run produces."""

    count: int = attrs.field(default=10, validator=POSITIVE)
    seeds: Path | None = None
    out: Path | None = None
    random_seed: int = 0
    #: with filters configured, generate at most this many times ``count`` candidates before stopping short
    max_attempts_factor: float = attrs.field(default=4.0, validator=bounded(1))
    #: an answer that loops until the token limit is asked for again this many times, each with another
    #: sampling seed, before the candidate is given up (``try_complete``; counted as ``asked_again``)
    ask_again: int = attrs.field(default=2, validator=bounded(0, high=20))
    #: where removed records go, with the stage and the reason (JSONL)
    rejected: Path | None = None
    #: where the run report goes (JSON)
    report: Path | None = None
    #: a run that writes fewer records than ``count`` fails (exit 3) instead of warning
    require_count: bool = False
    #: replace an existing output file (otherwise refused, unless the run resumes into it)
    overwrite: bool = False
    #: the language records are made in (ISO 639-1, e.g. "fr"): every chat request asks for it, and the
    #: filter that declares ``checks_language`` drops records in another language (counted)
    language: str | None = attrs.field(default=None, validator=_known_language)
    #: a file of personas (``.txt``, one per line, or JSONL/JSON/CSV/Parquet with a ``persona_field``
    #: column): each job of the run is given one, in its prompts' ``persona`` variable or, when they do
    #: not use it, as a line of its request (Persona Hub, arXiv 2406.20094)
    personas: Path | None = None
    persona_field: str = "persona"
    #: the filter plugins that remove duplicate personas before the run uses them (None: those that
    #: declare ``dedups_personas``, exact and near dedup; empty: keep all)
    persona_dedup: list[str] | None = None


@attrs.define
class EngineConfig:
    """``[engine]``: how requests are sent (concurrency, retries, limits, budget)."""

    max_concurrency: int | None = attrs.field(default=None, validator=POSITIVE)
    max_retries: int = attrs.field(default=8, validator=NON_NEGATIVE)
    #: first back-off (doubling, +-50 % jitter, capped at backoff_max_s): 0.1, 0.2, ... 12.8 s over 8 tries
    backoff_base_s: float = attrs.field(default=0.1, validator=NON_NEGATIVE)
    backoff_max_s: float = attrs.field(default=60.0, validator=NON_NEGATIVE)
    timeout_s: float = attrs.field(default=120.0, validator=POSITIVE)
    requests_per_minute: float | None = attrs.field(default=None, validator=POSITIVE)
    tokens_per_minute: float | None = attrs.field(default=None, validator=POSITIVE)
    #: how the server counts a request's tokens against a token limit: ``reserved`` (what it may use,
    #: its prompt and ``max_tokens``, counted when it arrives: OpenAI's rate limits), ``used`` (what it
    #: used, once answered: Anthropic's output limit), or ``auto`` (what the backend says of its server)
    token_charge: str = attrs.field(default="auto", validator=one_of("auto", "reserved", "used"))
    max_cost_usd: float | None = attrs.field(default=None, validator=NON_NEGATIVE)
    max_tokens: int | None = attrs.field(default=None, validator=POSITIVE)
    batch: bool = False
    batch_size: int = attrs.field(default=10_000, validator=POSITIVE)
    batch_window_s: float = attrs.field(default=2.0, validator=NON_NEGATIVE)
    batch_poll_s: float = attrs.field(default=30.0, validator=POSITIVE)
    #: stop the run when this many requests in a row could not connect at all (0: never)
    max_connection_failures: int = attrs.field(default=5, validator=NON_NEGATIVE)
    #: collect young objects every this many allocations during a run (Python's default: 700)
    gc_threshold: int | None = attrs.field(default=10_000, validator=POSITIVE)


@attrs.define
class CacheConfig:
    """``[cache]``: the on-disk response cache that makes reruns resume."""

    enabled: bool = True
    dir: Path = Path(".datagen/cache")
    #: what names the server in cache keys (default: the backend's endpoint); give endpoints that serve
    #: the same model one identity to share their answers
    identity: str | None = None


@attrs.define
class LoggingConfig:
    """``[logging]``: level and format."""

    level: str = "warning"
    json: bool = False


@attrs.define
class PluginsConfig:
    """``[plugins]``: entry points to skip, and whether a broken plugin is fatal (unset: the environment)."""

    disable: list[str] = attrs.field(factory=list)
    strict: bool | None = None


@attrs.define
class Price:
    """USD per million tokens for one model (or model-name prefix)."""

    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0


def _default_space() -> list[Param]:
    return [
        Param("temperature", "continuous", 0.1, 1.5, target="sampling.temperature"),
        Param("top_p", "continuous", 0.5, 1.0, target="sampling.top_p"),
    ]


@attrs.define
class RLTuningConfig:
    """``[tune]``: RL-guided search over generation parameters (see ``datagen.tuning``)."""

    #: the agent (empty: the agent plugin that declares itself the default, ``random``)
    agent: str = ""
    iterations: int = attrs.field(default=20, validator=POSITIVE)
    #: records generated per evaluation
    batch_size: int = attrs.field(default=20, validator=POSITIVE)
    #: parameter sets evaluated at once (asked together, generated concurrently)
    parallel: int = attrs.field(default=1, validator=POSITIVE)
    space: list[Param] = attrs.field(factory=_default_space)
    #: the key of the callback's result that is the reward (higher is better)
    reward_metric: str = "reward"
    #: stop after this many iterations without an improvement of at least ``min_improvement``
    patience: int | None = None
    min_improvement: float = 0.0
    seed: int = 0
    #: ``package.module:function`` computing the metrics of a batch (for ``datagen tune``)
    evaluate: str | None = None
    #: the seed's policy-gradient settings; each one set goes to the agent's own table under its name
    #: there (``learning_rate``, ``discount``, ``entropy_bonus``, ``hidden``, ``normalize_rewards``) and
    #: wins over it; an agent without such an option ignores it with a warning
    learning_rate: float | None = attrs.field(default=None, validator=POSITIVE)
    discount_factor: float | None = attrs.field(default=None, validator=bounded(0, high=1))
    entropy_coef: float | None = attrs.field(default=None, validator=NON_NEGATIVE)
    hidden_size: int | None = attrs.field(default=None, validator=POSITIVE)
    normalize_rewards: bool | None = None


def _default_sections() -> dict[str, FamilySection]:
    return {f.name: f.section() for f in sectioned() if f.section is not None}


S = TypeVar("S", bound=FamilySection)


@attrs.define
class DatagenConfig:
    """The whole configuration; every section has defaults, so an empty file is valid.

    Besides the fixed sections, every declared plugin family (:mod:`datagen._datamodel.families`) has a
    section of its own under its name: ``[backend]``, ``[method]``, ``[filter]``, ... (:meth:`section`;
    the built-in ones are also attributes)."""

    generate: GenerateConfig = attrs.field(factory=GenerateConfig)
    sampling: SamplingConfig = attrs.field(factory=SamplingConfig)
    engine: EngineConfig = attrs.field(factory=EngineConfig)
    cache: CacheConfig = attrs.field(factory=CacheConfig)
    logging: LoggingConfig = attrs.field(factory=LoggingConfig)
    plugins: PluginsConfig = attrs.field(factory=PluginsConfig)
    tune: RLTuningConfig = attrs.field(factory=RLTuningConfig)
    prices: dict[str, Price] = attrs.field(factory=dict)
    #: every family's section by family name (in files: a top-level table under the family's name)
    families: dict[str, FamilySection] = attrs.field(factory=_default_sections)

    def section(self, family: str) -> FamilySection:
        """The section of ``family`` (its defaults when the config was made before it was declared)."""
        found = self.families.get(family)
        if found is None:
            declared = FAMILIES.get(family)
            if declared is None or declared.section is None:
                raise KeyError(f"no plugin family {family!r} with a config section")
            found = self.families[family] = declared.section()
        return found

    def _typed(self, family: str, cls: type[S]) -> S:
        found = self.section(family)
        assert isinstance(found, cls)
        return found

    @property
    def method(self) -> MethodSection:
        """``[method]``."""
        return self._typed("method", MethodSection)

    @property
    def backend(self) -> BackendSection:
        """``[backend]``."""
        return self._typed("backend", BackendSection)

    @property
    def filter(self) -> FilterSection:
        """``[filter]``."""
        return self._typed("filter", FilterSection)

    @property
    def privacy(self) -> PrivacySection:
        """``[privacy]``."""
        return self._typed("privacy", PrivacySection)

    @property
    def metric(self) -> MetricSection:
        """``[metric]``."""
        return self._typed("metric", MetricSection)

    @property
    def plot(self) -> FamilySection:
        """``[plot]``."""
        return self.section("plot")

    @property
    def agent(self) -> FamilySection:
        """``[agent]``."""
        return self.section("agent")

    def sections(self) -> dict[str, FamilySection]:
        """The plugin-family sections by family name, in declaration order."""
        return {f.name: self.section(f.name) for f in sectioned()}

    def with_sections(self, **changes: FamilySection) -> DatagenConfig:
        """A copy whose family sections ``changes`` replace (the others shared)."""
        return attrs.evolve(self, families={**self.sections(), **changes})

    def plugin_config(self, family: str, name: str, config_cls: type[T]) -> T:
        """The structured options of plugin ``name`` in ``family`` (defaults when it has no table)."""
        raw = self.section(family).options.get(name, {})
        return structure(raw, config_cls, path=f"$.{family}.{name}")


def _family_hook(cls: type[FamilySection]) -> Callable[[Any, Any], FamilySection]:
    fields = {a.name for a in attrs.fields(cls)} - {"options"}
    inner = make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)

    def hook(value: Any, _tp: Any) -> FamilySection:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a table, got {value!r}")
        known = {k: v for k, v in value.items() if k in fields}
        errors: list[Exception] = []
        options: dict[str, dict[str, Any]] = {}
        for key, val in value.items():
            if key in fields:
                continue
            if key == "options" or not isinstance(val, Mapping):
                err = TypeError(f"unknown key (a plugin's options must be a table, got {val!r})")
                err.__notes__ = [AttributeValidationNote(f"Structuring {key}", key, dict)]
                errors.append(err)
            else:
                options[key] = dict(val)
        try:
            section = inner(known, cls)
        except ClassValidationError as exc:
            errors.extend(exc.exceptions)
        if errors:
            raise ClassValidationError(f"While structuring {cls.__name__}", errors, cls)
        section.options = options
        return section

    return hook


def _unstructure_section(section: FamilySection) -> dict[str, Any]:
    out = {a.name: converter.unstructure(getattr(section, a.name)) for a in attrs.fields(type(section))}
    out.pop("options")
    out.update(section.options)
    return out


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, FamilySection)


converter.register_structure_hook_factory(_is_section, _family_hook)
converter.register_unstructure_hook_func(_is_section, _unstructure_section)

_fixed_structure = make_dict_structure_fn(
    DatagenConfig, converter, _cattrs_forbid_extra_keys=True, families=override(omit=True)
)


def _structure_config(value: Any, _tp: Any) -> DatagenConfig:
    """The fixed sections as attrs fields; each declared family's section from the key of its name."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a table, got {value!r}")
    declared = {f.name: f.section for f in sectioned() if f.section is not None}
    errors: list[Exception] = []
    families: dict[str, FamilySection] = {}
    try:
        config = _fixed_structure({k: v for k, v in value.items() if k not in declared}, DatagenConfig)
    except ClassValidationError as exc:
        errors.extend(exc.exceptions)
    for name, cls in declared.items():
        try:
            families[name] = converter.structure(value.get(name, {}), cls)
        except (ClassValidationError, TypeError, ValueError) as exc:
            note = AttributeValidationNote(f"Structuring {name}", name, cls)
            exc.__notes__ = [*getattr(exc, "__notes__", []), note]
            errors.append(exc)
    if errors:
        raise ClassValidationError("While structuring DatagenConfig", errors, DatagenConfig)
    config.families = families
    return config


def _unstructure_config(config: DatagenConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in attrs.fields(DatagenConfig):
        if a.name == "families":
            out.update({name: converter.unstructure(s) for name, s in config.sections().items()})
        else:
            out[a.name] = converter.unstructure(getattr(config, a.name))
    return out


converter.register_structure_hook(DatagenConfig, _structure_config)
converter.register_unstructure_hook(DatagenConfig, _unstructure_config)


# -------------------------------------------------------------------------------------------------- loading


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``, tables recursively."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def read_config_file(path: Path) -> dict[str, Any]:
    """The raw table of a TOML or YAML config file; errors name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"config file not found: {path}"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read config file {path}: {exc.strerror}"]) from None
    if path.suffix in {".yaml", ".yml"}:
        import yaml  # only for YAML files

        try:
            data = yaml.safe_load(text)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError([f"{path}{line}: invalid YAML: {exc.problem}"]) from None
        except yaml.YAMLError as exc:
            raise ConfigError([f"{path}: invalid YAML: {exc}"]) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a table, got {type(data).__name__}"])
    return data


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """Config values from ``DATAGEN_SECTION__KEY[__SUBKEY]`` variables (names without ``__`` are not)."""
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__")]
        if not all(keys):
            continue
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                break
        else:
            node[keys[-1]] = value
    return out


def raw_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The merged plain data :func:`load_config` structures: ``data`` < file < environment < overrides."""
    raw: dict[str, Any] = dict(data or {})
    if path is not None:
        raw = deep_merge(raw, read_config_file(path))
    raw = deep_merge(raw, env_overrides(os.environ if environ is None else environ))
    return deep_merge(raw, overrides or {})


def as_config(config: DatagenConfig | Mapping[str, Any] | str | os.PathLike[str] | None) -> DatagenConfig:
    """``config`` as a :class:`DatagenConfig`: itself, plain data in the file's shape, a file, or None for
    the defaults and the environment."""
    if config is None:
        return load_config()
    if isinstance(config, DatagenConfig):
        return config
    if isinstance(config, Mapping):
        return load_config(data=config)
    return load_config(Path(config))


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> DatagenConfig:
    """The effective config: defaults < ``data`` < the file at ``path`` < environment < ``overrides``."""
    raw = raw_config(path, environ=environ, overrides=overrides, data=data)
    return structure(raw, DatagenConfig, source=None if path is None else str(path))


# --------------------------------------------------------------------------------------------------- output


def _masked(value: Any, key: str | None = None, secret: bool = False) -> Any:
    if secret or (key is not None and SECRET_KEY_RE.search(key) and isinstance(value, str)):
        return MASK if value else value
    if isinstance(value, str):
        from datagen.log import redact_text

        return redact_text(value)
    if isinstance(value, dict):
        return {k: _masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def unstructure_masked(obj: Any) -> Any:
    """``obj`` unstructured to plain data with every secret replaced by ``****``."""
    if attrs.has(type(obj)):
        data = converter.unstructure(obj)
        for a in attrs.fields(type(obj)):
            if a.name in data:
                data[a.name] = (
                    unstructure_masked(getattr(obj, a.name))
                    if attrs.has(type(getattr(obj, a.name)))
                    else _masked(data[a.name], a.name, bool(a.metadata.get("secret")))
                )
        if isinstance(obj, DatagenConfig):
            for name in obj.sections():
                data[name] = _masked(data[name])
        return data
    return _masked(converter.unstructure(obj))


def dump_toml(data: Mapping[str, Any]) -> str:
    """``data`` as TOML (``None`` values, which TOML cannot hold, are left out)."""
    import tomli_w

    def drop_none(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [drop_none(v) for v in value]
        return value

    return tomli_w.dumps(drop_none(data))


def put_setting(overrides: dict[str, Any], key: str, value: Any) -> None:
    """Set ``value`` at the dotted ``key`` of nested ``overrides`` (``privacy.pii.locale`` →
    ``{"privacy": {"pii": {"locale": ...}}}``); nothing when ``value`` is None (a flag not given)."""
    if value is None:
        return
    *parents, leaf = key.split(".")
    node = overrides
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
