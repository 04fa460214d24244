"""Two processes of fifty tasks race for a cap of 1,000 on SQLite: exactly 1,000 win."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.store.database import Database
from sendpool.store.ledger_sql import SqlLedger

CAP = 1000
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def contender(
    url: str,
    seed: int,
    start: multiprocessing.synchronize.Event,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
    ready: multiprocessing.Queue,  # type: ignore[type-arg]
    both_in: multiprocessing.synchronize.Barrier,
) -> None:
    # Everything slow (imports, the engine, the database thread) is done before the
    # start, so the race is between the reservations and nothing else.
    db = Database.open(url, migrate_schema=False)
    asyncio.run(db.run(lambda c: c.exec_driver_sql("SELECT 1").scalar()))

    async def main() -> int:
        ledger = SqlLedger(db)
        rng = random.Random(seed)
        w = windows_at(NOW)

        async def task() -> int:
            got = 0
            while True:
                grant = await ledger.reserve(42, w, Caps(CAP), rng.randint(1, 3), NOW)
                got += grant.granted
                if grant.denied is not None:
                    return got
                await asyncio.sleep(rng.random() / 1000)  # a worker sends in between

        try:
            # One unit each before the race: on a loaded machine a process scheduled late
            # could otherwise find every unit taken before it asked for one.
            first = await ledger.reserve(42, w, Caps(CAP), 1, NOW)
            await asyncio.to_thread(both_in.wait, 120)
            return first.granted + sum(await asyncio.gather(*(task() for _ in range(50))))
        finally:
            db.close()

    ready.put(seed)  # ready and about to wait: the race starts when both are here
    start.wait()
    out.put(asyncio.run(main()))


@pytest.mark.slow
def test_two_processes_never_exceed_the_cap(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/race.db"
    Database.open(url).close()  # schema once, before the race
    ctx = multiprocessing.get_context("spawn")
    start, out, ready, both_in = ctx.Event(), ctx.Queue(), ctx.Queue(), ctx.Barrier(2)
    procs = [
        ctx.Process(target=contender, args=(url, seed, start, out, ready, both_in))
        for seed in (1, 2)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    start.set()
    granted = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sum(granted) == CAP
    assert all(g > 0 for g in granted), "both processes should have won some units"
    db = Database.open(url, migrate_schema=False)
    try:
        usage = asyncio.run(SqlLedger(db).usage({42: windows_at(NOW)}))
    finally:
        db.close()
    assert usage[42].day_used == CAP
