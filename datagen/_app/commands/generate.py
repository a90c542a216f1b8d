"""``datagen generate``: a method and a backend over the seeds, through the stages, streamed to a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from datagen._app.commands._common import (
    finish,
    flag_dest,
    flagged_families,
    plugin_flag_overrides,
    rate_column,
    stage_flags,
    stage_options,
)
from datagen._app.runner import execute, prepare
from datagen._datamodel.config import deep_merge, put_setting
from datagen._datamodel.seeds import load_seeds_file
from datagen._engine.concurrency import run_sync
from datagen._kernel.commands import Host, pass_host


def generate_overrides(host: Host, opts: dict[str, Any]) -> dict[str, Any]:
    """Config overrides from ``datagen generate``'s flags (``--set`` first, named flags win)."""
    overrides = host.settings(opts["settings"])
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
        put_setting(overrides, key, opts[flag])
    for flag, key in (
        ("seeds", "generate.seeds"),
        ("personas", "generate.personas"),
        ("out", "generate.out"),
        ("cache_dir", "cache.dir"),
        ("rejected", "generate.rejected"),
        ("report", "generate.report"),
    ):
        put_setting(overrides, key, opts[flag] and str(opts[flag]))
    if opts["no_cache"]:
        put_setting(overrides, "cache.enabled", False)
    for family in flagged_families():  # --filter, --privacy: every stage list of the family
        names = opts.get(flag_dest(family.cli_flag), ())
        if names:
            for stage_list in family.stage_lists:
                put_setting(overrides, f"{family.name}.{stage_list.key}", list(names))
    return deep_merge(overrides, plugin_flag_overrides(click.get_current_context().command, opts))


@click.command("generate")
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
    "--personas",
    type=click.Path(path_type=Path),
    help="Personas, one per job in turn: .txt (one per line), or JSONL/CSV/Parquet with a persona column.",
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
@stage_options
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any config key, e.g. method.evol_instruct.rounds=2 (VALUE is a TOML value or plain text).",
)
@pass_host
def generate_cmd(host: Host, /, **opts: Any) -> None:
    """Generate records with a method and a backend, through the filter and privacy stages, streamed to
    --out. `datagen plugins NAME` lists a method's options."""
    overrides = generate_overrides(host, opts)
    config = host.load(overrides)
    if opts["private"] is not None:
        # the private dataset of a differentially private method (aug_pe): one of its options
        if not Path(opts["private"]).is_file():
            raise click.UsageError(f"--private {opts['private']}: no such file")
        from datagen._kernel.capabilities import default_member

        method = default_member(host.plugins, "method", config.method.name)
        put_setting(overrides, f"method.{method}.private", str(opts["private"]))
        config = host.load(overrides)
    if opts["base_url"]:
        from datagen._app.backend_choice import resolve_backend_name

        name = resolve_backend_name(config, host.plugins)
        put_setting(overrides, f"backend.{name}.base_url", opts["base_url"])
        config = host.load(overrides)
    pm = host.plugins
    out = config.generate.out
    if out is None:
        raise click.UsageError("no output file: pass --out FILE (.jsonl or .parquet) or set [generate] out")
    from datagen._kernel.capabilities import default_member, default_seeds

    method = default_member(pm, "method", config.method.name)
    seeds = load_seeds_file(config.generate.seeds or default_seeds(pm, method))
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
            rate_column(),
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
    finish(results.report, config.generate.require_count)


stage_flags(generate_cmd)
