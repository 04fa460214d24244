"""The health checker: which servers are due, one claim per check, and what a result changes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from sendpool.pipeline.health import HealthChecker, check_due
from sendpool.pipeline.pool import PoolCache
from sendpool.store.records import HealthChange
from sendpool.transports.base import Health, Transport
from sendpool.transports.memory import MemoryTransport
from sendpool.transports.spec import ServerSpec
from tests.support.dispatch_helpers import NOW
from tests.support.pool_rows import MemoryCatalog, pool_rows, server_row

INTERVAL = 300.0
LONG_AGO = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("changes", "due"),
    [
        ({"status": "disabled", "health": "degraded"}, False),
        ({"health": "degraded", "next_check_at": None}, True),
        ({"health": "degraded", "next_check_at": NOW - timedelta(seconds=1)}, True),
        ({"health": "degraded", "next_check_at": NOW + timedelta(seconds=1)}, False),
        ({"last_activity_at": None, "health_checked_at": None}, True),
        ({"last_activity_at": LONG_AGO, "health_checked_at": LONG_AGO}, True),
        ({"last_activity_at": NOW, "health_checked_at": LONG_AGO, "smtputf8": True}, False),
        ({"last_activity_at": LONG_AGO, "health_checked_at": NOW}, False),  # checked just now
    ],
)
def test_which_servers_are_due(changes: dict[str, object], due: bool) -> None:
    assert check_due(server_row(1, "a", **changes), NOW, INTERVAL) is due


class Harness:
    def __init__(self, *rows: object, transports: dict[int, Transport]) -> None:
        self.catalog = MemoryCatalog(pool_rows(rows, {1: [r.id for r in rows]}))  # type: ignore[attr-defined]
        self.pool = PoolCache(self.catalog)
        self.changes: list[HealthChange] = []
        self.flushes = 0
        self.transports = transports

        async def flush() -> None:
            self.flushes += 1

        self.checker = HealthChecker(
            pool=self.pool,
            catalog=self.catalog,
            transport_for=lambda spec: self.transports[spec.id],
            record=self.changes.append,
            flush=flush,
            clock=lambda: NOW,
            interval=INTERVAL,
        )


async def test_a_passing_check_makes_a_degraded_server_healthy() -> None:
    h = Harness(server_row(1, "a", health="degraded"), transports={1: MemoryTransport()})
    h.pool.mark_degraded(1, NOW, None)
    results = await h.checker.check_due_servers()
    assert [(name, health.ok) for name, health in results] == [("a", True)]
    (change,) = h.changes
    assert (change.health, change.checked, change.error) == ("healthy", True, None)
    assert change.next_check_at == NOW + timedelta(seconds=INTERVAL)
    assert h.flushes == 1 and h.catalog.claimed == [1]
    assert h.pool._degraded == {}


async def test_a_failing_check_degrades_a_healthy_server() -> None:
    h = Harness(server_row(1, "a"), transports={1: MemoryTransport(healthy=False)})
    await h.checker.check_due_servers()
    assert h.changes[0].health == "degraded" and h.changes[0].error == "marked unhealthy"
    assert (await h.pool.get(NOW)).views[1].degraded


async def test_a_check_another_worker_claimed_is_not_run_twice() -> None:
    h = Harness(server_row(1, "a"), transports={1: MemoryTransport()})
    h.catalog.refuse_claims = True
    assert await h.checker.check_due_servers() == []
    assert h.changes == [] and h.flushes == 0


class Broken(MemoryTransport):
    async def check(self) -> Health:
        raise RuntimeError("boom")


class Silent(MemoryTransport):
    async def check(self) -> Health:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")


async def test_a_broken_check_is_a_failed_check() -> None:
    h = Harness(server_row(1, "a"), transports={1: Broken()})
    ((_, health),) = await h.checker.check_due_servers()
    assert not health.ok and "RuntimeError('boom')" in health.detail


async def test_a_check_that_never_answers_times_out() -> None:
    h = Harness(server_row(1, "a"), transports={1: Silent()})
    spec = (await h.pool.get(NOW)).specs[1]
    quick = ServerSpec(spec.id, spec.uid, spec.name, spec.type, spec.settings, timeout=-4.95)
    health = await h.checker.check(quick)
    assert not health.ok and "timed out" in health.detail


async def test_it_looks_for_due_checks_often_but_not_busily() -> None:
    h = Harness(server_row(1, "a"), transports={1: MemoryTransport()})
    assert h.checker.interval == 5.0
    stop = asyncio.Event()
    stop.set()
    await h.checker.run(stop)  # a stopped checker returns at once
    assert h.changes == []
