"""``datagen preview``: a few rows through every step of a pipeline file, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datagen._app.commands._pipefile import model_options, pipeline
from datagen._kernel.commands import Host, pass_host


@click.command("preview")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-n", "rows", type=click.IntRange(min=1), default=5, show_default=True, help="Rows to run.")
@click.option("--json", "as_json", is_flag=True, help="Print rows, removals and counts as JSON.")
@model_options
@pass_host
def preview_cmd(host: Host, /, file: Path, rows: int, as_json: bool, **opts: Any) -> None:
    """Run N rows through every step and show each row's columns and each removal with its step and
    reason; nothing is written (answers go to the response cache, so a run reuses them)."""
    outcome = pipeline(host, file, opts).preview(rows)
    if as_json:
        click.echo(
            json.dumps(
                {"rows": outcome.rows, "removed": outcome.rejects, "report": outcome.report},
                indent=2,
                default=str,
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for row in outcome.rows:
        table = Table(title=f"row {row['id']}", show_header=False, title_justify="left")
        table.add_column("column", style="bold")
        table.add_column("value", overflow="fold")
        for key, value in row.items():
            if key != "id":
                table.add_row(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        console.print(table)
    for item in outcome.rejects:
        console.print(f"removed {item['id']} at step {item['step']}: {item['reason']}")
    console.print(
        f"{len(outcome.rows)} of {outcome.report['rows']} rows kept; {outcome.report['requests']} requests"
    )
