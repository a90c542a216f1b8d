"""The seed's ``datagen.sampling``: the sampling parameters sent with every request
(:class:`SamplingConfig`, ``[sampling]`` in a config file)."""

from __future__ import annotations

from datagen._datamodel.config import SamplingConfig

__all__ = ["SamplingConfig"]
