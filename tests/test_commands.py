"""Commands are plugins with a host: the built-in ones registered by name and import path (so
``datagen --help`` imports none of them), a third-party one doing real work through the host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

import datagen
from datagen.plugin import Host, LazyCommand, iter_records, pass_host
from tests.fakes import FakeDist, fake_module, install_fake_dists


@click.command("keep")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True)
@pass_host
def keep(host: Host, source: Path, out: Path) -> None:
    """Run the user's [filter] chain over SOURCE through the host."""
    results = host.apply_stages(iter_records(source), out=out)
    assert results.report is not None
    count = host.config.generate.count  # the user's config, as the file and environment say
    click.echo(f"kept {results.report.written} of {results.report.generated}; count {count}")


SEEN: dict[str, Any] = {}


@datagen.hookimpl
def datagen_register_commands(register: Any, host: Any) -> None:
    SEEN["host"] = host
    register(keep)
    register(LazyCommand("later", "tests.test_commands:later_cmd", "Imported only when it runs."))


@click.command("later")
@pass_host
def later_cmd(host: Host) -> None:
    """Print the configured count and the kind of Generator the host makes."""
    click.echo(f"count {host.config.generate.count}; generator {type(host.generator()).__name__}")


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_module(monkeypatch, "keep_plugin", datagen_register_commands=datagen_register_commands)
    install_fake_dists(monkeypatch, FakeDist("datagen-keep", "0.3", {"keep": "keep_plugin"}))


def test_a_third_party_command_reads_the_users_config_and_runs_a_stage_through_the_host(
    installed: None, cli: Any, tmp_path: Path
) -> None:
    config = tmp_path / "datagen.toml"
    config.write_text(
        '[generate]\ncount = 7\n\n[filter]\nchain = ["length"]\n\n[filter.length]\nresponse_min_length = 2\n'
    )
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    texts = ["tiny", "a longer answer here", "no", "yes indeed it is"]
    source.write_text("".join(json.dumps({"instruction": "q", "output": t}) + "\n" for t in texts))
    result = cli("--config", str(config), "keep", str(source), "-o", str(out))
    assert result.code == 0, result.err
    assert result.out.strip() == "kept 2 of 4; count 7"  # answers of one word are dropped
    kept = [json.loads(line)["output"] for line in out.read_text().splitlines()]
    assert kept == ["a longer answer here", "yes indeed it is"]
    assert SEEN["host"] is not None and all(hasattr(SEEN["host"], m) for m in ("config", "apply_stages"))
    assert "keep" in cli("--help").out and "Imported only when it runs." in cli("--help").out
    assert cli("--config", str(config), "later").out.strip() == "count 7; generator Generator"


def test_help_imports_no_command_and_no_builtin_plugin() -> None:
    """``--help`` imports the family commands' modules (each registers its command) and nothing else of
    the built-in plugins: no feature, no engine, no data model beyond the config."""
    code = (
        "import sys\n"
        "from datagen._app.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "mods = [m for m in sys.modules if m.startswith(('datagen._app.commands.', 'datagen_plugins.'))]\n"
        "mods = [m for m in mods if not m.endswith('_command') and m.count('.') > 1]\n"
        "mods += [m for m in ('datagen._app.runner', 'datagen._app.pipeline', 'datagen._engine.core',\n"
        "         'datagen._datamodel.results', 'datagen._kernel.context') if m in sys.modules]\n"
        "print('IMPORTED', sorted(mods))\n"
        "print('COMMANDS', sorted(m for m in sys.modules if m.endswith('_command')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "IMPORTED []" in proc.stdout, proc.stdout
    assert "generate" in proc.stdout and "scrub" in proc.stdout
    assert "datagen_plugins.privacy.scrub_command" in proc.stdout


def test_a_lazy_command_whose_target_is_missing_is_an_error_naming_it(installed: None, cli: Any) -> None:
    from datagen.errors import PluginError

    with pytest.raises(PluginError, match=r"command 'gone': cannot load no\.such\.module:cmd"):
        LazyCommand("gone", "no.such.module:cmd", "x").load()
    with pytest.raises(PluginError, match=r"is not a click\.Command"):
        LazyCommand("bad", "tests.test_commands:SEEN", "x").load()


def test_pass_host_outside_datagen_is_a_usage_error() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(keep, ["x.jsonl", "-o", "y.jsonl"])
    assert result.exit_code != 0 and "run it as a datagen command" in str(result.exception)
