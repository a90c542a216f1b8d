"""The request engine every backend is driven through: concurrency and accounting."""

from __future__ import annotations

import asyncio

from datagen.config import EngineConfig
from datagen.context import RunStats
from datagen.llm import Request, Response
from datagen.protocols import Backend

DEFAULT_CONCURRENCY = 16


class Engine:
    """Sends requests to one backend with bounded concurrency, counting requests, tokens and cost."""

    def __init__(self, backend: Backend, config: EngineConfig, stats: RunStats | None = None) -> None:
        self.backend = backend
        self.config = config
        self.stats = stats or RunStats()
        self._slots = asyncio.Semaphore(config.max_concurrency or DEFAULT_CONCURRENCY)

    async def complete(self, request: Request) -> Response:
        """Send ``request`` and account for its answer."""
        async with self._slots:
            response = await self.backend.complete(request)
        self.stats.requests += 1
        self.stats.usage = self.stats.usage + response.usage
        self.stats.finish_reasons[response.finish_reason] += 1
        return response

    async def aclose(self) -> None:
        """Close the backend."""
        await self.backend.aclose()
