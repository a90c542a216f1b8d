"""The plugin manager: entry-point discovery, a disable list, error isolation and typed registries.

Built-in features are entry points of the ``datagen`` distribution, loaded exactly like third-party ones.
A plugin that fails to import, declares a hook that does not exist, or raises while registering is
skipped with a warning naming it, so the others still load; with ``strict`` it raises instead.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import inspect
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from datagen._datamodel.families import FAMILIES
from datagen._kernel import hookspecs
from datagen._kernel.registry import Registry
from datagen.errors import PluginError
from datagen.log import get_logger

if TYPE_CHECKING:
    from datagen._datamodel.config import DatagenConfig

GROUP = "datagen"
BUILTIN_DIST = "datagen"
log = get_logger("datagen._kernel.manager")


@attrs.frozen
class PluginInfo:
    """What ``datagen plugins`` lists about one plugin."""

    name: str
    dist: str | None
    version: str | None
    hooks: tuple[str, ...]

    @property
    def builtin(self) -> bool:
        """Whether it ships inside the datagen distribution."""
        return self.dist == BUILTIN_DIST


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus entry-point loading with isolation, provenance and registries."""

    def __init__(self, *, strict: bool = False, host: Any = None) -> None:
        super().__init__(GROUP)
        #: what ``datagen_register_commands`` implementations taking ``host`` receive (the command
        #: line's :class:`datagen._kernel.commands.Host`; None outside the command line)
        self.host = host
        self.add_hookspecs(hookspecs)
        for module in sorted({f.spec_module for f in FAMILIES.values() if f.spec_module}):
            self.add_hookspecs(importlib.import_module(module))  # families declared beyond the built-ins
        self.strict = strict
        self.failed: dict[str, str] = {}
        self.disabled: list[str] = []
        self._dists: dict[str, tuple[str, str]] = {}  # plugin -> its distribution's (name, version)
        self._registries: dict[str, Registry[Any]] | None = None

    # Functions named datagen_* count as hook implementations even undecorated, so a misspelled hook
    # name is caught instead of silently ignored.
    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """Hook options of ``plugin.name``: decorated functions, and any routine named ``datagen_*``."""
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("datagen_") and inspect.isroutine(getattr(plugin, name, None)):
            return pluggy.HookimplOpts(
                wrapper=False,
                hookwrapper=False,
                optionalhook=False,
                tryfirst=False,
                trylast=False,
                specname=None,
            )
        return opts

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` and reject hooks with no spec; invalidates the cached registries."""
        plugin_name = super().register(plugin, name)
        if plugin_name is None:
            return None
        unknown = [
            caller.name
            for caller in self.get_hookcallers(plugin) or []
            if not caller.has_spec()
            and any(not i.optionalhook for i in caller.get_hookimpls() if i.plugin is plugin)
        ]
        if unknown:
            self.unregister(plugin)
            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(hook, self.hook_names(), n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise pluggy.PluginValidationError(
                plugin, f"plugin {plugin_name!r} implements unknown hook(s): {', '.join(hints)}"
            )
        self._registries = None
        return plugin_name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        """Unregister a plugin; invalidates the cached registries."""
        self._registries = None
        return super().unregister(plugin, name)

    def register_builtin(self, plugin: object, name: str) -> None:
        """Register a plugin that ships inside datagen but is not an entry point (the built-in
        commands): listed as built-in, like the entry points of the datagen distribution."""
        self.register(plugin, name=name)
        self._dists[name] = (BUILTIN_DIST, _own_version())

    def hook_names(self) -> list[str]:
        """Names of every hook spec."""
        return sorted(
            n for n in dir(self.hook) if n.startswith("datagen_") and getattr(self.hook, n).has_spec()
        )

    # ---------------------------------------------------------------------------------------- loading

    def _fail(self, name: str, what: str, exc: BaseException) -> None:
        message = f"plugin {name!r} {what}: {type(exc).__name__}: {exc}"
        if self.strict:
            if isinstance(exc, PluginError):
                raise exc
            raise PluginError(message) from exc
        self.failed[name] = message
        log.warning("plugin_skipped", plugin=name, error=message)

    def load_entry_points(
        self, disable: Iterable[str] = (), *, builtins: bool | Callable[[str], bool] = True
    ) -> None:
        """Load every ``datagen`` entry point, built-ins first, each isolated from the others' failures.

        ``builtins`` False loads only third-party ones; a predicate loads the built-ins whose entry-point
        name it accepts (what listing commands needs: the third-party plugins and the built-in modules
        that register commands, ``*_commands``, none of the features)."""
        skip = set(disable)
        # Only distributions that declare datagen entry points get their metadata parsed (the costly
        # part, and importlib.metadata parses the file again on every access: once per distribution).
        found: list[tuple[tuple[str, str], Iterable[md.EntryPoint]]] = []
        for dist in md.distributions():
            if selected := dist.entry_points.select(group=GROUP):
                found.append(((dist.metadata["Name"], dist.version), selected))
        if builtins is False:
            found = [(about, eps) for about, eps in found if about[0] != BUILTIN_DIST]
        elif builtins is not True:
            wanted = builtins
            found = [
                (about, [ep for ep in eps if about[0] != BUILTIN_DIST or wanted(ep.name)])
                for about, eps in found
            ]
        found.sort(key=lambda item: (item[0][0] != BUILTIN_DIST, item[0][0]))
        seen: set[str] = set()
        for about, eps in found:
            for ep in eps:
                if ep.name in seen:
                    continue
                seen.add(ep.name)
                if ep.name in skip:
                    self.disabled.append(ep.name)
                    continue
                if self.get_plugin(ep.name) is not None:
                    continue
                try:
                    plugin = ep.load()
                    self.register(plugin, name=ep.name)
                except Exception as exc:
                    self._fail(ep.name, f"from {about[0]} failed to load", exc)
                else:
                    self._dists[ep.name] = about

    # ------------------------------------------------------------------------------------- registries

    def _build_registries(self) -> dict[str, Registry[Any]]:
        # A plugin that fails part-way is dropped whole: build again without it until nothing fails.
        while True:
            failures = len(self.failed)
            registries = self._build_once()
            if len(self.failed) == failures:
                return registries

    def _build_once(self) -> dict[str, Registry[Any]]:
        registries: dict[str, Registry[Any]] = {name: Registry(name) for name in FAMILIES}
        for family in FAMILIES.values():
            registry = registries[family.name]
            caller = getattr(self.hook, family.hook)
            for impl in caller.get_hookimpls():
                if impl.plugin_name in self.failed:
                    continue
                collected: list[Any] = []
                given = {"register": collected.append, "host": self.host}
                try:
                    impl.function(**{arg: given[arg] for arg in impl.argnames})
                    for obj in collected:
                        registry.add(obj, impl.plugin_name)
                except Exception as exc:
                    self._fail(impl.plugin_name, f"failed in {family.hook}", exc)
        return registries

    def registry(self, family: str) -> Registry[Any]:
        """The registry of ``family`` (``backend``, ``method``, ...), built once per manager."""
        if self._registries is None:
            self._registries = self._build_registries()
        return self._registries[family]

    # ---------------------------------------------------------------------------------------- listing

    def plugin_infos(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and the hooks it implements."""
        infos = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self._dists.get(name, (None, None))
            hooks = tuple(sorted(c.name for c in self.get_hookcallers(plugin) or []))
            infos.append(PluginInfo(name, dist, version, hooks))
        return sorted(infos, key=lambda i: i.name)


def _own_version() -> str:
    from datagen.__about__ import __version__

    return __version__


def load_plugins(
    *,
    disable: Iterable[str] | None = None,
    strict: bool | None = None,
    entry_points: bool = True,
    builtins: bool | Callable[[str], bool] = True,
    host: Any = None,
) -> PluginManager:
    """A new plugin manager with every ``datagen`` entry point loaded.

    ``disable`` defaults to ``DATAGEN_DISABLE_PLUGINS`` (comma separated names); ``strict`` to
    ``DATAGEN_STRICT_PLUGINS=1``, which turns a broken plugin from a warning into an error.
    """
    pm = PluginManager(strict=_env_flag("DATAGEN_STRICT_PLUGINS") if strict is None else strict, host=host)
    if entry_points:
        pm.load_entry_points(
            _env_list("DATAGEN_DISABLE_PLUGINS") if disable is None else disable, builtins=builtins
        )
    pm.registry("backend")  # register everything now, so every failure is reported at load time
    return pm


def load_plugins_for(
    config: DatagenConfig, *, builtins: bool | Callable[[str], bool] = True, host: Any = None
) -> PluginManager:
    """A plugin manager for ``config``: its ``[plugins] disable`` plus ``DATAGEN_DISABLE_PLUGINS``, and its
    ``strict`` setting, or ``DATAGEN_STRICT_PLUGINS`` when the config does not set it."""
    disable = sorted({*config.plugins.disable, *_env_list("DATAGEN_DISABLE_PLUGINS")})
    return load_plugins(disable=disable, strict=config.plugins.strict, builtins=builtins, host=host)
