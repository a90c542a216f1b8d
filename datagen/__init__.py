"""datagen: synthetic text datasets for training LLMs, built from pluggy plugins.

``datagen.load_plugins()`` returns a plugin manager with every ``datagen`` entry point loaded;
``datagen.Generator`` is the high-level API.
"""

from __future__ import annotations

from datagen.__about__ import __version__
from datagen.config import DatagenConfig, load_config
from datagen.context import GenerationContext, Run, RunContext, RunStats
from datagen.errors import ConfigError, DatagenError, PluginError, UnknownNameError, UsageError
from datagen.generator import Generator
from datagen.hookspecs import Register, hookimpl, hookspec
from datagen.llm import Request, Response
from datagen.plugins import PluginManager, load_plugins
from datagen.records import Message, Provenance, Record, Usage
from datagen.results import RecordWriter, Results

__all__ = [
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
