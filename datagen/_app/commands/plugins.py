"""``datagen plugins``: installed plugins, or one member described with its options."""

from __future__ import annotations

import json
from typing import Any

import click

from datagen._kernel.commands import Host, pass_host
from datagen._kernel.manager import PluginManager


def _member_families() -> list[str]:
    """The families whose members ``datagen plugins NAME`` describes (those with config tables), in
    declaration order."""
    from datagen._datamodel.families import sectioned

    return [f.name for f in sectioned()]


def describe_member(pm: PluginManager, name: str) -> list[dict[str, Any]]:
    """What is registered as ``name`` in any family: its doc and every option with type and default."""
    import inspect

    import attrs as attrs_

    found = []
    for family in _member_families():
        registry = pm.registry(family)
        if name not in registry:
            continue
        entry = registry.entry(name)
        cls = entry.obj
        options = []
        for field in attrs_.fields(cls.Config):
            default = field.default
            if isinstance(default, attrs_.Factory):  # type: ignore[arg-type]
                default = default.factory()
            secret = bool(field.metadata.get("secret"))
            options.append(
                {
                    "name": field.name,
                    "type": field.type
                    if isinstance(field.type, str)
                    else getattr(field.type, "__name__", ""),
                    "default": "****" if secret and default else default,
                }
            )
        found.append(
            {
                "family": family,
                "name": name,
                "plugin": entry.plugin,
                "doc": inspect.getdoc(cls) or "",
                "table": f"[{family}.{name}]",
                "options": options,
            }
        )
    return found


@click.command("plugins")
@click.argument("name", required=False)
@click.option("--all", "show_all", is_flag=True, help="Include the built-in plugins.")
@click.option("--hook", "hook", default=None, help="Only plugins implementing this hook.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_host
def plugins_cmd(host: Host, name: str | None, show_all: bool, hook: str | None, as_json: bool) -> None:
    """List installed plugins: name, distribution, version and hooks implemented.

    With NAME (a method, backend, filter, ...), describe it: what it does and every option with its type
    and default, as set in its config table or with --set.
    """
    pm = host.plugins
    if name is not None:
        _describe(pm, name, as_json)
        return
    if hook is not None and hook not in pm.hook_names():
        raise click.BadParameter(
            f"no hook {hook!r}; hooks: {', '.join(pm.hook_names())}", param_hint="--hook"
        )
    provides: dict[str, list[str]] = {}
    from datagen._datamodel.families import FAMILIES

    for family in FAMILIES:
        for entry in pm.registry(family):
            provides.setdefault(entry.plugin, []).append(f"{family}:{entry.name}")
    rows = [
        info
        for info in pm.plugin_infos()
        if (show_all or not info.builtin) and (hook is None or hook in info.hooks)
    ]
    if as_json:
        data = [
            {
                "name": i.name,
                "distribution": i.dist,
                "version": i.version,
                "hooks": list(i.hooks),
                "provides": provides.get(i.name, []),
            }
            for i in rows
        ]
        click.echo(json.dumps(data, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("name", "from", "hooks", "provides")
        for column in table.columns:
            column.overflow = "fold"  # wrap long names instead of cutting them
        table.columns[-1].no_wrap = True  # "family:name" whole, it is what users type
        for i in rows:
            table.add_row(
                i.name,
                f"{i.dist or '-'} {i.version or ''}".strip(),
                "\n".join(h.removeprefix("datagen_register_").removeprefix("datagen_") for h in i.hooks),
                "\n".join(provides.get(i.name, [])),
            )
        Console().print(table)
        if not rows and not show_all:
            click.echo("no third-party plugins installed (--all lists the built-ins)")
    for _name, error in sorted(pm.failed.items()):
        click.echo(f"warning: {error}", err=True)


def _describe(pm: PluginManager, name: str, as_json: bool) -> None:
    members = describe_member(pm, name)
    if not members:
        known = sorted({n for family in _member_families() for n in pm.registry(family).names()})
        raise click.BadParameter(f"nothing is registered as {name!r}; known: {', '.join(known)}")
    if as_json:
        click.echo(json.dumps(members, indent=2, default=str))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    for member in members:
        console.print(f"[bold]{member['family']} {member['name']}[/bold] (plugin {member['plugin']})")
        if member["doc"]:
            console.print(member["doc"], markup=False)
        where = f"{member['family']}.{member['name']}"
        console.print(escape(f"options: [{where}] in the config file, or --set {where}.OPTION=VALUE"))
        table = Table("option", "type", "default")
        for column in table.columns:
            column.overflow = "fold"
        for option in member["options"]:
            table.add_row(option["name"], str(option["type"]), json.dumps(option["default"], default=str))
        console.print(table)
