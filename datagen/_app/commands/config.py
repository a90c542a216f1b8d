"""``datagen config``: the effective configuration."""

from __future__ import annotations

import json

import click

from datagen._datamodel.config import dump_toml
from datagen._kernel.commands import Host, pass_host
from datagen._kernel.options import effective_config


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("show")
@click.option("--format", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True)
@pass_host
def config_show(host: Host, fmt: str) -> None:
    """Print the effective configuration (file, environment, defaults), secrets masked."""
    data = effective_config(host.config, host.plugins)
    click.echo(json.dumps(data, indent=2) if fmt == "json" else dump_toml(data))
