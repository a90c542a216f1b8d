"""``datagen cache``: inspect or clear the response cache."""

from __future__ import annotations

import json
from pathlib import Path

import click

from datagen._engine.cache import ResponseCache
from datagen._kernel.commands import Host, pass_host


@click.group("cache")
@click.option("--cache-dir", type=click.Path(path_type=Path), help="Cache folder (default: [cache] dir).")
@click.pass_context
def cache_group(ctx: click.Context, cache_dir: Path | None) -> None:
    """Inspect or clear the response cache that makes reruns resume."""
    ctx.meta["datagen.cache_dir"] = cache_dir


def _open_cache(host: Host) -> ResponseCache:
    directory = click.get_current_context().meta.get("datagen.cache_dir") or host.config.cache.dir
    return ResponseCache(Path(directory))


@cache_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_host
def cache_stats(host: Host, as_json: bool) -> None:
    """Entries, tokens and cost held in the cache, by backend and model."""
    cache = _open_cache(host)
    try:
        stats = cache.stats()
    finally:
        cache.close()
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("backend", "model", "entries", "prompt tokens", "completion tokens", "cost (USD)")
    for column in table.columns:
        column.overflow = "fold"  # wrap long model names instead of cutting them
    for g in stats["groups"]:
        cost = "unknown" if g["cost_usd"] is None else f"{g['cost_usd']:.4f}"
        table.add_row(
            g["backend"],
            g["model"],
            str(g["entries"]),
            str(g["prompt_tokens"]),
            str(g["completion_tokens"]),
            cost,
        )
    Console().print(table)
    click.echo(f"{stats['entries']} responses, {stats['bytes'] / 1e6:.1f} MB in {stats['path']}")


@cache_group.command("clear")
@click.option("--backend", help="Only this backend's responses.")
@click.option("--model", help="Only this model's responses.")
@pass_host
def cache_clear(host: Host, backend: str | None, model: str | None) -> None:
    """Delete cached responses (all, or one backend's or model's)."""
    cache = _open_cache(host)
    try:
        deleted = cache.clear(backend=backend, model=model)
    finally:
        cache.close()
    click.echo(f"deleted {deleted} cached responses")
