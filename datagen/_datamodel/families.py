"""Plugin families, each declared once: what the config, the stage runner, the CLI and the plugin
manager know about a family comes from its :class:`Family` record here.

A family is a kind of plugin (backends, methods, filters, ...). Its record names the ``datagen_register_*``
hook that fills its registry, what a member must provide, its config section (``[filter]``, a table per
plugin inside it, plus the section's own keys), the section's lists of stage names with where each runs,
the repeatable CLI flag that names stages, and whether its members spend privacy budget. Adding a
family is one :func:`declare_family` call plus its hook spec (``pm.add_hookspecs``) and protocol;
``docs/plugin-guide.md`` shows how.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import attrs

#: where a stage list runs: on the seeds before any backend sees them, or on the records produced
Position = Literal["inputs", "outputs"]


@attrs.define
class FamilySection:
    """Options of one plugin family, a table per plugin name (``[filter.length]``)."""

    options: dict[str, dict[str, Any]] = attrs.field(factory=dict)


@attrs.define
class MethodSection(FamilySection):
    """``[method]``: which generation method runs (empty: the method plugin that declares itself the
    default, ``respond``), and per-method tables (``[method.self_instruct]``)."""

    name: str = ""


@attrs.define
class BackendSection(FamilySection):
    """``[backend]``: which backend runs (``auto`` = an API key's backend, else the offline default) and
    its model."""

    name: str = "auto"
    model: str | None = None


@attrs.define
class FilterSection(FamilySection):
    """``[filter]``: the filters every generated record passes through, in order, and their tables."""

    chain: list[str] = attrs.field(factory=list)


@attrs.define
class MetricSection(FamilySection):
    """``[metric]``: metrics computed at the end of a generation run (``run``), in the run report, and
    their tables."""

    run: list[str] = attrs.field(factory=list)


@attrs.define
class PrivacySection(FamilySection):
    """``[privacy]``: mechanisms applied to the seeds before any backend sees them (``inputs``) and to
    the records before they are written (``outputs``), in order, and their tables."""

    inputs: list[str] = attrs.field(factory=list)
    outputs: list[str] = attrs.field(factory=list)
    #: the plugin that finds personal data for the audit and ``PrivacyManager`` (a privacy plugin that
    #: declares ``detects_pii``); empty: the only one installed, or the first by name
    detector: str = ""


@attrs.define
class ExecutorSection(FamilySection):
    """``[executor]``: where a pipeline's row groups run (empty: the executor whose ``env_switch``
    variable is set, e.g. ``RAY_ADDRESS``, else the default, in this process), and its tables."""

    name: str = ""
    #: how many workers a distributed executor starts (None: its own default)
    workers: int | None = None
    #: the cluster to join (None: the executor's own default, e.g. ``RAY_ADDRESS``, else a local one)
    address: str | None = None
    #: where the row groups' checkpoints are committed, seen by every worker: a directory or an fsspec
    #: URL (``s3://bucket/prefix``; fsspec and the protocol's package installed). None: ``.checkpoints``
    #: in the run directory
    checkpoints: str | None = None


@attrs.frozen
class StageList:
    """A list of stage names in a family's section: ``key`` in the section, ``position`` where the stages
    run, ``order`` their place among every family's lists (lower runs first)."""

    key: str
    position: Position
    order: int


@attrs.frozen
class Family:
    """One extension family, declared once."""

    #: the registry's name, the config section's name and the ``family:name`` prefix
    name: str
    #: the ``datagen_register_*`` hook whose ``register`` callable adds members
    hook: str
    #: callables every member class must have (checked when it registers)
    members: tuple[str, ...] = ()
    #: the module holding the hook's spec, added to every plugin manager (None: the built-in hook
    #: specs, :mod:`datagen._kernel.hookspecs`)
    spec_module: str | None = None
    #: the config section: its own keys, and a table per member (None: no section, e.g. commands)
    section: type[FamilySection] | None = FamilySection
    #: the section's lists of stage names; a family with any is a stage family
    stage_lists: tuple[StageList, ...] = ()
    #: the repeatable CLI option naming stages of this family (``generate``, ``filter``); it replaces
    #: every stage list of the family
    cli_flag: str | None = None
    #: what the CLI flag's help says
    cli_help: str = ""
    #: members report the privacy budget they spent (``spent()``), summed into the run report
    spends_budget: bool = False

    @property
    def is_stage(self) -> bool:
        """Whether members run as stages over records."""
        return bool(self.stage_lists)


