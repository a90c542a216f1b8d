"""Bounded concurrent mapping for generation methods: keeps at most ``limit`` tasks in flight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded_map(
    func: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int | Callable[[], int]
) -> AsyncGenerator[R, None]:
    """Yield ``await func(item)`` for each item in completion order, with at most ``limit`` running.

    ``limit`` may be a callable, asked again whenever a task finishes (a window that follows demand).
    Items are drawn lazily, so an endless iterable is fine; memory stays bounded by ``limit``. If the
    consumer stops early or a task fails, the tasks still running are cancelled.
    """
    size = limit if callable(limit) else (lambda: limit)
    if size() < 1:
        raise ValueError("limit must be at least 1")
    iterator = iter(items)
    pending: set[asyncio.Task[R]] = set()
    finished: asyncio.Queue[asyncio.Task[R]] = asyncio.Queue()
    exhausted = False

    def refill() -> None:
        nonlocal exhausted
        while not exhausted and len(pending) < max(1, size()):
            try:
                item = next(iterator)
            except StopIteration:
                exhausted = True
                return
            task = asyncio.ensure_future(func(item))
            pending.add(task)
            task.add_done_callback(finished.put_nowait)  # O(1) per completion, unlike asyncio.wait

    try:
        refill()
        while pending:
            task = await finished.get()
            pending.discard(task)
            yield task.result()
            refill()
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def run_sync(coro: Any) -> Any:
    """Run a coroutine from synchronous code (also inside Jupyter's running loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
