"""A server's send slots on one worker: a count and one FIFO of waiting futures.

The hand-over needs two ways out of a wait: a slot, or a wake-up without one
when the server changed (so the job looks at the pool again). An
``asyncio.Semaphore`` raced against an ``Event`` in ``asyncio.wait`` gave that
at two tasks and a wait per waiting job, 8 % of a busy worker's time; here a
waiter is one future, resolved True when a slot is handed to it and False
when it is woken for nothing. A freed slot goes straight to the oldest waiter,
so nobody overtakes a job that waited longer.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    def __init__(self, count: int) -> None:
        self.free = count
        self._waiters: deque[asyncio.Future[bool]] = deque()

    def try_take(self) -> bool:
        """A slot at once, if one is free and nobody waits for it before us."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def take(self) -> bool:
        """A slot (True), or False once woken without one (``wake_all``)."""
        if self.try_take():
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            # Cancelled after a slot was handed over but before this job ran: give it on.
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release()
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter is done already: skip it
                waiter.set_result(True)
                return
        self.free += 1

    def wake_all(self) -> None:
        """Every waiter returns False: it waits no more, and may look again and queue anew."""
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(False)
