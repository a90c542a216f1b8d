"""Typed registries: one per plugin family (declared in :mod:`datagen._datamodel.families`), filled
through the ``datagen_register_*`` hooks."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import attrs
import click

from datagen._datamodel.families import FAMILIES, Family
from datagen._kernel.commands import LazyCommand
from datagen.errors import DuplicateNameError, PluginError, UnknownNameError

T = TypeVar("T")


@attrs.frozen
class Entry(Generic[T]):
    """A registered object and the plugin that registered it."""

    name: str
    obj: T
    plugin: str


def check_member(family: Family, obj: Any) -> str:
    """Validate ``obj`` as a member of ``family`` and return its name; raises :class:`PluginError`."""
    if family.name == "command":
        if isinstance(obj, LazyCommand) and obj.name and ":" in obj.target:
            return obj.name
        if not isinstance(obj, click.Command) or not obj.name:
            raise PluginError(f"a command must be a named click.Command or a LazyCommand, got {obj!r}")
        return obj.name
    if not inspect.isclass(obj):
        raise PluginError(f"register a {family.name} class, not an instance: {obj!r}")
    name = getattr(obj, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise PluginError(f"{obj.__qualname__}.name must be a Python identifier, got {name!r}")
    config = getattr(obj, "Config", None)
    if not (inspect.isclass(config) and attrs.has(config)):
        raise PluginError(f"{obj.__qualname__}.Config must be an attrs class")
    if any(a.default is attrs.NOTHING for a in attrs.fields(config)):
        raise PluginError(f"every field of {obj.__qualname__}.Config needs a default")
    missing = [m for m in family.members if not callable(getattr(obj, m, None))]
    if missing:
        raise PluginError(f"{obj.__qualname__} lacks {', '.join(missing)} required of a {family.name}")
    return name


class Registry(Generic[T]):
    """Name → object for one family; a name registered twice is an error naming both plugins."""

    def __init__(self, family: str) -> None:
        self.family = FAMILIES[family]
        self._entries: dict[str, Entry[T]] = {}

    def add(self, obj: T, plugin: str) -> str:
        """Validate and add ``obj`` registered by ``plugin``; returns its name."""
        name = check_member(self.family, obj)
        if name in self._entries:
            first = self._entries[name].plugin
            raise DuplicateNameError(
                f"{self.family.name} {name!r} is registered by both plugin {first!r} and plugin {plugin!r}"
            )
        self._entries[name] = Entry(name, obj, plugin)
        return name

    def get(self, name: str) -> T:
        """The object registered as ``name``; :class:`UnknownNameError` lists the registered names."""
        try:
            return self._entries[name].obj
        except KeyError:
            raise UnknownNameError(self.family.name, name, list(self._entries)) from None

    def entry(self, name: str) -> Entry[T]:
        """The full entry for ``name``."""
        self.get(name)
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def unknown(self, name: str, where: str) -> str:
        """The problem ``where: no FAMILY plugin named NAME (registered: ...)`` for a name not here."""
        known = ", ".join(self.names()) or "none installed"
        return f"{where}: no {self.family.name} plugin named {name!r} (registered: {known})"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
