"""datagen: synthetic text datasets for training LLMs, built from pluggy plugins.

``datagen.load_plugins()`` returns a plugin manager with every ``datagen`` entry point loaded;
``datagen.Generator`` is the high-level API. Names are imported on first use, so ``import datagen`` (and
the command line starting up) costs next to nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from datagen import services as _services
from datagen.__about__ import __version__

if TYPE_CHECKING:
    from datagen.app.generator import SEED_TASKS, Generator
    from datagen.app.privacy import PrivacyManager
    from datagen.app.quality import QualityFilter
    from datagen.datamodel.config import DatagenConfig, load_config
    from datagen.datamodel.records import Message, Provenance, Record, Usage
    from datagen.datamodel.report import RunReport
    from datagen.datamodel.results import RecordWriter, Results
    from datagen.datamodel.run import Run, RunStats
    from datagen.engine.llm import Request, Response
    from datagen.errors import ConfigError, DatagenError, PluginError, UnknownNameError, UsageError
    from datagen.kernel.context import GenerationContext, RunContext
    from datagen.kernel.hookspecs import Register, hookimpl, hookspec
    from datagen.kernel.manager import PluginManager, load_plugins

    Config = DatagenConfig

_EXPORTS: dict[str, str] = {
    "Generator": "datagen.app.generator",
    "QualityFilter": "datagen.app.quality",
    "PrivacyManager": "datagen.app.privacy",
    "DatagenConfig": "datagen.datamodel.config",
    "load_config": "datagen.datamodel.config",
    "Message": "datagen.datamodel.records",
    "Provenance": "datagen.datamodel.records",
    "Record": "datagen.datamodel.records",
    "Usage": "datagen.datamodel.records",
    "RunReport": "datagen.datamodel.report",
    "RecordWriter": "datagen.datamodel.results",
    "Results": "datagen.datamodel.results",
    "SEED_TASKS": "datagen.app.generator",
    "Request": "datagen.engine.llm",
    "Response": "datagen.engine.llm",
    "ConfigError": "datagen.errors",
    "DatagenError": "datagen.errors",
    "PluginError": "datagen.errors",
    "UnknownNameError": "datagen.errors",
    "UsageError": "datagen.errors",
    "GenerationContext": "datagen.kernel.context",
    "Run": "datagen.datamodel.run",
    "RunContext": "datagen.kernel.context",
    "RunStats": "datagen.datamodel.run",
    "Register": "datagen.kernel.hookspecs",
    "hookimpl": "datagen.kernel.hookspecs",
    "hookspec": "datagen.kernel.hookspecs",
    "PluginManager": "datagen.kernel.manager",
    "load_plugins": "datagen.kernel.manager",
}
#: the seed's names for the same objects
_ALIASES = {"Config": "DatagenConfig"}


def _apply_stages(*args: Any, **kwargs: Any) -> Any:
    """``Results.apply``'s stage runner, imported when first used."""
    from datagen.app.pipeline import apply_stages

    return apply_stages(*args, **kwargs)


_services.provide("apply_stages", _apply_stages)


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    module = _EXPORTS.get(target)
    if module is None:
        raise AttributeError(f"module 'datagen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), target)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS, *_ALIASES])


__all__ = [
    "Config",
    "PrivacyManager",
    "ConfigError",
    "DatagenConfig",
    "DatagenError",
    "GenerationContext",
    "Generator",
    "Message",
    "PluginError",
    "PluginManager",
    "Provenance",
    "QualityFilter",
    "Record",
    "RecordWriter",
    "Register",
    "Request",
    "Response",
    "Results",
    "Run",
    "RunContext",
    "RunReport",
    "RunStats",
    "SEED_TASKS",
    "UnknownNameError",
    "Usage",
    "UsageError",
    "__version__",
    "hookimpl",
    "hookspec",
    "load_config",
    "load_plugins",
]
