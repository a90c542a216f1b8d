"""The seed's ``datagen.config``: the configuration classes and loader (defined in
:mod:`datagen.datamodel.config`)."""

from __future__ import annotations

from datagen.datamodel.config import (
    BackendSection,
    CacheConfig,
    DatagenConfig,
    EngineConfig,
    FilterSection,
    GenerateConfig,
    LoggingConfig,
    MetricSection,
    PrivacySection,
    RLTuningConfig,
    SamplingConfig,
    load_config,
)

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
