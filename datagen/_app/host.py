"""The host of one ``datagen`` invocation: the global options, the user's config and the plugin manager,
built lazily, and the services a command uses (stage runner, Generator). Every command, built-in or
from a plugin, is handed this object (:class:`datagen._kernel.commands.Host` is its declared shape)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datagen._datamodel.config import DatagenConfig, load_config, put_setting, raw_config
from datagen._kernel.manager import PluginManager, load_plugins, load_plugins_for
from datagen.errors import ConfigError, DatagenError, UsageError
from datagen.log import configure_logging

if TYPE_CHECKING:
    from datagen._app.generator import Generator
    from datagen._datamodel.records import Record
    from datagen._datamodel.report import RunReport
    from datagen._datamodel.results import Results

#: the config file the command loaded: a configuration error found after loading names it too
LOADED: dict[str, str | None] = {"source": None}

#: the plugin holding the built-in commands (registered by name and import path, imported on use)
BUILTIN_COMMANDS_PLUGIN = "datagen.commands"


def is_command_module(entry_point: str) -> bool:
    """Whether a built-in entry point only registers a command (``scrub_command``): loaded to list the
    commands, where the features are not."""
    return entry_point.endswith("_command")


class AppState:
    """Per-invocation state: the global options, the base config and the plugin manager, built lazily."""

    def __init__(self, config_path: Path | None, debug: bool, log_json: bool) -> None:
        self.config_path = config_path
        self.debug = debug
        self.log_json = log_json
        self._config: DatagenConfig | None = None
        self._pm: PluginManager | None = None
        self._commands: PluginManager | None = None

    def load(self, overrides: Mapping[str, Any] | None = None) -> DatagenConfig:
        """The effective config: file < environment < ``overrides`` (from a subcommand's flags).

        With ``overrides`` (a command about to work), a core problem is reported together with the
        plugin tables' problems, at once, with the file's name; the plugin tables of a config whose core
        is sound are checked with everything else a run needs, before it starts."""
        from datagen._kernel.options import raw_plugin_problems

        source = None if self.config_path is None else str(self.config_path)
        try:
            config = load_config(self.config_path, overrides=overrides)
        except ConfigError as exc:
            if overrides is None:
                raise
            raw = raw_config(self.config_path, overrides=overrides)
            extra = raw_plugin_problems(raw, load_plugins_for(load_config()))
            raise ConfigError([*exc.problems, *extra], source=source) from None
        LOADED["source"] = source  # named by any configuration error found later (main)
        return config

    def use_config_file(self, path: Path) -> None:
        """Read the config from ``path`` from now on (a command whose argument is a config file)."""
        self.config_path = path
        self._config = None

    @property
    def config(self) -> DatagenConfig:
        """The config without subcommand flags."""
        if self._config is None:
            self._config = self.load()
            level = "debug" if self.debug else self._config.logging.level
            configure_logging(level, json=self.log_json or self._config.logging.json)
        return self._config

    @property
    def plugins(self) -> PluginManager:
        """The plugin manager, honouring the config's disable list and strictness, with the built-in
        commands."""
        if self._pm is None:
            self._pm = self._with_commands(load_plugins_for(self.config, host=self))
        return self._pm

    @property
    def pm(self) -> PluginManager:
        """The same as :attr:`plugins`."""
        return self.plugins

    @property
    def commands(self) -> PluginManager:
        """The plugins that may add commands: the app's commands (by name and import path), the
        built-in family commands' registrations (``*_command`` entry points) and the third-party
        plugins, so that ``--help`` imports no command's code and no built-in feature. A config that
        does not load lists them as the defaults would (the command that runs reports the problem)."""
        if self._pm is not None:
            return self._pm
        if self._commands is None:
            try:
                pm = load_plugins_for(self.config, builtins=is_command_module, host=self)
            except DatagenError:
                pm = load_plugins(builtins=is_command_module, host=self)
            self._commands = self._with_commands(pm)
        return self._commands

    @staticmethod
    def _with_commands(pm: PluginManager) -> PluginManager:
        from datagen._app import commands

        if pm.get_plugin(BUILTIN_COMMANDS_PLUGIN) is None:
            pm.register_builtin(commands, BUILTIN_COMMANDS_PLUGIN)
        return pm

    def settings(self, pairs: Sequence[str]) -> dict[str, Any]:
        """``--set KEY=VALUE`` options as nested overrides (the value read as TOML when it is TOML)."""
        overrides: dict[str, Any] = {}
        for pair in pairs:
            key, value = parse_setting(pair)
            put_setting(overrides, key, value)
        return overrides

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
        """The stage runner (:func:`datagen._app.pipeline.apply_stages`) on this host's config and plugins."""
        from datagen._app.pipeline import apply_stages

        return apply_stages(
            records,
            stages,
            config=config or self.config,
            plugins=self.plugins,
            out=out,
            rejected=rejected,
            overwrite=overwrite,
            shape=shape,
        )

    def generator(self, config: DatagenConfig | None = None) -> Generator:
        """A Generator on this host's plugins and ``config`` (default: the user's)."""
        from datagen._app.generator import Generator

        return Generator(config or self.config, plugins=self.plugins)

    # -------------------------------------------------------- services of the family commands (Host)

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
        """``stages`` over the records of ``source`` into ``out``: the shared end of filter and scrub. Rows
        of another tool's file (``{"id", "text", ...}``) come out in their own shape."""
        from datagen._app.commands._common import finish
        from datagen._datamodel.results import check_side_file, foreign_fields, foreign_row, iter_records

        if not source.is_file():
            raise click.UsageError(f"{source}: no such file")
        if report is not None:
            check_side_file(report, "report", overwrite=overwrite)
        if rejected is not None:
            check_side_file(rejected, "rejected", overwrite=overwrite)
        fields = foreign_fields(source)
        results = self.apply_stages(
            iter_records(source), stages, config=config, out=out, rejected=rejected, overwrite=overwrite,
            shape=None if fields is None else (lambda record: foreign_row(record, fields)),
        )  # fmt: skip
        assert results.report is not None
        if report is not None:
            results.report.save(report)
        finish(results.report, require_count=False)
        return results.report

    def metrics(
        self, source: Path, names: Sequence[str] | None = None, *, config: DatagenConfig | None = None
    ) -> dict[str, dict[str, Any]]:
        """Each metric's values on ``source`` (:func:`datagen._app.metrics.compute`)."""
        from datagen._app.metrics import compute

        return compute(source, names, config=config or self.config, plugins=self.plugins)

    def metric_differences(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """What differs between two metric results (:func:`datagen._app.metrics.differences`)."""
        from datagen._app.metrics import differences

        return differences(a, b)

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
        """The HTML report (:func:`datagen._app.html_report.write_report`) with this host's plots."""
        from datagen._app.html_report import write_report
        from datagen._datamodel.results import iter_records

        return write_report(
            source,
            out,
            metrics,
            iter_records(source),
            run_report=run_report,
            comparison=comparison,
            other=other,
            plugins=self.plugins,
        )

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
        """``source`` (a records file, or records) written as ``fmt`` (:mod:`datagen._app.exports`)."""
        from datagen._app.exports import export, parse_splits, split_export
        from datagen._datamodel.results import iter_records

        shares = parse_splits(split) if split is not None else None
        records: Any = source
        if isinstance(source, str | Path):
            if not Path(source).is_file():
                raise UsageError(f"{source}: no such file")
            path = Path(source)
            records = (lambda: iter_records(path)) if shares is not None else iter_records(path)
        cfg = config or self.config
        if shares is None:
            return export(records, fmt, out, config=cfg, plugins=self.plugins, overwrite=overwrite)
        return split_export(
            records,
            fmt,
            out,
            shares,
            seed=seed,
            stratify=stratify,
            config=cfg,
            plugins=self.plugins,
            overwrite=overwrite,
        )

    def check_export_target(self, out: Path, *, overwrite: bool, split: str | None = None) -> None:
        """Fail as :meth:`export` would on its output (an existing file without ``overwrite``, a
        missing folder), before any work that comes first (decontamination) is done."""
        from datagen._app.exports import check_target, parse_splits, split_paths

        targets = [out] if split is None else list(split_paths(out, parse_splits(split)).values())
        for target in targets:
            check_target(target, overwrite=overwrite)

    def pii_detector(self, config: DatagenConfig | None = None) -> tuple[str, Any]:
        """The privacy plugin that detects personal data (see capabilities.pii_detector)."""
        from datagen._kernel.capabilities import pii_detector

        return pii_detector(self.plugins, config or self.config)

    def audit(
        self,
        private: Path,
        synthetic: Path,
        *,
        canaries: Sequence[Mapping[str, Any]] = (),
        embeddings: bool | None = None,
    ) -> tuple[dict[str, Any], list[str]]:
        """The leak audit (:func:`datagen._app.audit.audit`) with the PII detector built for counting
        and, unless ``embeddings`` is False, the embedding model (required when True)."""
        from datagen._app.audit import audit, verdict
        from datagen._datamodel.results import iter_records
        from datagen._kernel.capabilities import pii_detector_for_audit

        detector = pii_detector_for_audit(self.plugins, self.config)
        embedder = None
        if embeddings is not False:
            from datagen._text.embeddings import Embedder

            try:
                embedder = Embedder()
            except UsageError:
                if embeddings:
                    raise
        found = audit(
            iter_records(private),
            iter_records(synthetic),
            canaries=[dict(c) for c in canaries],
            pii=detector,
            embedder=embedder,
        )
        return found, verdict(found)

    def plant_canaries(self, private: Path, out: Path, k: int) -> list[dict[str, Any]]:
        """Canaries planted in a copy of ``private`` (:func:`datagen._app.audit.plant_canaries`)."""
        from datagen._app.audit import plant_canaries

        return plant_canaries(private, out, k)

    def tuner(self, config: DatagenConfig, evaluate: Callable[..., Any], *, checkpoint: Path) -> Any:
        """An :class:`~datagen._app.tuner.RLTuner` on ``config``, resumed from ``checkpoint`` if present."""
        from datagen._app.tuner import RLTuner

        generator = self.generator(config)
        if checkpoint.is_file():
            tuner = RLTuner.load(checkpoint, generator, evaluate, checkpoint=checkpoint)
            tuner.config = config.tune  # the file's iterations and patience win on resume
            return tuner
        return RLTuner(generator, evaluate, config.tune, checkpoint=checkpoint)

    def plot_rewards(self, curves: Mapping[str, Sequence[float]], path: Path) -> None:
        """The reward curves (:func:`datagen._app.tuner.plot_rewards`) saved to ``path``."""
        from datagen._app.tuner import plot_rewards

        plot_rewards(curves, path)


def parse_setting(text: str) -> tuple[str, Any]:
    """``key.path=value`` with the value read as a TOML value when it is one (else as text)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise click.BadParameter(f"expected KEY=VALUE with a dotted KEY, got {text!r}", param_hint="--set")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value
