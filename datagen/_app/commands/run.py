"""``datagen run``: a pipeline file run into a run directory, resumable per row group."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from datagen._app.commands._pipefile import model_options, pipeline
from datagen._kernel.commands import Host, pass_host


@click.command("run")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="The run directory.")
@click.option("--report", type=click.Path(path_type=Path), help="Also write the run report here.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.option(
    "--executor",
    help="Where the row groups run: an executor plugin (default: [executor] name, else `ray` when "
    "RAY_ADDRESS is set, else this process).",
)
@click.option("--workers", type=click.IntRange(min=1), help="Workers of a distributed executor.")
@click.option("--address", help="The cluster a distributed executor joins (e.g. ray://head:10001).")
@click.option(
    "--checkpoints",
    help="Where the checkpoints go, seen by every worker: a directory or an fsspec URL such as "
    "s3://bucket/run (default: OUT/.checkpoints).",
)
@model_options
@pass_host
def run_cmd(host: Host, /, file: Path, out: Path, **opts: Any) -> None:
    """Run a pipeline file into OUT: data.jsonl (or .parquet), rejects.jsonl (every removed row with
    its step and reason), report.json, and a checkpoint per step and row group, so a rerun after a
    crash or an edit continues from what is done and recomputes only what changed."""
    from datagen._datamodel.results import check_side_file, write_file

    if opts["report"] is not None:
        check_side_file(Path(opts["report"]), "report")
    executor = {k: opts[k] for k in ("executor", "workers", "address", "checkpoints") if opts[k] is not None}
    if "executor" in executor:
        executor["name"] = executor.pop("executor")
    built = pipeline(host, file, opts, config=host.load({"executor": executor}) if executor else None)
    prepared = built.prepared()
    show = opts["progress"] if opts["progress"] is not None else sys.stderr.isatty()
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from datagen._app.pipefile.api import total_rows

        with Progress(
            TextColumn("[bold]rows"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"), console=Console(stderr=True),
        ) as bar:  # fmt: skip
            task = bar.add_task("run", total=total_rows(prepared), status="")

            def progress(rows: int, counts: dict[str, float]) -> None:
                tokens = counts["input_tokens"] + counts["output_tokens"]
                status = f"{counts['requests']} requests, {tokens} tokens, ${counts['cost_usd']:.4f}"
                bar.update(task, completed=rows, status=status)

            result = built.run(out, progress=progress)
    else:
        result = built.run(out)
    report = result.report
    if opts["report"] is not None:
        write_file(Path(opts["report"]), json.dumps(report, indent=2, default=str))
    for step in report["steps"]:
        removed = ", ".join(f"{k}={v}" for k, v in step["removed"].items())
        resumed = f", {step['groups_resumed']} groups from checkpoints" if step["groups_resumed"] else ""
        click.echo(
            f"{step['name']}: {step['rows_in']} -> {step['rows_out']} rows, {step['requests']} requests"
            f"{resumed}{'; removed ' + removed if removed else ''}",
            err=True,
        )
    click.echo(
        f"wrote {report['written']} rows to {report['outputs'][0]} in {report['seconds']} s "
        f"({report['requests']} requests, {report['input_tokens']}+{report['output_tokens']} tokens, "
        f"${report['cost_usd']:.4f}); {report['removed']} removed, listed in {out / 'rejects.jsonl'}",
        err=True,
    )
    if report["written"] == 0:
        from datagen.errors import DatagenError

        raise DatagenError("no row survived the steps (see rejects.jsonl)")
