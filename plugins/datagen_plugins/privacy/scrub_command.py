"""``datagen scrub``: personal data and secrets replaced in a file (the PII stage of the privacy family)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datagen.plugin import Host, LazyCommand, RegisterCommand, hookimpl, pass_host


@click.command("scrub")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), required=True, help="Output: .jsonl or .parquet."
)
@click.option(
    "--fields",
    help="Comma-separated fields to scrub: instruction, input, output, messages, metadata (its strings; "
    "default: all).",
)
@click.option(
    "--strategy",
    type=click.Choice(["mask", "pseudonym", "fake"]),
    help="[EMAIL], <PERSON_1> (stable per value), or a fake value of the same format (default: mask).",
)
@click.option(
    "--types", help="Comma-separated entity types (default: all; `datagen plugins pii` lists them)."
)
@click.option("--scope", type=click.Choice(["record", "dataset"]), help="Where a pseudonym is stable.")
@click.option("--locale", help="Faker locale for --strategy fake (default: en_US).")
@click.option(
    "--entities",
    type=click.Path(path_type=Path),
    help="JSONL of every entity found: record, field, start, end, type, score (never the value).",
)
@click.option("--report", type=click.Path(path_type=Path), help="Write the run report as JSON.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key.")
@pass_host
def scrub_cmd(host: Host, /, source: Path, out: Path, **opts: Any) -> None:
    """Replace personal data and secrets in a JSONL or Parquet file (the privacy stage that detects them).

    Every text of a record is scrubbed unless --fields names some. The counts by type are in the
    report; --entities lists each entity's position in the original text.
    """
    from datagen.plugin import check_side_file, put_setting

    overrides = host.settings(opts["settings"])
    # the privacy plugin that declares it detects personal data ([privacy] detector picks among several)
    name, _cls = host.pii_detector(host.load(overrides))
    for option, key in (("strategy", "strategy"), ("scope", "scope"), ("locale", "locale")):
        if opts[option] is not None:
            put_setting(overrides, f"privacy.{name}.{key}", opts[option])
    for option in ("fields", "types"):
        if opts[option] is not None:
            values = [v.strip() for v in opts[option].split(",") if v.strip()]
            put_setting(overrides, f"privacy.{name}.{option}", values)
    if opts["entities"] is not None:
        check_side_file(Path(opts["entities"]), "entities")
        put_setting(overrides, f"privacy.{name}.entities", str(opts["entities"]))
    config = host.load(overrides)
    host.stages_over_file(
        source,
        out,
        [("privacy", name)],
        config=config,
        report=opts["report"],
        overwrite=bool(opts["overwrite"]),
    )


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen scrub`` (imported when it runs)."""
    register(
        LazyCommand(
            "scrub", f"{__name__}:scrub_cmd", "Replace personal data and secrets in a file.", "privacy"
        )
    )
