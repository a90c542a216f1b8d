"""``datagen audit``: synthetic data checked for leaks of the private data it came from (privacy family)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from datagen._kernel.commands import Host, pass_host
from datagen.errors import UsageError


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
    from datagen._app.audit import audit, plant_canaries, verdict
    from datagen._datamodel.results import check_side_file, iter_records, write_file

    private: Path = opts["private"]
    if not private.is_file():
        raise click.UsageError(f"--private {private}: no such file")
    if opts["plant"] is not None:
        if opts["out"] is None:
            raise click.UsageError("--plant-canaries needs --out FILE for the private data with canaries")
        planted = plant_canaries(private, opts["out"], opts["plant"])
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
    from datagen._kernel.capabilities import pii_detector_for_audit

    detector = pii_detector_for_audit(host.plugins, host.config)
    embedder = None
    if opts["embeddings"] is not False:
        from datagen._text.embeddings import Embedder

        try:
            embedder = Embedder()
        except UsageError:
            if opts["embeddings"]:
                raise
    found = audit(
        iter_records(private), iter_records(synthetic), canaries=canaries, pii=detector, embedder=embedder
    )
    for line in verdict(found):
        click.echo(line)
    if opts["json_out"] is not None:
        write_file(opts["json_out"], json.dumps(found, indent=2))
