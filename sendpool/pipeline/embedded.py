"""Run a worker inside this process until a condition holds (CLI, demo, tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from sendpool.pipeline.worker import Worker

T = TypeVar("T")


async def work_until(
    worker: Worker | None,
    done: Callable[[], Awaitable[bool]],
    *,
    tick: Callable[[], Awaitable[None]] | None = None,
    every: float = 0.25,
) -> None:
    """Poll ``done`` every ``every`` seconds while ``worker`` (if any) sends."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop)) if worker is not None else None
    try:
        while True:
            await asyncio.sleep(every)
            if task is not None and task.done():
                task.result()
                return
            if tick is not None:
                await tick()
            if await done():
                return
    finally:
        stop.set()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where it exists: it roughly doubles what one process can send."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is absent only on Windows
        return asyncio.run(coro)
    return uvloop.run(coro)
