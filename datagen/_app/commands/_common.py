"""What the built-in commands share: stage flags, the closing lines of a run, exit codes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from datagen._datamodel.config import put_setting
from datagen._datamodel.report import RunReport, plural
from datagen.log import get_logger, redact_text

if TYPE_CHECKING:
    from datagen._kernel.manager import PluginManager

log = get_logger("datagen._app.commands")


def fail(message: str, code: int) -> NoReturn:
    """One ``error:`` line (secrets redacted) and exit ``code``."""
    click.echo(f"error: {redact_text(message)}", err=True)
    sys.exit(code)


def rate_column() -> Any:
    """A progress column: records per second (per minute when slow), as rich measures it."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.speed
            if not speed:
                return Text("-/s")
            return Text(f"{speed:.1f}/s" if speed >= 1 else f"{speed * 60:.1f}/min")

    return RateColumn()


def flagged_families() -> list[Any]:
    """The stage families with a CLI flag, in the order their output stages run."""
    from datagen._datamodel.families import stage_families

    return [f for f in stage_families() if f.cli_flag]


def flag_dest(flag: str | None) -> str:
    """The keyword a stage family's flag arrives under (``--filter`` → ``stages_filter``)."""
    return "stages_" + (flag or "").lstrip("-").replace("-", "_")


def stage_flags(command: click.Command, plugins: PluginManager | None = None) -> click.Command:
    """Give a stage-running command a repeatable flag per declared stage family that has one
    (``--filter``, ``--privacy``, and any family declared since), ahead of its other options, and, with
    ``plugins``, the flags the installed stage plugins declare (``cli_options``, e.g. ``--index``)."""
    have = {p.name for p in command.params}
    if plugins is not None:
        plugin_flags(command, plugins)
    added = [
        click.Option(
            [family.cli_flag or "", flag_dest(family.cli_flag)],
            multiple=True,
            metavar="NAME",
            help=family.cli_help,
        )
        for family in flagged_families()
        if flag_dest(family.cli_flag) not in have
    ]
    command.datagen_stage_flags = True  # type: ignore[attr-defined]  # the group adds later families' flags
    if added:
        at = next((i for i, p in enumerate(command.params) if p.name == "rejected"), len(command.params))
        command.params[at:at] = added
    return command


def plugin_flags(command: click.Command, plugins: PluginManager) -> None:
    """Add to ``command`` the flags that stage plugins declare (:class:`CliOption`); which plugin option
    each one sets is kept on the command for :func:`plugin_flag_overrides`. A flag the command or an
    earlier plugin already has is left out with a warning naming both."""
    from datagen._datamodel.families import stage_families

    targets: dict[str, str] = getattr(command, "datagen_plugin_flags", {})
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for family in stage_families():
        for entry in plugins.registry(family.name):
            for declared in getattr(entry.obj, "cli_options", ()):
                dest = f"plugin_{family.name}_{entry.name}_{declared.option}"
                if dest in targets:
                    continue
                if declared.flag in taken:
                    log.warning("cli_option_taken", flag=declared.flag, plugin=f"{family.name}:{entry.name}")
                    continue
                command.params.append(declared.click_option(dest))
                taken.add(declared.flag)
                targets[dest] = f"{family.name}.{entry.name}.{declared.option}"
    command.datagen_plugin_flags = targets  # type: ignore[attr-defined]


def plugin_flag_overrides(command: click.Command, opts: dict[str, Any]) -> dict[str, Any]:
    """Config overrides from the plugin-declared flags given on the command line."""
    overrides: dict[str, Any] = {}
    for dest, key in getattr(command, "datagen_plugin_flags", {}).items():
        value = opts.get(dest)
        if value is not None:
            put_setting(overrides, key, value)
    return overrides


def stage_options(func: Any) -> Any:
    """``--rejected``, ``--report`` and ``--overwrite``, shared by ``generate`` and ``filter``
    (:func:`stage_flags` adds the stage families' flags before them, and the plugins' flags)."""
    for option in reversed(
        (
            click.option(
                "--rejected",
                type=click.Path(path_type=Path),
                help="JSONL file of every removed record, with stage and reason.",
            ),
            click.option("--report", type=click.Path(path_type=Path), help="Write the run report as JSON."),
            click.option("--overwrite", is_flag=True, default=None, help="Replace an existing output file."),
        )
    ):
        func = option(func)
    return func


def finish(report: RunReport, require_count: bool) -> None:
    """The closing lines of a run, and its exit code: 1 when nothing was written, 3 when short and
    ``require_count``."""
    click.echo(report.summary(), err=True)
    if report.method_rejections:
        reasons = ", ".join(f"{k}={v}" for k, v in report.method_rejections.items())
        click.echo(f"rejected or dropped by {report.method}: {reasons}", err=True)
    if report.method_details:
        flat = {k: v for k, v in report.method_details.items() if isinstance(v, int | float | str)}
        click.echo(f"{report.method}: " + ", ".join(f"{k}={v}" for k, v in flat.items()), err=True)
    if report.personas:
        p = report.personas
        click.echo(
            f"personas: {p.get('used', 0)} used of {p.get('loaded', 0)} in {p.get('file')} "
            f"({p.get('duplicates_removed', 0)} duplicates removed)",
            err=True,
        )
    for stage in report.stages:
        found = stage.get("details", {}).get("found")
        if isinstance(found, dict):  # what a privacy stage found and replaced, by type
            counts = ", ".join(f"{k}={v}" for k, v in found.items()) or "nothing"
            changed = stage["details"].get("records_changed")
            where = f" in {plural(changed, 'record')}" if isinstance(changed, int) else ""
            click.echo(f"{stage['family']} {stage['name']}: replaced {counts}{where}", err=True)
        if stage["removed"]:
            reasons = ", ".join(f"{k}={v}" for k, v in stage["reasons"].items())
            click.echo(
                f"{stage['family']} {stage['name']}: removed {stage['removed']} of {stage['examined']} "
                f"({reasons})",
                err=True,
            )
    if report.stopped:
        click.echo(f"stopped early: {report.stopped}", err=True)
    if report.written == 0:
        why = "; ".join(report.short_reasons) or "no record survived"
        fail(f"no record written ({why}); no output file was created", 1)
    if report.status == "short":
        why = "; ".join(report.short_reasons)
        click.echo(
            f"warning: {plural(report.written, 'record')} of {report.requested} asked: {why}", err=True
        )
        if require_count:
            fail(f"fewer records than asked ({report.written} of {report.requested}; --require-count)", 3)
