"""``datagen audit``: synthetic data checked for leaks of the private data it came from (privacy family)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datagen.plugin import Host, LazyCommand, RegisterCommand, hookimpl, pass_host


@click.command("audit")
@click.option(
    "--private", "private", type=click.Path(path_type=Path), required=True, help="The private data."
)
@click.option("--synthetic", type=click.Path(path_type=Path), help="The synthetic data made from it.")
@click.option("--canaries", type=click.Path(path_type=Path), help="The canary file plant-canaries wrote.")
@click.option(
    "--plant-canaries",
    "plant",
    type=int,
    help="Instead of auditing: copy --private to --out with this many canary sentences planted.",
)
@click.option("-o", "--out", type=click.Path(path_type=Path), help="With --plant-canaries: the copy.")
@click.option(
    "--embeddings/--no-embeddings", default=None, help="Nearest neighbours (default: if installed)."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the findings as JSON.")
@pass_host
def audit_cmd(host: Host, /, **opts: Any) -> None:
    """Audit synthetic data for leaks of the private data it came from: verbatim and near-verbatim
    overlap, nearest neighbours, PII, and canaries (plant them first with --plant-canaries K)."""
    from datagen.plugin import check_side_file, write_file

    private: Path = opts["private"]
    if not private.is_file():
        raise click.UsageError(f"--private {private}: no such file")
    if opts["plant"] is not None:
        if opts["out"] is None:
            raise click.UsageError("--plant-canaries needs --out FILE for the private data with canaries")
        planted = host.plant_canaries(private, opts["out"], opts["plant"])
        click.echo(f"wrote {opts['out']} with {len(planted)} canaries, listed in {opts['out']}.canaries.json")
        return
    synthetic: Path | None = opts["synthetic"]
    if synthetic is None or not synthetic.is_file():
        raise click.UsageError(f"--synthetic {synthetic}: no such file")
    canaries = []
    if opts["canaries"] is not None:
        try:
            canaries = json.loads(Path(opts["canaries"]).read_text())
        except (OSError, ValueError) as exc:
            raise click.UsageError(f"--canaries {opts['canaries']}: {exc}") from None
    if opts["json_out"] is not None:
        check_side_file(Path(opts["json_out"]), "json")
    found, lines = host.audit(private, synthetic, canaries=canaries, embeddings=opts["embeddings"])
    for line in lines:
        click.echo(line)
    if opts["json_out"] is not None:
        write_file(opts["json_out"], json.dumps(found, indent=2))


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen audit`` (imported when it runs)."""
    register(
        LazyCommand(
            "audit",
            f"{__name__}:audit_cmd",
            "Audit synthetic data for leaks of its private source.",
            "privacy",
        )
    )
