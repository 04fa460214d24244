"""An SMTP sink on its own thread and loop, for code under test that runs its own loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sendpool.sinks import SmtpSink


@contextmanager
def threaded_sinks(n: int) -> Iterator[list[SmtpSink]]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: (asyncio.set_event_loop(loop), ready.set(), loop.run_forever()), daemon=True
    )
    thread.start()
    ready.wait()

    async def start() -> list[SmtpSink]:
        return [await SmtpSink(f"sink{i}").start() for i in range(n)]

    sinks = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield sinks
    finally:

        async def stop() -> None:
            for s in sinks:
                await s.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
