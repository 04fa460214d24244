"""Workers in separate processes race for one server x group rate on PostgreSQL and on Redis.

Each process runs many concurrent reservations at a walk of instants of its
own; whatever the interleaving, the grants keep the GCRA bound (at most
``burst + rate x span`` over any span, so ``burst + rate`` in any second).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Barrier, Event

import pytest

from sendpool.core.quota import Denial
from sendpool.core.ratelimit import Throttle
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.pipeline.ports import QuotaLedger
from sendpool.store.database import Database
from sendpool.store.ledger_redis import RedisLedger
from sendpool.store.ledger_sql import SqlLedger
from sendpool.store.recount import SqlRecount
from tests.support.services import PrivateRedis
from tests.support.throttle_bound import SLACK, one_second_windows, worst_window

pytestmark = [pytest.mark.services, pytest.mark.slow]

# In the future: Redis expires keys by its own clock.
NOW = datetime(2030, 11, 27, 12, tzinfo=UTC)
RATE, BURST = 8.0, 4.0
GMAIL = Throttle("gmail", RATE, BURST)
INSTANTS = 12  # each process walks 0, 0.125, ... 1.375 s after NOW, at its own pace


def contender(
    kind: str,
    url: str,
    redis_url: str,
    seed: int,
    start: Event,
    instant: Barrier,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    async def main() -> list[tuple[float, int]]:
        db = Database.open(url, migrate_schema=False)
        ledger: QuotaLedger = (
            SqlLedger(db) if kind == "sql" else RedisLedger.open(redis_url, SqlRecount(db))
        )
        rng = random.Random(seed)
        grants: list[tuple[float, int]] = []

        async def task(offset: float) -> None:
            at = NOW + timedelta(seconds=offset)
            while True:
                grant = await ledger.reserve(
                    42, windows_at(at), Caps(1_000_000), rng.randint(1, 3), at, throttle=GMAIL
                )
                grants.append((offset, grant.granted))
                if grant.denied is Denial.GROUP_RATE:
                    return

        try:
            # Connected, and the Redis counters made whole, before the race starts.
            while (await ledger.reserve(7, windows_at(NOW), Caps(1), 1, NOW)).retry_after:
                await asyncio.sleep(0.05)
            out.put("ready")
            await asyncio.get_running_loop().run_in_executor(None, start.wait)
            for k in range(INSTANTS):
                # Both at each instant together, however late the machine runs one of them.
                await asyncio.get_running_loop().run_in_executor(None, instant.wait, 60)
                await asyncio.sleep(rng.random() / 100)  # then they drift apart
                await asyncio.gather(*(task(k / 8) for _ in range(10)))
            return grants
        finally:
            if isinstance(ledger, RedisLedger):
                ledger.close()
            db.close()

    out.put(asyncio.run(main()))


@pytest.mark.parametrize("kind", ["sql", "redis"])
def test_processes_never_pass_a_group_rate(
    kind: str, pg_database: str, redis_server: PrivateRedis
) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, instant, out = ctx.Event(), ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(
            target=contender,
            args=(kind, pg_database, redis_server.url, seed, start, instant, out),
        )
        for seed in (1, 2)
    ]
    for p in procs:
        p.start()
    assert [out.get(timeout=120) for _ in procs] == ["ready", "ready"]
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    grants = [g for r in results for g in r]
    assert worst_window(grants, RATE, BURST) <= SLACK * RATE
    assert one_second_windows(grants) <= BURST + RATE
    # Every instant had more demand than room: the rate was used, not merely kept.
    assert sum(n for _, n in grants) >= BURST + RATE * (INSTANTS - 1) / 8 - 1
    # Both raced at every instant (which of them wins a unit is the machine's to say).
    for r in results:
        assert {offset for offset, _ in r} == {k / 8 for k in range(INSTANTS)}
