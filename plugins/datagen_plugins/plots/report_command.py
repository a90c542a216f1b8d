"""``datagen report``: one self-contained HTML page about a dataset (metrics and plots)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datagen.plugin import Host, LazyCommand, RegisterCommand, hookimpl, pass_host


@click.command("report")
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
@pass_host
def report_cmd(host: Host, /, source: Path, out: Path, **opts: Any) -> None:
    """Write one self-contained HTML page about a dataset: summary, dataset card, metrics, plots, the
    filter and privacy report and the run report when given, and a comparison with --compare."""
    overrides = host.settings(opts["settings"])
    config = host.load(overrides)
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
    found = host.metrics(source, names, config=config)
    comparison = None
    if opts["compare"] is not None:
        second = host.metrics(opts["compare"], names, config=config)
        comparison = {"differences": host.metric_differences(found, second)}
    label = Path(opts["compare"]).name if opts["compare"] is not None else None
    host.write_report(source, out, found, run_report=run_report, comparison=comparison, other=label)
    click.echo(f"wrote {out}")


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen report`` (imported when it runs)."""
    register(
        LazyCommand(
            "report", f"{__name__}:report_cmd", "Write one self-contained HTML page about a dataset.", "plot"
        )
    )
