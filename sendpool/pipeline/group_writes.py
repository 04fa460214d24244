"""Writes of ids that come while one is under way go out together, in the next one.

The hand-over marks (pipeline/handover.py) come from every server's lane, a
few ids at a time, and each was a transaction of its own on the database
thread, which on one core took the time of the sends themselves. Here the
first write goes at once, as before; ids that come while it runs wait for it
and then go in one write together (a group commit), so under load there is
one transaction per round trip to the database instead of one per lane's
refill. Nothing is marked earlier or more than was asked, so a crash leaves
the same few marks behind as before: only fewer transactions carry them.

Each caller's wait ends when the write that holds its ids has committed, or
raises what that write raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

Write = Callable[[Sequence[int], datetime], Awaitable[None]]


class GroupWrites:
    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: list[tuple[Sequence[int], datetime, asyncio.Future[None]]] = []
        self._running: asyncio.Task[None] | None = None
        self.writes = 0  # how many writes went out, for tests and figures

    async def __call__(self, ids: Sequence[int], at: datetime) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((ids, at, done))
        if self._running is None:
            self._running = loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        group: list[tuple[Sequence[int], datetime, asyncio.Future[None]]] = []
        try:
            while self._pending:
                group, self._pending = self._pending, []
                ids = [i for part, _, _ in group for i in part]
                at = max(when for _, when, _ in group)  # the latest: every job is past its mark
                self.writes += 1
                try:
                    await self._write(ids, at)
                except Exception as exc:
                    _settle(group, exc)
                else:
                    _settle(group, None)
                group = []
        finally:
            # Cancelled (the worker stops): nobody may wait on a write that will not come.
            for _, _, done in [*group, *self._pending]:
                done.cancel()
            self._pending = []
            self._running = None


def _settle(
    group: list[tuple[Sequence[int], datetime, asyncio.Future[None]]], exc: Exception | None
) -> None:
    for _, _, done in group:
        if done.done():  # its caller was cancelled meanwhile
            continue
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)
