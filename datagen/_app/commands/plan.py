"""``datagen plan``: what a pipeline file's run will cost, from a small preview, before spending."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datagen._app.commands._pipefile import model_options, pipeline
from datagen._kernel.commands import Host, pass_host

#: the short names of the rate limits a step's seconds are held to, in the table
HELD = {"requests_per_minute": "rpm", "tokens_per_minute": "tpm"}


def seconds(step: dict[str, Any]) -> str:
    """A step's seconds, and the rate limit they are held to (its short name), if one is."""
    held = step.get("limited_by")
    return f"{step['seconds']} ({HELD[held]})" if held else str(step["seconds"])


@click.command("plan")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-n", "rows", type=click.IntRange(min=1), default=10, show_default=True, help="Preview rows.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@model_options
@pass_host
def plan_cmd(host: Host, /, file: Path, rows: int, as_json: bool, **opts: Any) -> None:
    """Requests, input and output tokens, cost and time of the whole run, per step and in total,
    extrapolated from N rows sent to the real backends (their requests are spent, without the cache)."""
    plan = pipeline(host, file, opts).plan(rows)
    if as_json:
        click.echo(json.dumps(plan, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"plan for {plan['rows']} rows (from a preview of {plan['preview_rows']})")
    for column in (
        "step",
        "rows in",
        "pass",
        "requests",
        "input tokens",
        "output tokens",
        "cost $",
        "seconds",
    ):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step in [*plan["steps"], {"name": "total", "rows_in": plan["rows"], "pass_rate": None, **plan}]:
        table.add_row(
            step["name"],
            str(step["rows_in"]),
            "" if step.get("pass_rate") is None else f"{step['pass_rate']:.0%}",
            str(step["requests"]),
            str(step["input_tokens"]),
            str(step["output_tokens"]),
            f"{step['cost_usd']:.4f}",
            seconds(step),
        )
    if any(step.get("limited_by") for step in plan["steps"]):
        table.caption = r"seconds held to \[engine] requests_per_minute (rpm) or tokens_per_minute (tpm)"
    Console().print(table)
