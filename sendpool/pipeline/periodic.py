"""The one loop every periodic job shares: tick, sleep until the next tick or a stop, repeat.

The worker's write-back, heartbeat and launch-finishing loops, the health
checker and the scheduler are all ``Periodic`` jobs: each says what one tick
does and how long to wait; stopping, the interruptible sleep and (for jobs
that must outlive a bad tick) logging a failure and going on live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("sendpool.periodic")


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Periodic:
    """A job run every ``interval`` seconds until a stop event is set.

    ``tick_first`` runs a tick at once on start (a scheduler catching up);
    otherwise the first tick comes after one interval (a heartbeat). With
    ``survive_errors`` an exception in a tick is logged with ``what`` and the
    next tick tries again; without it, the exception ends the loop (and the
    worker that owns it), as a bug should.
    """

    interval: float = 1.0
    tick_first: bool = True
    survive_errors: bool = False
    what: str = "periodic job"

    async def tick(self) -> None:
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> None:
        if not self.tick_first:
            await sleep_unless_stopped(stop, self.interval)
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                if not self.survive_errors:
                    raise
                log.exception("%s failed; trying again in %.0fs", self.what, self.interval)
            await sleep_unless_stopped(stop, self.interval)


class Every(Periodic):
    """A ``Periodic`` job made of a coroutine function, for loops that belong to an owner."""

    def __init__(
        self,
        interval: float,
        job: Callable[[], Awaitable[object]],
        *,
        tick_first: bool = True,
        survive_errors: bool = False,
        what: str = "periodic job",
    ) -> None:
        self.interval = interval
        self.job = job
        self.tick_first = tick_first
        self.survive_errors = survive_errors
        self.what = what

    async def tick(self) -> None:
        await self.job()
