"""Hand-over marks that come while one is written go out together: fewer writes, none lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from sendpool.pipeline.group_writes import GroupWrites

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class SlowWrite:
    """A write that waits until the test lets it finish, and remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[int], datetime]] = []
        self.gates: list[asyncio.Future[None]] = []
        self.fail: Exception | None = None

    async def __call__(self, ids: Sequence[int], at: datetime) -> None:
        self.calls.append((list(ids), at))
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        await gate
        if self.fail is not None:
            raise self.fail

    def finish(self, n: int) -> None:
        self.gates[n].set_result(None)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_first_goes_at_once_and_those_meanwhile_go_together_next() -> None:
    write = SlowWrite()
    marks = GroupWrites(write)
    first = asyncio.ensure_future(marks([1, 2], T0))
    await _settle()
    assert write.calls == [([1, 2], T0)]
    later = [
        asyncio.ensure_future(marks([3], T0 + timedelta(seconds=1))),
        asyncio.ensure_future(marks([4, 5], T0 + timedelta(seconds=2))),
    ]
    await _settle()
    assert len(write.calls) == 1  # they wait for the write under way
    assert not first.done()
    write.finish(0)
    await _settle()
    assert first.done() and first.exception() is None
    assert write.calls[1] == ([3, 4, 5], T0 + timedelta(seconds=2))  # one write, the latest time
    assert not any(t.done() for t in later)
    write.finish(1)
    await asyncio.gather(*later)
    assert marks.writes == 2
    # Idle again: the next mark goes at once, in a write of its own.
    again = asyncio.ensure_future(marks([6], T0))
    await _settle()
    assert write.calls[2] == ([6], T0)
    write.finish(2)
    await again


async def test_a_failed_write_fails_every_caller_in_it_and_the_next_ones_still_go() -> None:
    write = SlowWrite()
    marks = GroupWrites(write)
    first = asyncio.ensure_future(marks([1], T0))
    await _settle()
    group = [asyncio.ensure_future(marks([2], T0)), asyncio.ensure_future(marks([3], T0))]
    await _settle()
    write.finish(0)
    await first
    write.fail = ConnectionError("database gone")
    await _settle()
    write.finish(1)
    for task in group:
        with pytest.raises(ConnectionError, match="database gone"):
            await task
    write.fail = None
    after = asyncio.ensure_future(marks([4], T0))
    await _settle()
    assert write.calls[-1] == ([4], T0)
    write.finish(2)
    await after


async def test_a_caller_cancelled_while_waiting_leaves_the_others_their_write() -> None:
    write = SlowWrite()
    marks = GroupWrites(write)
    first = asyncio.ensure_future(marks([1], T0))
    await _settle()
    gone = asyncio.ensure_future(marks([2], T0))
    kept = asyncio.ensure_future(marks([3], T0))
    await _settle()
    gone.cancel()
    write.finish(0)
    await first
    await _settle()
    write.finish(1)
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    # What was asked is written even for a caller that stopped waiting: a mark is never less.
    assert write.calls[1][0] == [2, 3]


async def test_a_write_cancelled_under_way_leaves_nobody_waiting_forever() -> None:
    write = SlowWrite()
    marks = GroupWrites(write)
    first = asyncio.ensure_future(marks([1], T0))
    await _settle()
    waiting = asyncio.ensure_future(marks([2], T0))
    await _settle()
    assert marks._running is not None
    marks._running.cancel()
    await _settle()
    for task in (first, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert marks._running is None
