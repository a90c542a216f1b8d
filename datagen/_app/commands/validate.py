"""``datagen validate``: a pipeline file checked before any work, every problem at once."""

from __future__ import annotations

from pathlib import Path

import click

from datagen._kernel.commands import Host, pass_host


@click.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@pass_host
def validate_cmd(host: Host, /, file: Path) -> None:
    """Check a pipeline file (YAML or TOML): schema, unknown keys and plugins, required distributions,
    sources, template references, cycles. Every problem at once, each with file:line:column; exit 2."""
    from datagen._app.pipefile.api import Pipeline

    order = Pipeline.from_file(file, config=host.config).validate()
    click.echo(f"{file}: valid; steps run in this order: {', '.join(order) or '(none)'}")
