"""The ``datagen`` command: global options, built-in subcommands and subcommands from plugins."""

from __future__ import annotations

import contextlib
import json
import sys
import tomllib
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import ProgressColumn, Task
from rich.table import Table
from rich.text import Text

from datagen.__about__ import __version__
from datagen.app.runner import execute, prepare, run_sync
from datagen.datamodel.config import DatagenConfig, dump_toml, effective_config, load_config
from datagen.datamodel.seeds import default_seeds_path, load_seeds_file
from datagen.engine.cache import ResponseCache
from datagen.errors import DatagenError
from datagen.kernel.manager import PluginManager, load_plugins_for
from datagen.log import configure_logging, get_logger, redact_text

log = get_logger("datagen.app.cli")
BUILTIN_COMMANDS = ("cache", "config", "generate", "plugins")


class AppState:
    """Per-invocation state: the global options, the base config and the plugin manager, built lazily."""

    def __init__(self, config_path: Path | None, debug: bool, log_json: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self.log_json = log_json
        self._config: DatagenConfig | None = None
        self._pm: PluginManager | None = None

    def load(self, overrides: dict[str, Any] | None = None) -> DatagenConfig:
        """The effective config: file < environment < ``overrides`` (from a subcommand's flags)."""
        return load_config(self.config_path, overrides=overrides)

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
            names.update(_state(ctx).pm.registry("command").names())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:
            return cmd
        registry = _state(ctx).pm.registry("command")
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


@cli.command("plugins")
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.option("--hook", "hook", default=None, help="Only plugins implementing this hook.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def plugins_cmd(ctx: click.Context, show_all: bool, hook: str | None, as_json: bool) -> None:
    """List installed plugins: name, distribution, version and hooks implemented."""
    pm = _state(ctx).pm
    if hook is not None and hook not in pm.hook_names():
        raise click.BadParameter(
            f"no hook {hook!r}; hooks: {', '.join(pm.hook_names())}", param_hint="--hook"
        )
    provides: dict[str, list[str]] = {}
    for family in ("backend", "method", "filter", "privacy", "metric", "plot", "agent", "command"):
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
        table = Table("name", "distribution", "version", "hooks", "provides")
        for i in rows:
            table.add_row(
                i.name,
                i.dist or "-",
                i.version or "-",
                "\n".join(i.hooks),
                ", ".join(provides.get(i.name, [])),
            )
        Console().print(table)
        if not rows and not show_all:
            click.echo("no third-party plugins installed (--all lists the built-ins)")
    for _name, error in sorted(pm.failed.items()):
        click.echo(f"warning: {error}", err=True)


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


class _RateColumn(ProgressColumn):
    """Records per second (per minute when slow), as rich measures it."""

    def render(self, task: Task) -> Text:
        """The current rate."""
        speed = task.speed
        if not speed:
            return Text("-/s")
        return Text(f"{speed:.1f}/s" if speed >= 1 else f"{speed * 60:.1f}/min")


def _generate_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """Config overrides from ``datagen generate``'s flags (``--set`` first, named flags win)."""
    overrides: dict[str, Any] = {}
    for setting in opts["settings"]:
        key, value = _parse_setting(setting)
        _put(overrides, key, value)
    for flag, key in (
        ("method", "method.name"),
        ("backend", "backend.name"),
        ("model", "backend.model"),
        ("count", "generate.count"),
        ("concurrency", "engine.max_concurrency"),
        ("max_cost_usd", "engine.max_cost_usd"),
    ):
        _put(overrides, key, opts[flag])
    for flag, key in (("seeds", "generate.seeds"), ("out", "generate.out"), ("cache_dir", "cache.dir")):
        _put(overrides, key, opts[flag] and str(opts[flag]))
    if opts["no_cache"]:
        _put(overrides, "cache.enabled", False)
    return overrides


def _put(tree: dict[str, Any], path: str, value: Any) -> None:
    if value is None:
        return
    *parents, leaf = path.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


@cli.command("generate")
@click.option("--method", help="Generation method (default: [method] name).")
@click.option("--backend", help="Backend (default: [backend] name; auto = key in environment, else local).")
@click.option("--model", help="Model name or path for the backend.")
@click.option("--base-url", help="Server URL for the backend (OpenAI-compatible servers).")
@click.option(
    "--seeds", type=click.Path(path_type=Path), help="Seeds: JSONL (records or Self-Instruct tasks)."
)
@click.option("--count", type=int, help="How many records to generate.")
@click.option("--out", type=click.Path(path_type=Path), help="Output file: .jsonl or .parquet.")
@click.option("--concurrency", type=int, help="Requests in flight at once.")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Response cache folder.")
@click.option("--no-cache", is_flag=True, default=None, help="Neither read nor write the response cache.")
@click.option("--max-cost-usd", type=float, help="Stop cleanly when this much has been spent.")
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
    """Generate records with a method and a backend, streamed to --out."""
    state = _state(ctx)
    overrides = _generate_overrides(opts)
    config = state.load(overrides)
    if opts["base_url"]:
        from datagen.app.runner import resolve_backend_name

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
    err = Console(stderr=True)
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeRemainingColumn(),
            console=err,
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

            run_sync(execute(prepared, pm, advance))
    else:
        run_sync(execute(prepared, pm))
    s = run.stats
    cost = "unknown" if s.usage.cost_usd is None else f"${s.usage.cost_usd:.4f}"
    dropped = sum(s.dropped.values())
    truncated = s.finish_reasons.get("length", 0)
    click.echo(
        f"wrote {s.records} records to {out} ({s.requests} requests, {s.cached} from cache, "
        f"{s.retries} retries, {s.failed} failed, {dropped} dropped, {truncated} truncated, "
        f"{s.usage.total_tokens} tokens, cost {cost})",
        err=True,
    )
    if s.dropped:
        reasons = ", ".join(f"{k}={v}" for k, v in s.dropped.most_common())
        click.echo(f"rejected or dropped: {reasons}", err=True)
    if s.stopped:
        click.echo(f"stopped early: {s.stopped}", err=True)


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
    table = Table("backend", "model", "entries", "prompt tokens", "completion tokens", "cost (USD)")
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


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {redact_text(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``datagen`` console script: clean errors and exit codes, tracebacks with --debug."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="datagen", standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DatagenError as exc:
        if debug:
            traceback.print_exc()
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)


if __name__ == "__main__":
    main()
