"""``datagen metrics``: the metric plugins over a file, or two files side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datagen.plugin import DatagenError, Host, LazyCommand, RegisterCommand, hookimpl, pass_host


@click.command("metrics")
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
@pass_host
def metrics_cmd(host: Host, /, source: Path, **opts: Any) -> None:
    """Compute metrics of a JSONL or Parquet file (stats, diversity, readability, topics, ... ; `datagen
    plugins --all` lists them). A metric that cannot run is reported as skipped, with the reason."""
    from datagen.plugin import check_side_file, write_file

    overrides = host.settings(opts["settings"])
    config = host.load(overrides)
    for path in (source, opts["compare"]):
        if path is not None and not Path(path).is_file():
            raise click.UsageError(f"{path}: no such file")
    if opts["json_out"] is not None:
        check_side_file(Path(opts["json_out"]), "json")
    names = list(opts["names"]) or None
    if opts["compare"] is not None:
        first = host.metrics(source, names, config=config)
        second = host.metrics(opts["compare"], names, config=config)
        found: dict[str, Any] = {
            "a": first,
            "b": second,
            "differences": host.metric_differences(first, second),
        }
        for key, diff in sorted(found["differences"].items()):
            click.echo(f"{key}: {diff.get('a')} -> {diff.get('b')}")
    else:
        found = host.metrics(source, names, config=config)
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
        raise DatagenError(f"{source}: no metric could run (each was skipped, as listed above)")


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen metrics`` (imported when it runs)."""
    register(
        LazyCommand(
            "metrics", f"{__name__}:metrics_cmd", "Compute metrics of a JSONL or Parquet file.", "metric"
        )
    )
