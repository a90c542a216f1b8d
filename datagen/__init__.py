"""datagen: synthetic text datasets for training LLMs, built from pluggy plugins.

``datagen.load_plugins()`` returns a plugin manager with every ``datagen`` entry point loaded;
``datagen.Generator`` is the high-level API.
"""

from __future__ import annotations

from datagen.__about__ import __version__
from datagen.app.generator import Generator
from datagen.datamodel.config import DatagenConfig, load_config
from datagen.datamodel.records import Message, Provenance, Record, Usage
from datagen.datamodel.report import RunReport
from datagen.datamodel.results import RecordWriter, Results
from datagen.datamodel.seeds import SEED_TASKS
from datagen.engine.llm import Request, Response
from datagen.errors import ConfigError, DatagenError, PluginError, UnknownNameError, UsageError
from datagen.kernel.context import GenerationContext, Run, RunContext, RunStats
from datagen.kernel.hookspecs import Register, hookimpl, hookspec
from datagen.kernel.manager import PluginManager, load_plugins

#: the seed's name for the configuration class
Config = DatagenConfig

__all__ = [
    "SEED_TASKS",
    "Config",
    "ConfigError",
    "DatagenConfig",
    "DatagenError",
    "GenerationContext",
    "Generator",
    "Message",
    "PluginError",
    "PluginManager",
    "Provenance",
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
    "UnknownNameError",
    "Usage",
    "UsageError",
    "__version__",
    "hookimpl",
    "hookspec",
    "load_config",
    "load_plugins",
]
