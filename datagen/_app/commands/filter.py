"""``datagen filter``: stages over an existing file, without generating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datagen._app.commands._common import (
    flag_dest,
    flagged_families,
    plugin_flag_overrides,
    stage_flags,
    stage_options,
)
from datagen._datamodel.config import deep_merge
from datagen._kernel.commands import Host, pass_host


@click.command("filter")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Output: .jsonl or .parquet."
)
@stage_options
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key (stage options).")
@pass_host
def filter_cmd(host: Host, /, source: Path, out: Path, **opts: Any) -> None:
    """Run filter and privacy stages over an existing JSONL or Parquet file, without generating.

    The stages are the --filter and --privacy flags in order, else the config's [filter] chain and
    [privacy] outputs.
    """
    overrides = host.settings(opts["settings"])
    overrides = deep_merge(overrides, plugin_flag_overrides(click.get_current_context().command, opts))
    config = host.load(overrides)
    from datagen._app.pipeline import configured_output_stages

    families = flagged_families()
    stages = [(f.name, n) for f in families for n in opts.get(flag_dest(f.cli_flag), ())]
    if not stages and not any(configured_output_stages(config).values()):
        flags = " / ".join(f"{f.cli_flag} NAME" for f in families)
        raise click.UsageError(f"no stage: pass {flags} or set [filter] chain")
    host.stages_over_file(
        source,
        out,
        stages,
        config=config,
        report=opts["report"],
        rejected=opts["rejected"],
        overwrite=bool(opts["overwrite"]),
    )


stage_flags(filter_cmd)
