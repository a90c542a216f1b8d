"""The ``datagen`` command: global options and a group whose subcommands are plugins.

Every subcommand, built-in or not, is registered through ``datagen_register_commands``; the built-in
ones by name and import path (:mod:`datagen._app.commands`, one module each), so ``datagen --help``
imports none of them. Each is handed the invocation's host (:class:`datagen._app.host.AppState`).
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from datagen.__about__ import __version__
from datagen._app.host import LOADED, AppState
from datagen._kernel.commands import LazyCommand
from datagen.errors import ConfigError, DatagenError
from datagen.log import redact_text


def _state(ctx: click.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        params = root.params
        cfg = params.get("config_path")
        root.obj = AppState(
            Path(cfg) if cfg else None, bool(params.get("debug")), bool(params.get("log_json"))
        )
    return root.obj


class DatagenGroup(click.Group):
    """A group whose commands come from plugins' ``datagen_register_commands`` (the built-in ones
    included), imported only when one runs."""

    def _registered(self, ctx: click.Context) -> dict[str, Any]:
        registry = _state(ctx).commands.registry("command")
        return {entry.name: entry.obj for entry in registry}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._registered(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from datagen._app.commands import COMMANDS

        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            # a built-in command loads without the plugin scan that finds the others
            builtin = next((c for c in COMMANDS if c.name == cmd_name), None)
            found = builtin or self._registered(ctx).get(cmd_name)
            cmd = found.load() if isinstance(found, LazyCommand) else found
        if cmd is not None and getattr(cmd, "datagen_stage_flags", False):
            from datagen._app.commands._common import stage_flags

            plugins = None
            with contextlib.suppress(DatagenError):  # a broken config: the command reports it
                plugins = _state(ctx).plugins
            # a family declared since the command was imported gets its flag too; plugins their flags
            stage_flags(cmd, plugins)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from each registration's own help: nothing is imported to show it."""
        rows = []
        registered = self._registered(ctx)
        for name in self.list_commands(ctx):
            found = registered.get(name) or super().get_command(ctx, name)
            if isinstance(found, LazyCommand):
                rows.append((name, found.help))
            elif found is not None and not found.hidden:
                rows.append((name, found.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=DatagenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DATAGEN_CONFIG",
    help="TOML or YAML config file (env: DATAGEN_CONFIG).",
)
@click.option("--debug", is_flag=True, help="Debug logging and full tracebacks.")
@click.option("--log-json", is_flag=True, help="Log JSON lines to stderr.")
@click.version_option(__version__, prog_name="datagen")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, debug: bool, log_json: bool) -> None:
    """Generate synthetic text datasets for training LLMs."""
    state = _state(ctx)
    state.config_path, state.debug, state.log_json = config_path, debug, log_json


# --------------------------------------------------------------------------------------------------- main


def _interrupted() -> NoReturn:
    from datagen._app.signals import TERMINATED

    if TERMINATED["by_sigterm"]:
        _fail("terminated", 143)
    _fail("interrupted", 130)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {redact_text(message)}", err=True)
    sys.exit(code)


#: the group's own options, also accepted after a subcommand (``datagen generate --config x.toml``)
GLOBAL_VALUE_OPTIONS = ("--config",)
GLOBAL_FLAGS = ("--debug", "--log-json")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move the global options that follow the subcommand in front of it, where click expects them."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_FLAGS:
            front.append(arg)
        elif arg in GLOBAL_VALUE_OPTIONS and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        elif arg.split("=", 1)[0] in GLOBAL_VALUE_OPTIONS and "=" in arg:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``datagen`` console script: clean errors and exit codes, tracebacks with --debug."""
    args = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="datagen", standalone_mode=False)
    except click.exceptions.Abort:  # click's name for a KeyboardInterrupt
        _interrupted()
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:  # one style for every error: one line, then where to look
        command = exc.ctx.command_path if exc.ctx is not None else "datagen"
        _fail(f"{exc.format_message()} (see '{command} --help')", exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DatagenError as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, ConfigError) and exc.source is None and LOADED["source"]:
            exc = ConfigError(exc.problems, source=LOADED["source"])
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except ImportError as exc:
        from datagen.errors import missing_extra

        missing = missing_extra(exc)
        if missing is None:
            raise
        _fail(str(missing), missing.exit_code)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)


if __name__ == "__main__":
    main()
