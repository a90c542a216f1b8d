"""Every hook datagen calls. A plugin implements any of them with ``@datagen.hookimpl``.

The ``datagen_register_*`` hooks each receive a ``register`` callable; call it once per class (or, for
commands, per ``click.Command``) the plugin contributes. Registration runs once per plugin manager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
import pluggy

if TYPE_CHECKING:
    from datagen._datamodel.results import Results
    from datagen._datamodel.run import Run
    from datagen._kernel.commands import Host, LazyCommand
    from datagen._kernel.protocols import (
        Agent,
        Backend,
        Executor,
        Exporter,
        Filter,
        GenerationMethod,
        Metric,
        Plot,
        PrivacyMechanism,
    )

hookspec = pluggy.HookspecMarker("datagen")
hookimpl = pluggy.HookimplMarker("datagen")

Register = Callable[[Any], None]
#: the ``register`` callable of each family's hook, typed by the family's protocol: a plugin annotating
#: its hook with these gets its classes checked against the protocol by mypy
RegisterBackend = Callable[["type[Backend]"], None]
RegisterMethod = Callable[["type[GenerationMethod]"], None]
RegisterFilter = Callable[["type[Filter]"], None]
RegisterPrivacy = Callable[["type[PrivacyMechanism]"], None]
RegisterMetric = Callable[["type[Metric]"], None]
RegisterPlot = Callable[["type[Plot]"], None]
RegisterAgent = Callable[["type[Agent]"], None]
RegisterExporter = Callable[["type[Exporter]"], None]
RegisterExecutor = Callable[["type[Executor]"], None]
#: what ``datagen_register_commands`` hands over: a click command, or one registered by import path
RegisterCommand = Callable[["click.Command | LazyCommand"], None]


@hookspec
def datagen_register_backends(register: Register) -> None:
    """Register backend classes (LLM clients), each satisfying :class:`datagen.plugin.Backend`.

    ``register(MyBackend)``; ``MyBackend.name`` becomes the ``--backend`` name.
    """


@hookspec
def datagen_register_methods(register: Register) -> None:
    """Register generation-method classes, each satisfying :class:`datagen.plugin.GenerationMethod`.

    ``register(MyMethod)``; ``MyMethod.name`` becomes the ``--method`` name.
    """


@hookspec
def datagen_register_filters(register: Register) -> None:
    """Register quality-filter classes, each satisfying :class:`datagen.plugin.Filter`."""


@hookspec
def datagen_register_privacy(register: Register) -> None:
    """Register privacy mechanisms, each satisfying :class:`datagen.plugin.PrivacyMechanism`."""


@hookspec
def datagen_register_metrics(register: Register) -> None:
    """Register metric classes, each satisfying :class:`datagen.plugin.Metric`."""


@hookspec
def datagen_register_plots(register: Register) -> None:
    """Register plot classes, each satisfying :class:`datagen.plugin.Plot`."""


@hookspec
def datagen_register_agents(register: Register) -> None:
    """Register RL/search agent classes, each satisfying :class:`datagen.plugin.Agent`."""


@hookspec
def datagen_register_exporters(register: Register) -> None:
    """Register exporter classes (training formats), each satisfying :class:`datagen.plugin.Exporter`.

    ``register(MyFormat)``; ``MyFormat.name`` becomes the ``datagen export --to`` name.
    """


@hookspec
def datagen_register_executors(register: Register) -> None:
    """Register executor classes (where a pipeline's row groups run), each satisfying
    :class:`datagen.plugin.Executor`.

    ``register(MyExecutor)``; ``MyExecutor.name`` becomes the ``datagen run --executor`` name.
    """


@hookspec
def datagen_register_commands(register: RegisterCommand, host: Host | None) -> None:
    """Register ``datagen`` subcommands: a ``click.Command`` (under its own name), or a
    :class:`~datagen._kernel.commands.LazyCommand` (name, ``module:attribute`` and one line of help),
    imported only when it runs, so ``datagen --help`` stays fast.

    ``host`` (take it only if you need it) is the invocation's :class:`~datagen._kernel.commands.Host`:
    the user's config, the plugin manager, the stage runner and the Generator; a command's callback can
    also receive it with ``@datagen.plugin.pass_host``. It is None when no command line is running.
    """


@hookspec
def datagen_run_start(run: Run) -> None:
    """Called once when a run starts, after its config is validated and before any request is sent."""


@hookspec
def datagen_run_end(run: Run, results: Results) -> None:
    """Called once when a run ends without error, with its results (file-backed for CLI runs)."""
