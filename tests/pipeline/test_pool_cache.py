"""The PoolCache: the pool as one worker sees it, reloaded every ``ttl`` seconds, plus its own news."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from sendpool.core.states import ServerHealth, ServerStatus
from sendpool.pipeline.pool import PoolCache
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.store.catalog import SqlCatalog
from sendpool.store.records import PoolRows
from sendpool.store.tables import SendingServer, table
from tests.support.scenario import apply, smtp_server

NOW = datetime(2026, 11, 27, 18, 10, tzinfo=UTC)


class CountingCatalog(SqlCatalog):
    """The real catalog, counting how often the pool is read."""

    loads = 0

    async def pool(self, now: datetime) -> PoolRows:
        self.loads += 1
        return await super().pool(now)


@pytest.fixture
def catalog(runtime: Runtime) -> CountingCatalog:
    apply(
        runtime,
        {
            "servers": [
                smtp_server("relay-a", 9, 1000, username="mailer", password_env="RELAY_PASSWORD"),
                smtp_server("relay-b", 9, 500, hourly_limit=50, max_connections=3),
            ],
            "plans": [
                {"name": "Marketing", "servers": ["relay-a", "relay-b"], "burst_threshold": 800},
                {"name": "EU", "servers": ["relay-b"]},
            ],
            "customers": [
                {"name": "acme", "plan": "Marketing", "sending_domains": ["example.com"]}
            ],
            "region_rules": [{"region": "eu", "plan": "EU"}],
        },
        env={"RELAY_PASSWORD": "s3cret"},
    )
    return CountingCatalog(runtime.db, runtime.box)


def ids(runtime: Runtime, *refs_: str) -> list[int]:
    def look(conn: Any) -> list[int]:
        return [
            refs.server_id(conn, r) if r.startswith("relay") else refs.plan_id(conn, r)
            for r in refs_
        ]

    return runtime.db.transaction(look)


def set_server(runtime: Runtime, server_id: int, **values: Any) -> None:
    runtime.db.transaction(
        lambda c: c.execute(
            update(table(SendingServer)).where(SendingServer.id == server_id).values(**values)
        )
    )


async def test_it_loads_servers_plans_and_rules_with_secrets_opened(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    a, b, marketing, eu = ids(runtime, "relay-a", "relay-b", "Marketing", "EU")
    state = await PoolCache(catalog, send_timeout=7.5).get(NOW)
    assert set(state.views) == set(state.specs) == {a, b}
    assert state.plan_members(marketing) == {a, b} and state.plan_members(eu) == {b}
    assert state.plan_members(999) == frozenset()
    assert state.rows.plan_burst == {marketing: 800, eu: None}
    assert state.rows.region_rules == {"eu": eu}
    view_a, view_b = state.views[a], state.views[b]
    assert (view_a.name, view_a.sending_limit, view_a.hourly_limit) == ("relay-a", 1000, None)
    assert (view_b.sending_limit, view_b.hourly_limit) == (500, 50)
    assert view_a.enabled and not view_a.degraded
    assert state.specs[a].secrets == {"password": "s3cret"}
    assert state.specs[a].timeout == 7.5
    assert state.specs[b].max_connections == 3


async def test_within_its_ttl_it_answers_from_memory(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    first = await cache.get(NOW)
    (a,) = ids(runtime, "relay-a")
    set_server(runtime, a, status=ServerStatus.DISABLED)
    again = await cache.get(NOW)
    assert again is first and catalog.loads == 1
    assert again.views[a].enabled  # the change waits for the next load


async def test_after_its_ttl_it_reloads_what_changed(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=0.01)
    await cache.get(NOW)
    (a,) = ids(runtime, "relay-a")
    set_server(runtime, a, status=ServerStatus.DISABLED, sending_limit=10)
    time.sleep(0.02)
    state = await cache.get(NOW)
    assert catalog.loads == 2
    assert not state.views[a].enabled and state.views[a].sending_limit == 10


async def test_invalidate_makes_the_next_get_reload(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    await cache.get(NOW)
    (b,) = ids(runtime, "relay-b")
    set_server(runtime, b, health=ServerHealth.DEGRADED)
    cache.invalidate()
    state = await cache.get(NOW)
    assert catalog.loads == 2 and state.views[b].degraded


async def test_a_failure_seen_here_degrades_the_server_at_once_and_is_news_only_once(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    state = await cache.get(NOW)
    (a,) = ids(runtime, "relay-a")
    check_at = NOW + timedelta(minutes=5)
    assert cache.mark_degraded(a, NOW, check_at) is True
    assert cache.mark_degraded(a, NOW, check_at) is False
    assert state.views[a].degraded and state.views[a].next_check_at == check_at
    assert catalog.loads == 1


async def test_a_local_failure_outlives_a_reload_until_a_later_check_passes(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    await cache.get(NOW)
    (a,) = ids(runtime, "relay-a")
    check_at = NOW + timedelta(minutes=5)
    cache.mark_degraded(a, NOW, check_at)
    # The database has not heard yet, or heard of a check from before the failure.
    set_server(runtime, a, health=ServerHealth.HEALTHY, health_checked_at=NOW - timedelta(hours=1))
    cache.invalidate()
    view = (await cache.get(NOW)).views[a]
    assert view.degraded and view.next_check_at == check_at
    set_server(
        runtime, a, health=ServerHealth.HEALTHY, health_checked_at=NOW + timedelta(minutes=6)
    )
    cache.invalidate()
    assert not (await cache.get(NOW)).views[a].degraded
    assert cache.mark_degraded(a, NOW, None) is True  # the outage is news again


async def test_mark_healthy_forgets_the_failure_and_reloads(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    await cache.get(NOW)
    (a,) = ids(runtime, "relay-a")
    cache.mark_degraded(a, NOW, None)
    cache.mark_healthy(a)
    state = await cache.get(NOW)
    assert catalog.loads == 2 and not state.views[a].degraded


async def test_a_pause_seen_here_holds_until_the_database_knows_a_later_one(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    state = await cache.get(NOW)
    (a,) = ids(runtime, "relay-a")
    until = NOW + timedelta(minutes=10)
    cache.mark_paused(a, until)
    assert state.views[a].paused_until == until
    cache.invalidate()
    assert (await cache.get(NOW)).views[a].paused_until == until  # the database has none
    later = NOW + timedelta(hours=1)
    set_server(runtime, a, paused_until=later)
    cache.invalidate()
    assert (await cache.get(NOW)).views[a].paused_until == later


async def test_marks_before_the_first_load_apply_to_it(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog)
    (a,) = ids(runtime, "relay-a")
    until = NOW + timedelta(minutes=10)
    assert cache.mark_degraded(a, NOW, None) is True
    cache.mark_paused(a, until)
    view = (await cache.get(NOW)).views[a]
    assert view.degraded and view.paused_until == until


async def test_callers_that_find_it_stale_together_share_one_load(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    states = await asyncio.gather(*(cache.get(NOW) for _ in range(50)))
    assert catalog.loads == 1
    assert all(s is states[0] for s in states)
    cache.invalidate()
    again = await asyncio.gather(*(cache.get(NOW) for _ in range(50)))
    assert catalog.loads == 2 and again[0] is not states[0]


async def test_an_invalidate_during_a_load_makes_the_next_get_read_again(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    (a,) = ids(runtime, "relay-a")
    early = asyncio.ensure_future(cache.get(NOW))
    await asyncio.sleep(0)  # the load has begun
    set_server(runtime, a, status=ServerStatus.DISABLED)
    cache.invalidate()
    fresh = await cache.get(NOW)
    assert not fresh.views[a].enabled  # read after the change, not joined to the early load
    await early
    assert catalog.loads == 2
    assert await cache.get(NOW) is fresh  # the early load, finished late, is not kept


async def test_a_caller_cancelled_while_waiting_leaves_the_load_to_the_others(
    runtime: Runtime, catalog: CountingCatalog
) -> None:
    cache = PoolCache(catalog, ttl=60)
    first = asyncio.ensure_future(cache.get(NOW))
    second = asyncio.ensure_future(cache.get(NOW))
    await asyncio.sleep(0)
    first.cancel()
    state = await second
    assert catalog.loads == 1 and state.views
    assert await cache.get(NOW) is state


async def test_a_failed_load_reaches_every_caller_and_the_next_get_tries_again(
    runtime: Runtime, catalog: CountingCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PoolCache(catalog, ttl=60)
    real = CountingCatalog.pool

    async def broken(self: CountingCatalog, now: datetime) -> PoolRows:
        self.loads += 1
        await asyncio.sleep(0)
        raise ConnectionError("the database went away")

    monkeypatch.setattr(CountingCatalog, "pool", broken)
    got = await asyncio.gather(cache.get(NOW), cache.get(NOW), return_exceptions=True)
    assert catalog.loads == 1 and all(isinstance(g, ConnectionError) for g in got)
    monkeypatch.setattr(CountingCatalog, "pool", real)
    assert (await cache.get(NOW)).views
