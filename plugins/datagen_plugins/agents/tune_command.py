"""``datagen tune``: an RL agent searching generation parameters (agents family)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from datagen.plugin import Host, LazyCommand, RegisterCommand, hookimpl, pass_host


@click.command("tune")
@click.argument("config_file", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("tuning"),
    show_default=True,
    help="Folder for the checkpoint, history, best parameters and plot.",
)
@click.option("--agent", help="The agent ([tune] agent).")
@click.option("--iterations", type=int, help="Iterations ([tune] iterations).")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE", help="Any config key.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@pass_host
def tune_cmd(host: Host, /, config_file: Path, out: Path, **opts: Any) -> None:
    """Search generation parameters with an RL agent against a target model's score ([tune] in
    CONFIG_FILE, its `evaluate = "module:function"` the callback). Resumes from OUT/tuning.json."""
    from datagen.plugin import put_setting

    if not config_file.is_file():
        raise click.UsageError(f"{config_file}: no such file")
    overrides = host.settings(opts["settings"])
    if opts["agent"]:
        put_setting(overrides, "tune.agent", opts["agent"])
    if opts["iterations"]:
        put_setting(overrides, "tune.iterations", opts["iterations"])
    host.config_path = config_file
    config = host.load(overrides)
    callback = _tune_callback(config_file, config.tune.evaluate)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "tuning.json"
    resuming = checkpoint.is_file()
    tuner = host.tuner(config, callback, checkpoint=checkpoint)
    if resuming:
        click.echo(f"resuming from {checkpoint}: {len(tuner.records)} evaluations done", err=True)
    show = opts["progress"] if opts["progress"] is not None else sys.stderr.isatty()
    total = config.tune.iterations * config.tune.parallel

    def line(record: dict[str, Any]) -> str:
        params = ", ".join(
            f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in record["params"].items()
        )
        return f"best {tuner.best_reward():.4g} | last {record['reward']:.4g} | {params}"[:160]

    if show:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("[bold]tuning"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"), console=Console(stderr=True),
        ) as bar:  # fmt: skip
            task = bar.add_task("tune", total=total, completed=len(tuner.records), status="")
            tuner.tune(progress=lambda r: bar.update(task, advance=1, status=line(r)))
    else:
        tuner.tune(progress=lambda r: click.echo(f"#{r['iteration']} {line(r)}", err=True))
    _tune_outputs(host, tuner, out, tuner.agent.name)


def _tune_callback(config_file: Path, spec: str | None) -> Any:
    """The ``module:function`` callback, the config file's folder on the import path."""
    import importlib

    if not spec or ":" not in spec:
        raise click.UsageError(f"{config_file}: [tune] evaluate must name the callback as 'module:function'")
    module_name, _, function = spec.partition(":")
    sys.path.insert(0, str(config_file.resolve().parent))
    try:
        return getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        raise click.UsageError(f"{config_file}: [tune] evaluate = {spec!r}: {exc}") from None


def _tune_outputs(host: Host, tuner: Any, out: Path, agent: str) -> None:
    """best.json, history.jsonl and rewards.png in ``out``."""
    from datagen.plugin import write_file

    best = {"params": tuner.best_params(), "reward": tuner.best_reward(), "agent": agent}
    write_file(out / "best.json", json.dumps(best, indent=2))
    write_file(out / "history.jsonl", "".join(json.dumps(record) + "\n" for record in tuner.records))
    host.plot_rewards({agent: [r["reward"] for r in tuner.records]}, out / "rewards.png")
    click.echo(
        f"best {best['reward']:.4g} with {best['params']}; history, best.json and rewards.png in {out}"
    )


@hookimpl
def datagen_register_commands(register: RegisterCommand) -> None:
    """Register ``datagen tune`` (imported when it runs)."""
    register(
        LazyCommand("tune", f"{__name__}:tune_cmd", "Search generation parameters with an RL agent.", "agent")
    )
