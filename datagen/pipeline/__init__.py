"""The seed's ``datagen.pipeline``: reading and writing datasets (:mod:`datagen.pipeline.io`), taking a
sample of one (:mod:`datagen.pipeline.sampling`), and :class:`Pipeline`, a whole build from a pipeline
file (docs/pipelines.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datagen.pipeline.io import load_dataset, read_jsonl, save_dataset, write_jsonl
from datagen.pipeline.sampling import sample_dataset

if TYPE_CHECKING:
    from datagen._app.pipefile.api import Pipeline, PipelineResult


def __getattr__(name: str) -> Any:
    if name in {"Pipeline", "PipelineResult"}:
        from datagen._app.pipefile import api

        return getattr(api, name)
    raise AttributeError(f"module 'datagen.pipeline' has no attribute {name!r}")


__all__ = [
    "Pipeline",
    "PipelineResult",
    "load_dataset",
    "read_jsonl",
    "sample_dataset",
    "save_dataset",
    "write_jsonl",
]
