"""The shared periodic loop: when it ticks, how it stops, and what a failing tick does."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sendpool.pipeline.periodic import Every, Periodic


async def run_for(job: Periodic, ticks_wanted: int, counter: list[int]) -> None:
    stop = asyncio.Event()

    async def stopper() -> None:
        while len(counter) < ticks_wanted:
            await asyncio.sleep(0.001)
        stop.set()

    await asyncio.wait_for(asyncio.gather(job.run(stop), stopper()), 5)


async def test_ticks_until_stopped() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)

    await run_for(Every(0.001, tick), 3, ticks)
    assert len(ticks) >= 3


async def test_tick_first_or_after_one_interval() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)

    stop = asyncio.Event()
    late = Every(60, tick, tick_first=False)
    task = asyncio.create_task(late.run(stop))
    await asyncio.sleep(0.01)
    assert ticks == []  # still waiting out its first interval
    stop.set()
    await asyncio.wait_for(task, 1)  # and a stop ends the wait at once
    assert ticks == []
    eager = Every(60, tick)
    stop = asyncio.Event()
    task = asyncio.create_task(eager.run(stop))
    await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert ticks == [1]


async def test_a_failing_tick_ends_the_loop_unless_it_should_survive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    async def fail() -> None:
        calls.append(1)
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        await Every(0.001, fail).run(asyncio.Event())
    calls.clear()
    with caplog.at_level(logging.ERROR, logger="sendpool.periodic"):
        await run_for(Every(0.001, fail, survive_errors=True, what="finishing launches"), 3, calls)
    assert len(calls) >= 3
    assert "finishing launches failed" in caplog.text


async def test_the_base_needs_a_tick() -> None:
    with pytest.raises(NotImplementedError):
        await Periodic().tick()
