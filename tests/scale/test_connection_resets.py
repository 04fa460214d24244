"""A dropped database connection is not an outage: workers carry on, nothing goes out twice."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from sendpool.runtime import Runtime
from tests.support.scenario import make_campaign, pool_of_sinks, report
from tests.support.sinks import StartSinks

pytestmark = [pytest.mark.services, pytest.mark.slow]

KILLS = 10


def kill_backends(url: str, stop: threading.Event, killed: list[int]) -> None:
    """Terminate every other backend of the test database, as a restart or an operator would."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        while len(killed) < KILLS and not stop.wait(0.25):
            with engine.connect() as conn:
                n = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                conn.commit()
            if n:
                killed.append(int(n))
    finally:
        engine.dispose()


async def test_workers_survive_backends_killed_under_them(
    runtime: Runtime, sinks: StartSinks
) -> None:
    n = 1500
    three = await sinks(3)
    pool_of_sinks(runtime, three)
    _, uid = make_campaign(runtime, n)
    workers = [runtime.worker(health_checks=False) for _ in range(2)]
    stop, halt = asyncio.Event(), threading.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    killed: list[int] = []
    killer = threading.Thread(
        target=kill_backends, args=(runtime.settings.database_url, halt, killed)
    )
    killer.start()
    try:
        async with asyncio.timeout(180):
            while True:
                await asyncio.sleep(0.1)
                for t in tasks:
                    assert not t.done(), "a worker exited"
                r = await report(runtime, uid)
                if r.by_status.get("sent", 0) == n and len(killed) >= 3:
                    break
    finally:
        halt.set()
        killer.join()
        stop.set()
        await asyncio.gather(*tasks)
    assert len(killed) >= 3, "backends were killed while mail flowed"
    ids: Counter[str] = Counter()
    for s in three:
        ids.update(s.handler.message_ids)
    assert len(ids) == n and set(ids.values()) == {1}, "every message once, none twice"
