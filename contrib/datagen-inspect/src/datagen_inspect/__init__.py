"""``datagen inspect FILE``: summarise a generated dataset from the provenance on its records."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table

from datagen.plugin import Host, Record, Register, hookimpl, iter_records, pass_host, record_to_dict


@attrs.define
class Summary:
    """Streaming counters over a dataset."""

    records: int = 0
    empty_outputs: int = 0
    conversations: int = 0
    methods: Counter[str] = attrs.field(factory=Counter)
    models: Counter[str] = attrs.field(factory=Counter)
    finish_reasons: Counter[str] = attrs.field(factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0

    def add(self, record: Record) -> None:
        """Count one record."""
        self.records += 1
        if record.messages is not None:
            self.conversations += 1
        elif not (record.output or "").strip():
            self.empty_outputs += 1
        prov = record.provenance
        if prov is None:
            self.methods["(no provenance)"] += 1
            return
        self.methods[prov.method] += 1
        self.models[f"{prov.backend or '-'}/{prov.model or '-'}"] += 1
        self.finish_reasons[prov.finish_reason or "-"] += 1
        self.prompt_tokens += prov.usage.prompt_tokens
        self.completion_tokens += prov.usage.completion_tokens
        if self.cost_usd is not None:
            self.cost_usd = None if prov.usage.cost_usd is None else self.cost_usd + prov.usage.cost_usd

    def as_dict(self) -> dict[str, Any]:
        """Plain data."""
        return attrs.asdict(self)


def summarise(path: Path) -> Summary:
    """Stream ``path`` once and count."""
    summary = Summary()
    for record in iter_records(path):
        summary.add(record)
    return summary


@click.command("inspect")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--head", default=0, show_default=True, help="Also print the first N records.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--stages",
    is_flag=True,
    help="Also run the config's output stages ([filter] chain, [privacy] outputs) over the file, "
    "writing nothing, and report what each kept and removed.",
)
@pass_host
def inspect_cmd(host: Host, path: Path, head: int, as_json: bool, stages: bool) -> None:
    """Summarise a datagen dataset (.jsonl or .parquet) from its records' provenance."""
    summary = summarise(path)
    found = summary.as_dict()
    if stages:  # the user's config and plugins, through the host: no datagen internals imported
        results = host.apply_stages(iter_records(path))
        report = results.report
        found["stages"] = [] if report is None else [
            {"stage": f"{s['family']}:{s['name']}", "kept": s["kept"], "removed": s["removed"],
             "reasons": dict(s["reasons"])}
            for s in report.stages
        ]  # fmt: skip
        found["kept_by_stages"] = len(results)
    if as_json:
        click.echo(json.dumps(found, indent=2))
    else:
        console = Console()
        cost = "unknown" if summary.cost_usd is None else f"${summary.cost_usd:.4f}"
        console.print(
            f"[bold]{path}[/]: {summary.records} records ({summary.conversations} conversations, "
            f"{summary.empty_outputs} empty outputs), {summary.prompt_tokens} prompt + "
            f"{summary.completion_tokens} completion tokens, cost {cost}"
        )
        for title, counter in (
            ("method", summary.methods),
            ("backend/model", summary.models),
            ("finish reason", summary.finish_reasons),
        ):
            table = Table(title, "records")
            for key, n in counter.most_common():
                table.add_row(key, str(n))
            console.print(table)
        for stage in found.get("stages", []):
            reasons = ", ".join(f"{k}={v}" for k, v in stage["reasons"].items())
            console.print(
                f"{stage['stage']}: kept {stage['kept']}, removed {stage['removed']} {reasons}".rstrip()
            )
    for record in iter_records(path):
        if head <= 0:
            break
        head -= 1
        click.echo(json.dumps(record_to_dict(record), ensure_ascii=False))


@hookimpl
def datagen_register_commands(register: Register) -> None:
    """Add ``datagen inspect``."""
    register(inspect_cmd)
