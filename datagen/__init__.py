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
    from datagen._app.generator import SEED_TASKS, Generator
    from datagen._app.pipefile.api import Pipeline, PipelineResult
    from datagen._app.privacy import PrivacyManager
    from datagen._app.quality import QualityFilter
    from datagen._datamodel.config import DatagenConfig, load_config
    from datagen._datamodel.records import Message, Provenance, Record, Usage
    from datagen._datamodel.report import RunReport
    from datagen._datamodel.results import RecordWriter, Results
    from datagen._datamodel.run import Run, RunStats
    from datagen._engine.llm import Request, Response
    from datagen._kernel.context import GenerationContext, RunContext
    from datagen._kernel.hookspecs import Register, hookimpl, hookspec
    from datagen._kernel.manager import PluginManager, load_plugins
    from datagen.errors import ConfigError, DatagenError, PluginError, UnknownNameError, UsageError

    Config = DatagenConfig

_EXPORTS: dict[str, str] = {
    "Generator": "datagen._app.generator",
    "Pipeline": "datagen._app.pipefile.api",
    "PipelineResult": "datagen._app.pipefile.api",
    "QualityFilter": "datagen._app.quality",
    "PrivacyManager": "datagen._app.privacy",
    "DatagenConfig": "datagen._datamodel.config",
    "load_config": "datagen._datamodel.config",
    "Message": "datagen._datamodel.records",
    "Provenance": "datagen._datamodel.records",
    "Record": "datagen._datamodel.records",
    "Usage": "datagen._datamodel.records",
    "RunReport": "datagen._datamodel.report",
    "RecordWriter": "datagen._datamodel.results",
    "Results": "datagen._datamodel.results",
    "SEED_TASKS": "datagen._app.generator",
    "Request": "datagen._engine.llm",
    "Response": "datagen._engine.llm",
    "ConfigError": "datagen.errors",
    "DatagenError": "datagen.errors",
    "PluginError": "datagen.errors",
    "UnknownNameError": "datagen.errors",
    "UsageError": "datagen.errors",
    "GenerationContext": "datagen._kernel.context",
    "Run": "datagen._datamodel.run",
    "RunContext": "datagen._kernel.context",
    "RunStats": "datagen._datamodel.run",
    "Register": "datagen._kernel.hookspecs",
    "hookimpl": "datagen._kernel.hookspecs",
    "hookspec": "datagen._kernel.hookspecs",
    "PluginManager": "datagen._kernel.manager",
    "load_plugins": "datagen._kernel.manager",
}
#: the seed's names for the same objects
_ALIASES = {"Config": "DatagenConfig"}


def _apply_stages(*args: Any, **kwargs: Any) -> Any:
    """``Results.apply``'s stage runner, imported when first used."""
    from datagen._app.pipeline import apply_stages

    return apply_stages(*args, **kwargs)


_services.provide("apply_stages", _apply_stages)


def _export(*args: Any, **kwargs: Any) -> Any:
    """``Results.export``'s writer, imported when first used."""
    from datagen._app.exports import export

    return export(*args, **kwargs)


_services.provide("export", _export)


def _to_torch(*args: Any, **kwargs: Any) -> Any:
    """``Results.to_torch``'s encoder, imported when first used."""
    from datagen._app.torch_data import to_torch

    return to_torch(*args, **kwargs)


_services.provide("to_torch", _to_torch)


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
    "Pipeline",
    "PipelineResult",
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
