"""A server's slots: handed out in order, woken without one, never lost to a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from sendpool.pipeline.slots import Slots


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_free_slots_are_taken_at_once_then_waiters_queue_in_order() -> None:
    slots = Slots(2)
    assert slots.try_take() and slots.try_take()
    assert not slots.try_take()
    order: list[int] = []

    async def wait(n: int) -> None:
        assert await slots.take()
        order.append(n)

    tasks = [asyncio.ensure_future(wait(n)) for n in range(3)]
    await _settle()
    assert order == []
    for expected in ([0], [0, 1], [0, 1, 2]):
        slots.release()
        await _settle()
        assert order == expected
    await asyncio.gather(*tasks)
    assert slots.free == 0
    for _ in range(3):
        slots.release()
    assert slots.free == 3


async def test_a_waiter_that_came_first_is_not_overtaken_by_try_take() -> None:
    slots = Slots(1)
    assert slots.try_take()
    waiter = asyncio.ensure_future(slots.take())
    await _settle()
    slots.release()  # handed to the waiter, not left free
    assert not slots.try_take()
    assert await waiter is True
    assert slots.free == 0


async def test_wake_all_returns_false_without_a_slot() -> None:
    slots = Slots(1)
    assert slots.try_take()
    waiters = [asyncio.ensure_future(slots.take()) for _ in range(3)]
    await _settle()
    slots.wake_all()
    assert await asyncio.gather(*waiters) == [False, False, False]
    slots.release()
    assert slots.free == 1  # nobody was left queued to hand it to


@pytest.mark.parametrize("handed_first", [False, True], ids=["while-waiting", "after-handed"])
async def test_a_cancelled_waiter_loses_no_slot(handed_first: bool) -> None:
    slots = Slots(1)
    assert slots.try_take()
    gone = asyncio.ensure_future(slots.take())
    after = asyncio.ensure_future(slots.take())
    await _settle()
    if handed_first:
        slots.release()  # the slot is the cancelled waiter's before it runs
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    if not handed_first:
        slots.release()  # skips the cancelled waiter
    assert await asyncio.wait_for(after, 1.0) is True
    slots.release()
    assert slots.free == 1
