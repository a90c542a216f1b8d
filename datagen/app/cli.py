"""The ``datagen`` command: global options, built-in subcommands and subcommands from plugins."""

from __future__ import annotations

import contextlib
import json
import sys
import tomllib
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from datagen.__about__ import __version__
from datagen.app.runner import execute, prepare, run_sync
from datagen.datamodel.config import DatagenConfig, dump_toml, load_config
from datagen.datamodel.report import RunReport, plural
from datagen.datamodel.seeds import default_seeds_path, load_seeds_file
from datagen.engine.cache import ResponseCache
from datagen.errors import ConfigError, DatagenError, UsageError
from datagen.kernel.manager import PluginManager, load_plugins_for
from datagen.kernel.options import effective_config
from datagen.log import configure_logging, get_logger, redact_text

log = get_logger("datagen.app.cli")
BUILTIN_COMMANDS = ("cache", "config", "filter", "generate", "plugins")
#: the commands that run stages, each with a flag per stage family (:func:`stage_flags`)
STAGE_COMMANDS = ("generate", "filter")


class AppState:
    """Per-invocation state: the global options, the base config and the plugin manager, built lazily."""

    def __init__(self, config_path: Path | None, debug: bool, log_json: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self.log_json = log_json
        self._config: DatagenConfig | None = None
        self._pm: PluginManager | None = None
        self._commands: PluginManager | None = None

    def load(self, overrides: dict[str, Any] | None = None) -> DatagenConfig:
        """The effective config: file < environment < ``overrides`` (from a subcommand's flags).

        With ``overrides`` (a command about to work), a core problem is reported together with the
        plugin tables' problems, at once, with the file's name; the plugin tables of a config whose core
        is sound are checked with everything else a run needs, before it starts."""
        from datagen.datamodel.config import raw_config
        from datagen.kernel.options import raw_plugin_problems

        source = None if self.config_path is None else str(self.config_path)
        try:
            config = load_config(self.config_path, overrides=overrides)
        except ConfigError as exc:
            if overrides is None:
                raise
            raw = raw_config(self.config_path, overrides=overrides)
            extra = raw_plugin_problems(raw, load_plugins_for(load_config()))
            raise ConfigError([*exc.problems, *extra], source=source) from None
        _LOADED["source"] = source  # named by any configuration error found later (main)
        return config

    @property
    def config(self) -> DatagenConfig:
        """The config without subcommand flags."""
        if self._config is None:
            self._config = self.load()
            level = "debug" if self.debug else self._config.logging.level
            configure_logging(level, json=self.log_json or self._config.logging.json)
        return self._config

    @property
    def pm(self) -> PluginManager:
        """The plugin manager, honouring the config's disable list and strictness."""
        if self._pm is None:
            self._pm = load_plugins_for(self.config)
        return self._pm

    @property
    def commands(self) -> PluginManager:
        """The plugins that may add commands: the third-party ones (built-ins add none), so that
        ``--help`` and the built-in commands do not import every built-in plugin."""
        if self._pm is not None:
            return self._pm
        if self._commands is None:
            self._commands = load_plugins_for(self.config, builtins=False)
        return self._commands


#: the config file the command loaded: a configuration error found after loading names it too
_LOADED: dict[str, str | None] = {"source": None}


def _state(ctx: click.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        params = root.params
        cfg = params.get("config_path")
        root.obj = AppState(
            Path(cfg) if cfg else None, bool(params.get("debug")), bool(params.get("log_json"))
        )
    return root.obj


class DatagenGroup(click.Group):
    """A group whose commands also come from plugins' ``datagen_register_commands``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        with contextlib.suppress(DatagenError):  # bad config: the subcommand that runs reports it
            names.update(_state(ctx).commands.registry("command").names())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return stage_flags(cmd) if cmd_name in STAGE_COMMANDS else cmd
        registry = _state(ctx).commands.registry("command")
        return registry.get(cmd_name) if cmd_name in registry else None


@click.group(cls=DatagenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DATAGEN_CONFIG",
    help="TOML or YAML config file (env: DATAGEN_CONFIG).",
)
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@click.option("--log-json", is_flag=True, help="Log JSON lines to stderr.")
@click.version_option(__version__, prog_name="datagen")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool, log_json: bool) -> None:
    """Generate synthetic text datasets for training LLMs."""
    state = _state(ctx)
    state.config_path, state.debug, state.log_json = config_path, debug, log_json


# ------------------------------------------------------------------------------------------------ plugins


def _member_families() -> list[str]:
    """The families whose members ``datagen plugins NAME`` describes (those with config tables), in
    declaration order."""
    from datagen.datamodel.families import sectioned

    return [f.name for f in sectioned()]


def describe_member(pm: PluginManager, name: str) -> list[dict[str, Any]]:
    """What is registered as ``name`` in any family: its doc and every option with type and default."""
    import inspect

    import attrs as attrs_

    found = []
    for family in _member_families():
        registry = pm.registry(family)
        if name not in registry:
            continue
        entry = registry.entry(name)
        cls = entry.obj
        options = []
        for field in attrs_.fields(cls.Config):
            default = field.default
            if isinstance(default, attrs_.Factory):  # type: ignore[arg-type]
                default = default.factory()
            secret = bool(field.metadata.get("secret"))
            options.append(
                {
                    "name": field.name,
                    "type": field.type
                    if isinstance(field.type, str)
                    else getattr(field.type, "__name__", ""),
                    "default": "****" if secret and default else default,
                }
            )
        found.append(
            {
                "family": family,
                "name": name,
                "plugin": entry.plugin,
                "doc": inspect.getdoc(cls) or "",
                "table": f"[{family}.{name}]",
                "options": options,
            }
        )
    return found


@cli.command("plugins")
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.option("--hook", "hook", default=None, help="Only plugins implementing this hook.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins_cmd(
    ctx: click.Context, name: str | None, show_all: bool, hook: str | None, as_json: bool
) -> None:
    """List installed plugins: name, distribution, version and hooks implemented.

    With NAME (a method, backend, filter, ...), describe it: what it does and every option with its type
    and default, as set in its config table or with --set.
    """
    pm = _state(ctx).pm
    if name is not None:
        _describe(pm, name, as_json)
        return
    if hook is not None and hook not in pm.hook_names():
        raise click.BadParameter(
            f"no hook {hook!r}; hooks: {', '.join(pm.hook_names())}", param_hint="--hook"
        )
    provides: dict[str, list[str]] = {}
    from datagen.datamodel.families import FAMILIES

    for family in FAMILIES:
        for entry in pm.registry(family):
            provides.setdefault(entry.plugin, []).append(f"{family}:{entry.name}")
    rows = [
        info
        for info in pm.plugin_infos()
        if (show_all or not info.builtin) and (hook is None or hook in info.hooks)
    ]
    if as_json:
        data = [
            {
                "name": i.name,
                "distribution": i.dist,
                "version": i.version,
                "hooks": list(i.hooks),
                "provides": provides.get(i.name, []),
            }
            for i in rows
        ]
        click.echo(json.dumps(data, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "from", "hooks", "provides")
        for column in table.columns:
            column.overflow = "fold"  # wrap long names instead of cutting them
        table.columns[-1].no_wrap = True  # "family:name" whole, it is what users type
        for i in rows:
            table.add_row(
                i.name,
                f"{i.dist or '-'} {i.version or ''}".strip(),
                "\n".join(h.removeprefix("datagen_register_").removeprefix("datagen_") for h in i.hooks),
                "\n".join(provides.get(i.name, [])),
            )
        Console().print(table)
        if not rows and not show_all:
            click.echo("no third-party plugins installed (--all lists the built-ins)")
    for _name, error in sorted(pm.failed.items()):
        click.echo(f"warning: {error}", err=True)


def _describe(pm: PluginManager, name: str, as_json: bool) -> None:
    members = describe_member(pm, name)
    if not members:
        known = sorted({n for family in _member_families() for n in pm.registry(family).names()})
        raise click.BadParameter(f"nothing is registered as {name!r}; known: {', '.join(known)}")
    if as_json:
        click.echo(json.dumps(members, indent=2, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for member in members:
        console.print(f"[bold]{member['family']} {member['name']}[/bold] (plugin {member['plugin']})")
        if member["doc"]:
            console.print(member["doc"], markup=False)
        where = f"{member['family']}.{member['name']}"
        console.print(escape(f"options: [{where}] in the config file, or --set {where}.OPTION=VALUE"))
        table = Table("option", "type", "default")
        for column in table.columns:
            column.overflow = "fold"
        for option in member["options"]:
            table.add_row(option["name"], str(option["type"]), json.dumps(option["default"], default=str))
        console.print(table)


# ------------------------------------------------------------------------------------------------- config


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@click.option("--format", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True)
@click.pass_context
def config_show(ctx: click.Context, fmt: str) -> None:
    """Print the effective configuration (file, environment, defaults), secrets masked."""
    state = _state(ctx)
    data = effective_config(state.config, state.pm)
    click.echo(json.dumps(data, indent=2) if fmt == "json" else dump_toml(data))


# ----------------------------------------------------------------------------------------------- generate


def _parse_setting(text: str) -> tuple[str, Any]:
    """``key.path=value`` with the value read as a TOML value when it is one (else as text)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise click.BadParameter(f"expected KEY=VALUE with a dotted KEY, got {text!r}", param_hint="--set")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _rate_column() -> Any:
    """A progress column: records per second (per minute when slow), as rich measures it."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.speed
            if not speed:
                return Text("-/s")
            return Text(f"{speed:.1f}/s" if speed >= 1 else f"{speed * 60:.1f}/min")

    return RateColumn()


def _generate_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """Config overrides from ``datagen generate``'s flags (``--set`` first, named flags win)."""
    overrides = _settings(opts["settings"])
    for flag, key in (
        ("method", "method.name"),
        ("backend", "backend.name"),
        ("model", "backend.model"),
        ("count", "generate.count"),
        ("concurrency", "engine.max_concurrency"),
        ("max_cost_usd", "engine.max_cost_usd"),
        ("temperature", "sampling.temperature"),
        ("top_p", "sampling.top_p"),
        ("max_tokens", "sampling.max_tokens"),
        ("seed", "sampling.seed"),
        ("require_count", "generate.require_count"),
        ("overwrite", "generate.overwrite"),
    ):
        _put(overrides, key, opts[flag])
    for flag, key in (
        ("seeds", "generate.seeds"),
        ("out", "generate.out"),
        ("cache_dir", "cache.dir"),
        ("rejected", "generate.rejected"),
        ("report", "generate.report"),
    ):
        _put(overrides, key, opts[flag] and str(opts[flag]))
    if opts["no_cache"]:
        _put(overrides, "cache.enabled", False)
    for family in _flagged_families():  # --filter, --privacy: every stage list of the family
        names = opts.get(_flag_dest(family.cli_flag), ())
        if names:
            for stage_list in family.stage_lists:
                _put(overrides, f"{family.name}.{stage_list.key}", list(names))
    if opts["index"]:
        _put(overrides, "filter.near_dedup.index", str(opts["index"]))
    return overrides


def _put(tree: dict[str, Any], path: str, value: Any) -> None:
    if value is None:
        return
    *parents, leaf = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _settings(settings: Sequence[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` options as nested overrides."""
    overrides: dict[str, Any] = {}
    for setting in settings:
        key, value = _parse_setting(setting)
        _put(overrides, key, value)
    return overrides


def _flagged_families() -> list[Any]:
    """The stage families with a CLI flag, in the order their output stages run."""
    from datagen.datamodel.families import stage_families

    return [f for f in stage_families() if f.cli_flag]


def _flag_dest(flag: str | None) -> str:
    """The keyword a stage family's flag arrives under (``--filter`` → ``stages_filter``)."""
    return "stages_" + (flag or "").lstrip("-").replace("-", "_")


def stage_flags(command: click.Command) -> click.Command:
    """Give a stage-running command a repeatable flag per declared stage family that has one
    (``--filter``, ``--privacy``, and any family declared since), ahead of its other options."""
    have = {p.name for p in command.params}
    added = [
        click.Option(
            [family.cli_flag or "", _flag_dest(family.cli_flag)],
            multiple=True,
            metavar="NAME",
            help=family.cli_help,
        )
        for family in _flagged_families()
        if _flag_dest(family.cli_flag) not in have
    ]
    if added:
        at = next((i for i, p in enumerate(command.params) if p.name == "rejected"), len(command.params))
        command.params[at:at] = added
    return command


def _stage_options(func: Any) -> Any:
    """``--rejected``, ``--report``, ``--overwrite`` and ``--index``, shared by ``generate`` and
    ``filter`` (:func:`stage_flags` adds the stage families' flags before them)."""
    for option in reversed(
        (
            click.option(
                "--rejected",
                type=click.Path(path_type=Path),
                help="JSONL file of every removed record, with stage and reason.",
            ),
            click.option("--report", type=click.Path(path_type=Path), help="Write the run report as JSON."),
            click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file."),
            click.option(
                "--index",
                type=click.Path(file_okay=False, path_type=Path),
                help="near_dedup's persistent index folder: deduplicate against earlier runs too.",
            ),
        )
    ):
        func = option(func)
    return func


def _finish(report: RunReport, require_count: bool) -> None:
    """The closing lines of a run, and its exit code: 1 when nothing was written, 3 when short and
    ``require_count``."""
    click.echo(report.summary(), err=True)
    if report.method_rejections:
        reasons = ", ".join(f"{k}={v}" for k, v in report.method_rejections.items())
        click.echo(f"rejected or dropped by {report.method}: {reasons}", err=True)
    for stage in report.stages:
        found = stage.get("details", {}).get("found")
        if isinstance(found, dict):  # what a privacy stage found and replaced, by type
            counts = ", ".join(f"{k}={v}" for k, v in found.items()) or "nothing"
            changed = stage["details"].get("records_changed")
            where = f" in {plural(changed, 'record')}" if isinstance(changed, int) else ""
            click.echo(f"{stage['family']} {stage['name']}: replaced {counts}{where}", err=True)
        if stage["removed"]:
            reasons = ", ".join(f"{k}={v}" for k, v in stage["reasons"].items())
            click.echo(
                f"{stage['family']} {stage['name']}: removed {stage['removed']} of {stage['examined']} "
                f"({reasons})",
                err=True,
            )
    if report.stopped:
        click.echo(f"stopped early: {report.stopped}", err=True)
    if report.written == 0:
        why = "; ".join(report.short_reasons) or "no record survived"
        _fail(f"no record written ({why}); no output file was created", 1)
    if report.status == "short":
        why = "; ".join(report.short_reasons)
        click.echo(
            f"warning: {plural(report.written, 'record')} of {report.requested} asked: {why}", err=True
        )
        if require_count:
            _fail(f"fewer records than asked ({report.written} of {report.requested}; --require-count)", 3)


@cli.command("generate")
@click.option("--method", help="Generation method (default: [method] name).")
@click.option("--backend", help="Backend (default: [backend] name; auto = key in environment, else local).")
@click.option("--model", help="Model name or path for the backend.")
@click.option("--base-url", help="Server URL for the backend (OpenAI-compatible servers).")
@click.option(
    "--seeds",
    type=click.Path(path_type=Path),
    help="Seeds: JSONL (records or Self-Instruct tasks), a JSON array, CSV with a header, or Parquet.",
)
@click.option(
    "--private",
    type=click.Path(path_type=Path),
    help="Private dataset (JSONL/Parquet) for a differentially private method such as aug_pe.",
)
@click.option("-n", "--count", type=int, help="How many records to generate.")
@click.option("-o", "--out", type=click.Path(path_type=Path), help="Output file: .jsonl or .parquet.")
@click.option("--temperature", type=float, help="Sampling temperature ([sampling] temperature).")
@click.option("--top-p", type=float, help="Nucleus sampling ([sampling] top_p).")
@click.option("--max-tokens", type=int, help="Tokens per answer at most ([sampling] max_tokens).")
@click.option("--seed", type=int, help="Sampling seed sent with each request ([sampling] seed).")
@click.option("--concurrency", type=int, help="Requests in flight at once.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Response cache folder.")
@click.option("--no-cache", is_flag=True, default=None, help="Neither read nor write the response cache.")
@click.option("--max-cost-usd", type=float, help="Stop cleanly when this much has been spent.")
@click.option(
    "--require-count",
    is_flag=True,
    default=None,
    help="Exit 3 when fewer records than --count are written (default: a warning).",
)
@_stage_options
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any config key, e.g. method.evol_instruct.rounds=2 (VALUE is a TOML value or plain text).",
)
@click.pass_context
def generate_cmd(ctx: click.Context, /, **opts: Any) -> None:
    """Generate records with a method and a backend, through the filter and privacy stages, streamed to
    --out. `datagen plugins NAME` lists a method's options."""
    state = _state(ctx)
    overrides = _generate_overrides(opts)
    config = state.load(overrides)
    if opts["private"] is not None:
        # the private dataset of a differentially private method (aug_pe): one of its options
        if not Path(opts["private"]).is_file():
            raise click.UsageError(f"--private {opts['private']}: no such file")
        _put(overrides, f"method.{config.method.name}.private", str(opts["private"]))
        config = state.load(overrides)
    if opts["base_url"]:
        from datagen.app.backend_choice import resolve_backend_name

        name = resolve_backend_name(config, state.pm)
        _put(overrides, f"backend.{name}.base_url", opts["base_url"])
        config = state.load(overrides)
    pm = state.pm
    out = config.generate.out
    if out is None:
        raise click.UsageError("no output file: pass --out FILE (.jsonl or .parquet) or set [generate] out")
    seeds = load_seeds_file(config.generate.seeds or default_seeds_path())
    prepared = prepare(config, pm, seeds, count=config.generate.count, out=out)
    show = opts["progress"] if opts["progress"] is not None else sys.stderr.isatty()
    run = prepared.run
    click.echo(f"backend {run.backend}, model {run.model} ({prepared.backend_reason})", err=True)
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _rate_column(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        ) as bar:
            task = bar.add_task(f"{run.method} via {run.backend}", total=run.count, stats="")

            def advance(n: int) -> None:
                s = run.stats
                cost = "cost ?" if s.usage.cost_usd is None else f"${s.usage.cost_usd:.4f}"
                bar.update(
                    task,
                    advance=n,
                    stats=f"{s.requests} req, {s.cached} cached, {s.usage.total_tokens} tok, {cost}",
                )

            results = run_sync(execute(prepared, pm, advance))
    else:
        results = run_sync(execute(prepared, pm))
    _finish(results.report, config.generate.require_count)


@cli.command("filter")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Output: .jsonl or .parquet."
)
@_stage_options
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key (stage options).")
@click.pass_context
def filter_cmd(ctx: click.Context, /, source: Path, out: Path, **opts: Any) -> None:
    """Run filter and privacy stages over an existing JSONL or Parquet file, without generating.

    The stages are the --filter and --privacy flags in order, else the config's [filter] chain and
    [privacy] outputs.
    """
    state = _state(ctx)
    overrides = _settings(opts["settings"])
    if opts["index"]:
        _put(overrides, "filter.near_dedup.index", str(opts["index"]))
    config = state.load(overrides)
    from datagen.app.pipeline import configured_output_stages

    families = _flagged_families()
    stages = [(f.name, n) for f in families for n in opts.get(_flag_dest(f.cli_flag), ())]
    if not stages and not any(configured_output_stages(config).values()):
        flags = " / ".join(f"{f.cli_flag} NAME" for f in families)
        raise click.UsageError(f"no stage: pass {flags} or set [filter] chain")
    _stages_over_file(state, config, source, out, stages, opts=opts, rejected=opts["rejected"])


def _stages_over_file(
    state: AppState,
    config: DatagenConfig,
    source: Path,
    out: Path,
    stages: list[tuple[str, str]],
    *,
    opts: dict[str, Any],
    rejected: Path | None = None,
) -> None:
    """``stages`` over the records of ``source`` into ``out``: the shared end of filter and scrub."""
    from datagen.app.pipeline import apply_stages
    from datagen.datamodel.results import check_side_file, iter_records

    if not source.is_file():
        raise click.UsageError(f"{source}: no such file")
    overwrite = bool(opts["overwrite"])
    if opts["report"] is not None:
        check_side_file(Path(opts["report"]), "report", overwrite=overwrite)
    if rejected is not None:
        check_side_file(rejected, "rejected", overwrite=overwrite)
    results = apply_stages(
        iter_records(source),
        stages,
        config=config,
        plugins=state.pm,
        out=out,
        rejected=rejected,
        overwrite=bool(opts["overwrite"]),
    )
    report = results.report
    assert report is not None
    if opts["report"] is not None:
        report.save(opts["report"])
    _finish(report, require_count=False)


@cli.command("scrub")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Output: .jsonl or .parquet."
)
@click.option(
    "--fields",
    help="Comma-separated fields to scrub: instruction, input, output, messages, metadata (its strings; "
    "default: all).",
)
@click.option(
    "--strategy",
    type=click.Choice(["mask", "pseudonym", "fake"]),
    help="[EMAIL], <PERSON_1> (stable per value), or a fake value of the same format (default: mask).",
)
@click.option(
    "--types", help="Comma-separated entity types (default: all; `datagen plugins pii` lists them)."
)
@click.option("--scope", type=click.Choice(["record", "dataset"]), help="Where a pseudonym is stable.")
@click.option("--locale", help="Faker locale for --strategy fake (default: en_US).")
@click.option(
    "--entities",
    type=click.Path(path_type=Path),
    help="JSONL of every entity found: record, field, start, end, type, score (never the value).",
)
@click.option("--report", type=click.Path(path_type=Path), help="Write the run report as JSON.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key.")
@click.pass_context
def scrub_cmd(ctx: click.Context, /, source: Path, out: Path, **opts: Any) -> None:
    """Replace personal data and secrets in a JSONL or Parquet file (the pii privacy stage).

    Every text of a record is scrubbed unless --fields names some. The counts by type are in the
    report; --entities lists each entity's position in the original text.
    """
    from datagen.datamodel.results import check_side_file

    state = _state(ctx)
    overrides = _settings(opts["settings"])
    for option, key in (("strategy", "strategy"), ("scope", "scope"), ("locale", "locale")):
        if opts[option] is not None:
            _put(overrides, f"privacy.pii.{key}", opts[option])
    for option in ("fields", "types"):
        if opts[option] is not None:
            _put(
                overrides, f"privacy.pii.{option}", [v.strip() for v in opts[option].split(",") if v.strip()]
            )
    if opts["entities"] is not None:
        check_side_file(Path(opts["entities"]), "entities")
        _put(overrides, "privacy.pii.entities", str(opts["entities"]))
    config = state.load(overrides)
    _stages_over_file(state, config, source, out, [("privacy", "pii")], opts=opts)


@cli.command("audit")
@click.option(
    "--private", "private", type=click.Path(path_type=Path), required=True, help="The private data."
)
@click.option("--synthetic", type=click.Path(path_type=Path), help="The synthetic data made from it.")
@click.option("--canaries", type=click.Path(path_type=Path), help="The canary file plant-canaries wrote.")
@click.option(
    "--plant-canaries",
    "plant",
    type=int,
    help="Instead of auditing: copy --private to --out with this many canary sentences planted.",
)
@click.option("-o", "--out", type=click.Path(path_type=Path), help="With --plant-canaries: the copy.")
@click.option(
    "--embeddings/--no-embeddings", default=None, help="Nearest neighbours (default: if installed)."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the findings as JSON.")
@click.pass_context
def audit_cmd(ctx: click.Context, /, **opts: Any) -> None:
    """Audit synthetic data for leaks of the private data it came from: verbatim and near-verbatim
    overlap, nearest neighbours, PII, and canaries (plant them first with --plant-canaries K)."""
    from datagen.app.audit import audit, plant_canaries, verdict
    from datagen.datamodel.results import check_side_file, iter_records, write_file

    state = _state(ctx)
    private: Path = opts["private"]
    if not private.is_file():
        raise click.UsageError(f"--private {private}: no such file")
    if opts["plant"] is not None:
        if opts["out"] is None:
            raise click.UsageError("--plant-canaries needs --out FILE for the private data with canaries")
        planted = plant_canaries(private, opts["out"], opts["plant"])
        click.echo(f"wrote {opts['out']} with {len(planted)} canaries, listed in {opts['out']}.canaries.json")
        return
    synthetic: Path | None = opts["synthetic"]
    if synthetic is None or not synthetic.is_file():
        raise click.UsageError(f"--synthetic {synthetic}: no such file")
    canaries = []
    if opts["canaries"] is not None:
        try:
            canaries = json.loads(Path(opts["canaries"]).read_text())
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"--canaries {opts['canaries']}: {exc}") from None
    if opts["json_out"] is not None:
        check_side_file(Path(opts["json_out"]), "json")
    from datagen.kernel.capabilities import pii_detector_for_audit

    detector = pii_detector_for_audit(state.pm, state.config)
    embedder = None
    if opts["embeddings"] is not False:
        from datagen.text.embeddings import Embedder

        try:
            embedder = Embedder()
        except UsageError:
            if opts["embeddings"]:
                raise
    found = audit(
        iter_records(private), iter_records(synthetic), canaries=canaries, pii=detector, embedder=embedder
    )
    for line in verdict(found):
        click.echo(line)
    if opts["json_out"] is not None:
        write_file(opts["json_out"], json.dumps(found, indent=2))


@cli.command("metrics")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--metric", "names", multiple=True, metavar="NAME", help="A metric; repeatable (default: [metric] run)."
)
@click.option(
    "--compare", type=click.Path(path_type=Path), help="Another dataset: the same metrics, side by side."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the metrics as JSON.")
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key (metric options)."
)
@click.pass_context
def metrics_cmd(ctx: click.Context, /, source: Path, **opts: Any) -> None:
    """Compute metrics of a JSONL or Parquet file (stats, diversity, readability, topics, ... ; `datagen
    plugins --all` lists them). A metric that cannot run is reported as skipped, with the reason."""
    from datagen.app.metrics import compare, compute
    from datagen.datamodel.results import check_side_file, write_file

    state = _state(ctx)
    overrides = _settings(opts["settings"])
    config = state.load(overrides)
    for path in (source, opts["compare"]):
        if path is not None and not Path(path).is_file():
            raise click.UsageError(f"{path}: no such file")
    if opts["json_out"] is not None:
        check_side_file(Path(opts["json_out"]), "json")
    names = list(opts["names"]) or None
    if opts["compare"] is not None:
        found: dict[str, Any] = compare(source, opts["compare"], names, config=config, plugins=state.pm)
        for key, diff in sorted(found["differences"].items()):
            click.echo(f"{key}: {diff.get('a')} -> {diff.get('b')}")
    else:
        found = compute(source, names, config=config, plugins=state.pm)
        for name, values in found.items():
            if "skipped" in values:
                click.echo(f"{name}: skipped ({values['skipped']})")
                continue
            flat = {
                k: v
                for k, v in values.items()
                if isinstance(v, int | float | str) and not isinstance(v, bool)
            }
            click.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in flat.items()))
    if opts["json_out"] is not None:
        write_file(opts["json_out"], json.dumps(found, indent=2))
    if opts["compare"] is None and found and all("skipped" in v for v in found.values()):
        _fail(f"{source}: no metric could run (each was skipped, as listed above)", 1)


@cli.command("report")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="The HTML file to write.")
@click.option("--compare", type=click.Path(path_type=Path), help="Another dataset to compare with.")
@click.option(
    "--run-report", type=click.Path(path_type=Path), help="The run's --report JSON (filters, budget)."
)
@click.option("--metric", "names", multiple=True, metavar="NAME", help="A metric; repeatable.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report.")
@click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key (metric options)."
)
@click.pass_context
def report_cmd(ctx: click.Context, /, source: Path, out: Path, **opts: Any) -> None:
    """Write one self-contained HTML page about a dataset: summary, dataset card, metrics, plots, the
    filter and privacy report and the run report when given, and a comparison with --compare."""
    from datagen.app.html_report import write_report
    from datagen.app.metrics import compute, differences
    from datagen.datamodel.results import iter_records

    state = _state(ctx)
    overrides = _settings(opts["settings"])
    config = state.load(overrides)
    for path in (source, opts["compare"], opts["run_report"]):
        if path is not None and not Path(path).is_file():
            raise click.UsageError(f"{path}: no such file")
    if out.exists() and not opts["overwrite"]:
        raise click.UsageError(f"{out} exists; pass --overwrite to replace it")
    run_report = None
    if opts["run_report"] is not None:
        try:
            run_report = json.loads(Path(opts["run_report"]).read_text())
        except ValueError as exc:
            raise click.UsageError(f"--run-report {opts['run_report']}: {exc}") from None
    names = list(opts["names"]) or None
    found = compute(source, names, config=config, plugins=state.pm)
    comparison = None
    if opts["compare"] is not None:
        second = compute(opts["compare"], names, config=config, plugins=state.pm)
        comparison = {"differences": differences(found, second)}
    label = Path(opts["compare"]).name if opts["compare"] is not None else None
    write_report(
        source, out, found, iter_records(source), run_report=run_report, comparison=comparison, other=label
    )
    click.echo(f"wrote {out}")


@cli.command("tune")
@click.argument("config_file", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tuning"),
    show_default=True,
    help="Folder for the checkpoint, history, best parameters and plot.",
)
@click.option("--agent", help="The agent ([tune] agent).")
@click.option("--iterations", type=int, help="Iterations ([tune] iterations).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_context
def tune_cmd(ctx: click.Context, /, config_file: Path, out: Path, **opts: Any) -> None:
    """Search generation parameters with an RL agent against a target model's score ([tune] in
    CONFIG_FILE, its `evaluate = "module:function"` the callback). Resumes from OUT/tuning.json."""
    from datagen.app.generator import Generator
    from datagen.app.tuner import RLTuner

    if not config_file.is_file():
        raise click.UsageError(f"{config_file}: no such file")
    state = _state(ctx)
    overrides = _settings(opts["settings"])
    if opts["agent"]:
        _put(overrides, "tune.agent", opts["agent"])
    if opts["iterations"]:
        _put(overrides, "tune.iterations", opts["iterations"])
    state.config_path = config_file
    config = state.load(overrides)
    callback = _tune_callback(config_file, config.tune.evaluate)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "tuning.json"
    generator = Generator(config, plugins=state.pm)
    if checkpoint.is_file():
        tuner = RLTuner.load(checkpoint, generator, callback, checkpoint=checkpoint)
        tuner.config = config.tune  # the file's iterations and patience win on resume
        click.echo(f"resuming from {checkpoint}: {len(tuner.records)} evaluations done", err=True)
    else:
        tuner = RLTuner(generator, callback, config.tune, checkpoint=checkpoint)
    show = opts["progress"] if opts["progress"] is not None else sys.stderr.isatty()
    total = config.tune.iterations * config.tune.parallel

    def line(record: dict[str, Any]) -> str:
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record["params"].items()
        )
        return f"best {tuner.best_reward():.4g} | last {record['reward']:.4g} | {params}"[:160]

    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]tuning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"), console=Console(stderr=True),
        ) as bar:  # fmt: skip
            task = bar.add_task("tune", total=total, completed=len(tuner.records), status="")
            tuner.tune(progress=lambda r: bar.update(task, advance=1, status=line(r)))
    else:
        tuner.tune(progress=lambda r: click.echo(f"#{r['iteration']} {line(r)}", err=True))
    _tune_outputs(tuner, out, config.tune.agent)


def _tune_callback(config_file: Path, spec: str | None) -> Any:
    """The ``module:function`` callback, the config file's folder on the import path."""
    import importlib

    if not spec or ":" not in spec:
        raise click.UsageError(f"{config_file}: [tune] evaluate must name the callback as 'module:function'")
    module_name, _, function = spec.partition(":")
    sys.path.insert(0, str(config_file.resolve().parent))
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise click.UsageError(f"{config_file}: [tune] evaluate = {spec!r}: {exc}") from None


def _tune_outputs(tuner: Any, out: Path, agent: str) -> None:
    """best.json, history.jsonl and rewards.png in ``out``."""
    from datagen.app.tuner import plot_rewards
    from datagen.datamodel.results import write_file

    best = {"params": tuner.best_params(), "reward": tuner.best_reward(), "agent": agent}
    write_file(out / "best.json", json.dumps(best, indent=2))
    write_file(out / "history.jsonl", "".join(json.dumps(record) + "\n" for record in tuner.records))
    plot_rewards({agent: [r["reward"] for r in tuner.records]}, out / "rewards.png")
    click.echo(
        f"best {best['reward']:.4g} with {best['params']}; history, best.json and rewards.png in {out}"
    )


# -------------------------------------------------------------------------------------------------- cache


@cli.group("cache")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache folder (default: [cache] dir).")
@click.pass_context
def cache_group(ctx: click.Context, cache_dir: Path | None) -> None:
    """Inspect or clear the response cache that makes reruns resume."""
    ctx.meta["datagen.cache_dir"] = cache_dir


def _open_cache(ctx: click.Context) -> ResponseCache:
    directory = ctx.meta.get("datagen.cache_dir") or _state(ctx).config.cache.dir
    return ResponseCache(Path(directory))


@cache_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def cache_stats(ctx: click.Context, as_json: bool) -> None:
    """Entries, tokens and cost held in the cache, by backend and model."""
    cache = _open_cache(ctx)
    try:
        stats = cache.stats()
    finally:
        cache.close()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("backend", "model", "entries", "prompt tokens", "completion tokens", "cost (USD)")
    for column in table.columns:
        column.overflow = "fold"  # wrap long model names instead of cutting them
    for g in stats["groups"]:
        cost = "unknown" if g["cost_usd"] is None else f"{g['cost_usd']:.4f}"
        table.add_row(
            g["backend"],
            g["model"],
            str(g["entries"]),
            str(g["prompt_tokens"]),
            str(g["completion_tokens"]),
            cost,
        )
    Console().print(table)
    click.echo(f"{stats['entries']} responses, {stats['bytes'] / 1e6:.1f} MB in {stats['path']}")


@cache_group.command("clear")
@click.option("--backend", help="Only this backend's responses.")
@click.option("--model", help="Only this model's responses.")
@click.pass_context
def cache_clear(ctx: click.Context, backend: str | None, model: str | None) -> None:
    """Delete cached responses (all, or one backend's or model's)."""
    cache = _open_cache(ctx)
    try:
        deleted = cache.clear(backend=backend, model=model)
    finally:
        cache.close()
    click.echo(f"deleted {deleted} cached responses")


# --------------------------------------------------------------------------------------------------- main


def _interrupted() -> NoReturn:
    from datagen.app.signals import TERMINATED

    if TERMINATED["by_sigterm"]:
        _fail("terminated", 143)
    _fail("interrupted", 130)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {redact_text(message)}", err=True)
    sys.exit(code)


#: the group's own options, also accepted after a subcommand (``datagen generate --config x.toml``)
GLOBAL_VALUE_OPTIONS = ("--config",)
GLOBAL_FLAGS = ("--debug", "--log-json")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options that follow the subcommand in front of it, where click expects them."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_FLAGS:
            front.append(arg)
        elif arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        elif arg.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS and "=" in arg:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``datagen`` console script: clean errors and exit codes, tracebacks with --debug."""
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="datagen", standalone_mode=False)
    except click.exceptions.Abort:  # click's name for a KeyboardInterrupt
        _interrupted()
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # one style for every error: one line, then where to look
        command = exc.ctx.command_path if exc.ctx is not None else "datagen"
        _fail(f"{exc.format_message()} (see '{command} --help')", exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DatagenError as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, ConfigError) and exc.source is None and _LOADED["source"]:
            exc = ConfigError(exc.problems, source=_LOADED["source"])
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except ImportError as exc:
        from datagen.errors import missing_extra

        missing = missing_extra(exc)
        if missing is None:
            raise
        _fail(str(missing), missing.exit_code)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)


if __name__ == "__main__":
    main()
