"""``datagen export``: a records file written in a training format by an exporter plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datagen.plugin import Host, LazyCommand, RegisterCommand, hookimpl, pass_host


@click.command("export")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--to", "fmt", required=True, metavar="FORMAT", help="The exporter (datagen plugins list).")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="The file to write.")
@click.option("--system", help="A system prompt for every row (the format's system option).")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any config key ([exporter.FORMAT] options).",
)
@pass_host
def export_cmd(host: Host, /, source: Path, fmt: str, out: Path, **opts: Any) -> None:
    """Write SOURCE's records (JSONL or Parquet) in a training format: openai, sharegpt, alpaca, chatml,
    trl-sft, trl-dpo, trl-kto, or any installed exporter. A record the format cannot express stops the
    export with its position and id, and no file is written."""
    settings = list(opts["settings"])
    if opts["system"] is not None:
        settings.append(f"exporter.{fmt.replace('-', '_')}.system={opts['system']}")
    config = host.load(host.settings(settings))
    done = host.export(source, fmt, out, config=config, overwrite=opts["overwrite"])
    click.echo(f"wrote {done['rows']} rows as {fmt} to {out}", err=True)


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen export`` (imported when it runs)."""
    register(
        LazyCommand(
            "export",
            f"{__name__}:export_cmd",
            "Write records in a training format (TRL, OpenAI, ...).",
            "exporter",
        )
    )
