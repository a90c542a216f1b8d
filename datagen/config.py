"""The seed's ``datagen.config``: the configuration classes and loader (defined in
:mod:`datagen._datamodel.config`)."""

from __future__ import annotations

from datagen._datamodel.config import (
    CacheConfig,
    DatagenConfig,
    EngineConfig,
    GenerateConfig,
    LoggingConfig,
    RLTuningConfig,
    SamplingConfig,
    load_config,
)
from datagen._datamodel.families import BackendSection, FilterSection, MetricSection, PrivacySection

#: the seed's name for the whole configuration
Config = DatagenConfig

__all__ = [
    "BackendSection",
    "CacheConfig",
    "Config",
    "DatagenConfig",
    "EngineConfig",
    "FilterSection",
    "GenerateConfig",
    "LoggingConfig",
    "MetricSection",
    "PrivacySection",
    "RLTuningConfig",
    "SamplingConfig",
    "load_config",
]
