"""The seed's ``datagen.metrics``: metrics of a dataset through the metric plugins (the code is
:mod:`datagen.app.metrics`; plots in :mod:`datagen.metrics.visualization`)."""

from __future__ import annotations

from datagen.app.metrics import DEFAULT, PARALLEL_MIN_RECORDS, Source, compare, compute, differences

__all__ = ["DEFAULT", "PARALLEL_MIN_RECORDS", "Source", "compare", "compute", "differences"]
