"""The built-in commands: a plugin registering each by name and import path (one module per command),
through the same ``datagen_register_commands`` hook as any plugin's, so ``datagen --help`` imports none
of them. The family commands say which family they belong with."""

from __future__ import annotations

from collections.abc import Callable

from datagen._kernel.commands import LazyCommand
from datagen._kernel.hookspecs import hookimpl

_HERE = __name__


def _builtin(name: str, attribute: str, help: str, family: str | None = None) -> LazyCommand:
    return LazyCommand(name, f"{_HERE}.{name}:{attribute}", help, family)


#: every built-in command: name, ``module:attribute`` and the line ``datagen --help`` shows
COMMANDS = (
    _builtin(
        "generate",
        "generate_cmd",
        "Generate records with a method and a backend, through the filter and privacy stages.",
        "method",
    ),
    _builtin("filter", "filter_cmd", "Run stages over an existing JSONL or Parquet file.", "filter"),
    _builtin("scrub", "scrub_cmd", "Replace personal data and secrets in a file.", "privacy"),
    _builtin(
        "audit",
        "audit_cmd",
        "Audit synthetic data for leaks of its private source.",
        "privacy",
    ),
    _builtin("metrics", "metrics_cmd", "Compute metrics of a JSONL or Parquet file.", "metric"),
    _builtin("report", "report_cmd", "Write one self-contained HTML page about a dataset.", "plot"),
    _builtin("tune", "tune_cmd", "Search generation parameters with an RL agent.", "agent"),
    _builtin("plugins", "plugins_cmd", "List installed plugins, or describe one."),
    _builtin("config", "config_group", "Inspect the configuration."),
    _builtin("cache", "cache_group", "Inspect or clear the response cache."),
)


@hookimpl
def datagen_register_commands(register: Callable[[LazyCommand], None]) -> None:
    """Register the built-in commands."""
    for command in COMMANDS:
        register(command)
