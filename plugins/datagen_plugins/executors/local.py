"""The ``local`` executor: every row group in this process, one after another (the default)."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import PipelineJob, RegisterExecutor, hookimpl


@attrs.define
class LocalExecutorConfig:
    """``[executor.local]`` has no options."""


class LocalExecutor:
    """Runs the whole pipeline in this process: the steps' requests in flight together behind one
    engine's limiter, each row group committed as it finishes."""

    name: ClassVar[str] = "local"
    default: ClassVar[bool] = True
    Config: ClassVar[type[Any]] = LocalExecutorConfig

    def __init__(self, config: LocalExecutorConfig) -> None:
        self.config = config

    def execute(self, job: PipelineJob) -> Any:
        """Every row group, every step, here (what a worker would commit is committed as it goes)."""
        return job.assemble((), {"name": self.name, "workers": 1})


@hookimpl
def datagen_register_executors(register: RegisterExecutor) -> None:
    """Register the local executor."""
    register(LocalExecutor)
