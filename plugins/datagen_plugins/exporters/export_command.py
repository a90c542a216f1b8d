"""``datagen export``: a records file written in a training format by an exporter plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from datagen.plugin import Host, LazyCommand, RegisterCommand, UsageError, hookimpl, pass_host


@click.command("export")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--to", "fmt", required=True, metavar="FORMAT", help="The exporter (datagen plugins list).")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True, help="The file to write.")
@click.option("--system", help="A system prompt for every row (the format's system option).")
@click.option(
    "--split",
    metavar="NAME=SHARE,...",
    help="Split into files OUT.NAME.SUFFIX (train=0.9,validation=0.1); near duplicates never in two.",
)
@click.option("--split-seed", type=int, default=0, show_default=True, help="The seed of the split.")
@click.option(
    "--stratify", metavar="FIELD", help="Keep each value's shares (a record field or metadata key)."
)
@click.option(
    "--check-template",
    "template",
    type=click.Path(path_type=Path),
    help="A chat template file or a local model's folder: the rows whose assistant tokens it masks in.",
)
@click.option("--max-length", type=int, help="With --check-template's tokenizer: the share of rows longer.")
@click.option(
    "--report",
    "reports",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A run report (--report of generate, filter, scrub, run) the dataset card describes; repeatable.",
)
@click.option(
    "--metrics", type=click.Path(path_type=Path), help="A `datagen metrics --json` file for the card."
)
@click.option(
    "--rejected", type=click.Path(path_type=Path), help="The removed records' JSONL: a rejects view."
)
@click.option("--view", "views", multiple=True, help="A training view to require (sft, dpo); repeatable.")
@click.option(
    "--push-to-hub", "repo", metavar="REPO", help="Upload the dataset folder to this Hub dataset repo."
)
@click.option("--private", is_flag=True, help="With --push-to-hub: create the repo private.")
@click.option(
    "--decontaminate",
    "benchmarks",
    multiple=True,
    metavar="[NAME=]FILE",
    help="Drop records sharing a long n-gram with this benchmark file first; repeatable.",
)
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
    llamafactory, axolotl, trl-sft, trl-dpo, trl-kto, or any installed exporter. A record the format cannot
    express stops the export with its position and id, and no file is written. --split writes one file
    per split, near duplicates kept in one."""
    settings = list(opts["settings"])
    if opts["system"] is not None:
        settings.append(f"exporter.{fmt.replace('-', '_')}.system={opts['system']}")
    overrides = host.settings(settings)
    _card_options(host, fmt, overrides, opts)
    records: Any = source
    if opts["benchmarks"]:  # the output is checked first: a refused export wastes no decontamination
        host.check_export_target(out, overwrite=opts["overwrite"], split=opts["split"])
        records = _decontaminated(host, source, overrides, opts["benchmarks"])
    config = host.load(overrides)
    done = host.export(
        records,
        fmt,
        out,
        config=config,
        overwrite=opts["overwrite"],
        split=opts["split"],
        seed=opts["split_seed"],
        stratify=opts["stratify"],
    )
    if "splits" not in done:
        click.echo(f"wrote {done['rows']} rows as {fmt} to {out}", err=True)
        if opts["template"] is not None:
            _check_template(out, opts["template"], opts["max_length"])
        if opts["repo"]:
            from datagen_plugins.exporters._hub import push

            url = push(
                out, opts["repo"], private=opts["private"], echo=lambda line: click.echo(line, err=True)
            )
            click.echo(f"pushed {out} to {url}", err=True)
        return
    counts = ", ".join(f"{name} {rows}" for name, rows in done["splits"].items())
    leak = done["leakage"]
    click.echo(f"wrote {counts} rows as {fmt} ({', '.join(done['files'])})", err=True)
    click.echo(
        f"{done['clusters']} clusters of near duplicates ({leak['checked_by']}): "
        f"{leak['clusters_in_two_splits']} in two splits",
        err=True,
    )


def _decontaminated(host: Host, source: Path, overrides: dict[str, Any], benchmarks: tuple[str, ...]) -> Any:
    """SOURCE's records without those that share a long n-gram with a benchmark (the decontaminate
    filter, its ``[filter.decontaminate]`` options), and a line saying what was found."""
    from datagen.plugin import iter_records

    named: dict[str, str] = {}
    for item in benchmarks:
        name, sep, path = item.rpartition("=")
        name = name if sep else Path(path).stem
        if not Path(path).is_file():
            raise UsageError(f"--decontaminate {item}: {path}: no such file")
        named[name] = path
    section = overrides.setdefault("filter", {}).setdefault("decontaminate", {})
    section["benchmarks"] = {**section.get("benchmarks", {}), **named}
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    kept = host.apply_stages(iter_records(source), ["decontaminate"], config=host.load(overrides))
    for stage in kept.report.stages if kept.report else []:
        hits = stage["details"].get("hits") or {}
        found = ", ".join(f"{k} {v}" for k, v in sorted(hits.items())) or "none"
        click.echo(
            f"decontaminate: removed {stage['removed']} of {stage['examined']} records "
            f"(benchmarks {', '.join(named)}; hits: {found})",
            err=True,
        )
    return kept


def _card_options(host: Host, fmt: str, overrides: dict[str, Any], opts: dict[str, Any]) -> None:
    """--report, --metrics, --rejected and --view as the format's options; an error naming the flag
    when the format has no dataset card (or --push-to-hub with --split, or with a format not a folder)."""
    name = fmt.replace("-", "_")
    given = {
        "reports": [str(p) for p in opts["reports"]] or None,
        "metrics": None if opts["metrics"] is None else str(opts["metrics"]),
        "rejected": None if opts["rejected"] is None else str(opts["rejected"]),
        "views": list(opts["views"]) or None,
    }
    flags = {"reports": "--report", "metrics": "--metrics", "rejected": "--rejected", "views": "--view"}
    registry = host.plugins.registry("exporter")
    fields: frozenset[str] = (
        getattr(registry.get(name), "card_options", frozenset()) if name in registry else frozenset()
    )
    for key, value in given.items():
        if value is None:
            continue
        if key not in fields:
            raise UsageError(f"{flags[key]}: the {fmt} format writes no dataset card (the hf format does)")
        overrides.setdefault("exporter", {}).setdefault(name, {})[key] = value
    if opts["repo"] and (name != "hf" or opts["split"]):
        raise UsageError("--push-to-hub: uploads an hf dataset folder (--to hf), without --split")


def _check_template(path: Path, template: Path, max_length: int | None) -> None:
    """Report what the template does with the written rows; exit 1 when no row would train."""
    from datagen_plugins.exporters._template import check

    found = check(path, template, max_length)
    share = found["assistant_masked_in"]
    line = f"{template}: {share:.1%} of {found['rows']} rows have assistant tokens masked in"
    if found["truncated"] is not None:
        line += f", {found['truncated']:.1%} longer than {max_length} tokens"
    click.echo(line, err=True)
    if not found["generation_markers"]:
        click.echo(
            f"{template}: no {{% generation %}} markers in the chat template: a trainer's assistant-only "
            "loss would mask every token out (add the markers, or train on whole conversations)",
            err=True,
        )
    if not share:
        raise SystemExit(1)


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
