"""SMTP sinks on loopback, started on demand by a test and stopped after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sendpool.sinks import SmtpSink

StartSinks = Callable[[int], Awaitable[list[SmtpSink]]]


@asynccontextmanager
async def sink_starter() -> AsyncIterator[StartSinks]:
    """A function that starts ``n`` more sinks; every one is stopped on exit."""
    started: list[SmtpSink] = []

    async def start(n: int) -> list[SmtpSink]:
        new = [await SmtpSink(f"sink{len(started) + i}").start() for i in range(n)]
        started.extend(new)
        return new

    try:
        yield start
    finally:
        for s in started:
            await s.stop()
