"""Commands as plugins: a command registered by name and import path (loaded only when it runs), and
the host every command is handed: the user's config, the plugin manager, the stage runner, the
Generator and the app's services (metrics, the report, the audit, the tuner), so a plugin's command
does real work without importing datagen's internals."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import attrs
import click

from datagen.errors import PluginError, UsageError

if TYPE_CHECKING:
    from datagen._datamodel.config import DatagenConfig
    from datagen._datamodel.records import Record
    from datagen._datamodel.report import RunReport
    from datagen._datamodel.results import Results
    from datagen._kernel.manager import PluginManager

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class LazyCommand:
    """A command registered by name and ``package.module:attribute`` (a ``click.Command``), imported only
    when it runs or shows its own help: ``datagen --help`` lists it from ``help`` alone."""

    name: str
    target: str
    #: the one line ``datagen --help`` shows
    help: str
    #: the family it belongs with (``privacy`` for ``scrub``), shown by ``datagen plugins``
    family: str | None = None

    def load(self) -> click.Command:
        """Import the command; a target that is missing or not a command is a :class:`PluginError`."""
        module, _, attribute = self.target.partition(":")
        try:
            command = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"command {self.name!r}: cannot load {self.target}: {exc}") from exc
        if not isinstance(command, click.Command):
            raise PluginError(f"command {self.name!r}: {self.target} is not a click.Command")
        command.name = self.name
        return command


@attrs.frozen
class CliOption:
    """A flag a stage plugin declares (class attribute ``cli_options``) for the commands that run
    stages, ``datagen generate`` and ``datagen filter``: its value sets one of the plugin's options, as
    ``--set FAMILY.NAME.OPTION=VALUE`` would."""

    #: the flag, e.g. ``--index``
    flag: str
    #: the field of the plugin's ``Config`` it sets
    option: str
    help: str = ""
    #: ``text``, ``int``, ``float``, ``file`` or ``dir`` (a path, passed on as text), or ``flag`` (on/off)
    kind: str = "text"

    def click_option(self, dest: str) -> click.Option:
        """The click option, its value arriving under ``dest``."""
        types: dict[str, Any] = {
            "text": str,
            "int": int,
            "float": float,
            "file": click.Path(dir_okay=False),
            "dir": click.Path(file_okay=False),
        }
        if self.kind == "flag":
            return click.Option([self.flag, dest], is_flag=True, default=None, help=self.help)
        if self.kind not in types:
            raise PluginError(
                f"{self.flag}: kind must be one of {', '.join([*types, 'flag'])}, got {self.kind!r}"
            )
        return click.Option([self.flag, dest], type=types[self.kind], help=self.help)


@runtime_checkable
class Host(Protocol):
    """What a command is handed (:func:`pass_host`, or the ``host`` argument of
    ``datagen_register_commands``): the state of one ``datagen`` invocation."""

    #: the ``--config`` file, if any
    config_path: Path | None

    @property
    def config(self) -> DatagenConfig:
        """The user's config: defaults < ``--config`` file < ``DATAGEN_*`` environment."""
        ...

    @property
    def plugins(self) -> PluginManager:
        """The plugin manager for that config (its disable list, its strictness)."""
        ...

    def load(self, overrides: Mapping[str, Any] | None = None) -> DatagenConfig:
        """The config with a command's own ``overrides`` (nested, as in the file) on top; every problem
        is one :class:`ConfigError` naming the file and keys."""
        ...

    def settings(self, pairs: Sequence[str]) -> dict[str, Any]:
        """``--set KEY=VALUE`` options as nested overrides for :meth:`load`."""
        ...

    def apply_stages(
        self,
        records: Iterable[Record],
        stages: Sequence[str | tuple[str, str]] = (),
        *,
        config: DatagenConfig | None = None,
        out: Path | None = None,
        rejected: Path | None = None,
        overwrite: bool = False,
        shape: Callable[[Record], dict[str, Any]] | None = None,
    ) -> Results:
        """Run stages (``(family, name)`` or bare names; default: the config's output stages) over
        ``records``, streamed to ``out`` when given (each row as ``shape`` makes it, when given); the
        results carry the run report."""
        ...

    def generator(self, config: DatagenConfig | None = None) -> Any:
        """A :class:`datagen.Generator` on the host's plugins and ``config`` (default: the user's)."""
        ...

    # -- services a family's command uses: the app's work, reached without importing it

    def stages_over_file(
        self,
        source: Path,
        out: Path,
        stages: Sequence[str | tuple[str, str]],
        *,
        config: DatagenConfig | None = None,
        report: Path | None = None,
        rejected: Path | None = None,
        overwrite: bool = False,
    ) -> RunReport:
        """Run ``stages`` over the records of the file ``source`` into ``out`` as a command does: the
        side files checked first, the closing lines on stderr, the run report saved to ``report``,
        exit 1 when nothing was written."""
        ...

    def metrics(
        self, source: Path, names: Sequence[str] | None = None, *, config: DatagenConfig | None = None
    ) -> dict[str, dict[str, Any]]:
        """Each metric's values on a JSONL or Parquet file (default: ``[metric] run``, else the
        metrics that declare themselves default); a metric that cannot run says ``skipped``."""
        ...

    def metric_differences(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Every numeric value that differs between two :meth:`metrics` results: path → a, b, change."""
        ...

    def write_report(
        self,
        source: Path,
        out: Path,
        metrics: Mapping[str, Mapping[str, Any]],
        *,
        run_report: Mapping[str, Any] | None = None,
        comparison: Mapping[str, Any] | None = None,
        other: str | None = None,
    ) -> Path:
        """The one-page HTML report of ``source`` (its metrics, the installed plots, the run report and
        a comparison when given), written through a temporary file renamed into place."""
        ...

    def pii_detector(self, config: DatagenConfig | None = None) -> tuple[str, Any]:
        """The name and class of the privacy plugin that detects personal data (``[privacy] detector``
        when several do)."""
        ...

    def export(
        self,
        source: Path | Iterable[Record],
        fmt: str,
        out: Path,
        *,
        config: DatagenConfig | None = None,
        overwrite: bool = False,
        split: str | None = None,
        seed: int = 0,
        stratify: str | None = None,
    ) -> dict[str, Any]:
        """``source``'s records (a file, or records) written as ``fmt`` to ``out`` by that exporter
        plugin, with its ``[exporter.NAME]`` options; with ``split`` (``train=0.9,validation=0.1``) one
        file per split, near duplicates never in two, seeded and optionally stratified; what was written."""
        ...

    def check_export_target(self, out: Path, *, overwrite: bool, split: str | None = None) -> None:
        """Fail as :meth:`export` would on its output (each split's file with ``split``), before work
        that must come first is done."""
        ...

    def audit(
        self,
        private: Path,
        synthetic: Path,
        *,
        canaries: Sequence[Mapping[str, Any]] = (),
        embeddings: bool | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """The leak audit of ``synthetic`` against ``private``: its findings as data, and the verdict
        lines. ``embeddings`` None uses the embedding model when installed; True requires it."""
        ...

    def plant_canaries(self, private: Path, out: Path, k: int) -> list[dict[str, Any]]:
        """Copy ``private`` to ``out`` with ``k`` canary sentences (listed in ``out.canaries.json``)."""
        ...

    def tuner(self, config: DatagenConfig, evaluate: Callable[..., Any], *, checkpoint: Path) -> Any:
        """An RL tuner (:class:`datagen.RLTuner`) over a Generator on ``config``, scoring with
        ``evaluate``; resumed from ``checkpoint`` when it exists (the config's iterations win)."""
        ...

    def plot_rewards(self, curves: Mapping[str, Sequence[float]], path: Path) -> None:
        """Reward per evaluation and the best so far, one curve per agent, saved as an image."""
        ...


_HOST_MEMBERS = (
    "config",
    "plugins",
    "load",
    "settings",
    "apply_stages",
    "generator",
    "stages_over_file",
    "metrics",
    "metric_differences",
    "write_report",
    "pii_detector",
    "audit",
    "plant_canaries",
    "tuner",
    "plot_rewards",
)


def pass_host(func: F) -> F:
    """Decorate a click command's callback to receive the :class:`Host` as its first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        host = ctx.find_root().obj
        # checked on the class: isinstance() against the protocol would read (and load) the config
        if not all(hasattr(type(host), m) for m in _HOST_MEMBERS):
            raise UsageError(f"{ctx.command_path}: run it as a datagen command (no datagen host here)")
        return func(host, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