_BUILTIN = (
    Family(
        "backend", "datagen_register_backends", ("validate", "complete", "aclose"), section=BackendSection
    ),
    Family("method", "datagen_register_methods", ("validate", "generate"), section=MethodSection),
    Family(
        "filter",
        "datagen_register_filters",
        ("apply",),
        section=FilterSection,
        stage_lists=(StageList("chain", "outputs", 200),),
        cli_flag="--filter",
        cli_help="A filter stage, in order; repeatable (replaces [filter] chain).",
    ),
    Family(
        "privacy",
        "datagen_register_privacy",
        ("apply", "spent"),
        section=PrivacySection,
        stage_lists=(StageList("inputs", "inputs", 100), StageList("outputs", "outputs", 300)),
        cli_flag="--privacy",
        cli_help="A privacy stage on the seeds and on the output, in order; repeatable.",
        spends_budget=True,
    ),
    Family("metric", "datagen_register_metrics", ("compute",), section=MetricSection),
    Family("plot", "datagen_register_plots", ("render",)),
    Family("agent", "datagen_register_agents", ("ask", "tell", "best")),
    Family("exporter", "datagen_register_exporters", ("export",)),
    Family("executor", "datagen_register_executors", ("execute",), section=ExecutorSection),
    Family("command", "datagen_register_commands", section=None),
)

FAMILIES: dict[str, Family] = {f.name: f for f in _BUILTIN}


def declare_family(family: Family) -> Family:
    """Add ``family``: plugin managers created afterwards build its registry, configs loaded afterwards
    read its section, runs place its stages and the CLI offers its flag. A stage list its section class
    lacks becomes a list field of a subclass made here, so the record alone is enough. Declaring a name
    again replaces the record. Returns the record as declared."""
    if not family.name.isidentifier():
        raise ValueError(f"a family name must be a Python identifier, got {family.name!r}")
    section = family.section
    if section is not None:
        have = {a.name for a in attrs.fields(section)}
        missing: dict[str, Any] = {
            s.key: attrs.field(factory=list) for s in family.stage_lists if s.key not in have
        }
        if missing:
            name = family.name.title().replace("_", "") + "Section"
            section = attrs.make_class(name, missing, bases=(section,))
            family = attrs.evolve(family, section=section)
    FAMILIES[family.name] = family
    return family


def forget_family(name: str) -> None:
    """Remove a family declared with :func:`declare_family` (built-in families stay)."""
    if any(f.name == name for f in _BUILTIN):
        raise ValueError(f"{name!r} is a built-in family")
    FAMILIES.pop(name, None)


def sectioned() -> list[Family]:
    """The families with a config section, in declaration order."""
    return [f for f in FAMILIES.values() if f.section is not None]


def stage_lists() -> Iterator[tuple[Family, StageList]]:
    """Every stage list of every family, in run order."""
    pairs = [(f, s) for f in FAMILIES.values() for s in f.stage_lists]
    yield from sorted(pairs, key=lambda pair: pair[1].order)


def stage_families() -> list[Family]:
    """The stage families in the order their output stages run (filter, then privacy): the order a
    bare stage name is looked up in, and of the stages named on the command line."""

    def first_output(family: Family) -> int:
        orders = [s.order for s in family.stage_lists if s.position == "outputs"]
        return min(orders) if orders else min(s.order for s in family.stage_lists) + 1_000_000

    return sorted((f for f in FAMILIES.values() if f.is_stage), key=first_output)
