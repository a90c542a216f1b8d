"""The seed's ``datagen.metrics``: metrics of a dataset through the metric plugins (the code is
:mod:`datagen._app.metrics`; plots in :mod:`datagen.metrics.visualization`)."""

from __future__ import annotations

from datagen._app.metrics import PARALLEL_MIN_RECORDS, Source, compare, compute, default_metrics, differences

__all__ = ["PARALLEL_MIN_RECORDS", "Source", "compare", "compute", "default_metrics", "differences"]
