"""The seed's ``datagen.results``: :class:`Results` and the record types (defined in
:mod:`datagen._datamodel.results` and :mod:`datagen._datamodel.records`)."""

from __future__ import annotations

from datagen._datamodel.records import Message, Provenance, Record, Usage
from datagen._datamodel.results import RecordWriter, Results, iter_records

__all__ = ["Message", "Provenance", "Record", "RecordWriter", "Results", "Usage", "iter_records"]
