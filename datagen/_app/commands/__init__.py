"""The app's own commands: a plugin registering each by name and import path (one module per command),
through the same ``datagen_register_commands`` hook as any plugin's, so ``datagen --help`` imports none
of them. The commands of a family live with it in ``datagen_plugins`` (``scrub`` and ``audit`` with
privacy, ``metrics``, ``report``, ``tune``), entry points named ``*_command``, and use only the host."""

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
    _builtin("validate", "validate_cmd", "Check a pipeline file before any work."),
    _builtin("plan", "plan_cmd", "Estimate a pipeline file's requests, tokens, cost and time."),
    _builtin("preview", "preview_cmd", "Run a few rows of a pipeline file, writing nothing."),
    _builtin("run", "run_cmd", "Run a pipeline file into a run directory, resumably."),
    _builtin("plugins", "plugins_cmd", "List installed plugins, or describe one."),
    _builtin("config", "config_group", "Inspect the configuration."),
    _builtin("cache", "cache_group", "Inspect or clear the response cache."),
)


@hookimpl
def datagen_register_commands(register: Callable[[LazyCommand], None]) -> None:
    """Register the built-in commands."""
    for command in COMMANDS:
        register(command)
