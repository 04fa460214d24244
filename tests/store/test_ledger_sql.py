"""The SQL quota ledger: exact caps, windows, rate, release and cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sendpool.core.quota import Denial
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.store.ledger_sql import SqlLedger, purge_expired_sync

NOW = datetime(2026, 11, 27, 18, 10, tzinfo=UTC)


async def test_reserve_until_the_daily_cap_then_deny(runtime: Runtime) -> None:
    ledger = SqlLedger(runtime.db)
    w = windows_at(NOW)
    assert (await ledger.reserve(1, w, Caps(10), 7, NOW)).granted == 7
    grant = await ledger.reserve(1, w, Caps(10), 7, NOW)
    assert (grant.granted, grant.denied) == (3, Denial.DAILY_CAP)
    assert (await ledger.reserve(1, w, Caps(10), 1, NOW)).granted == 0
    assert (await ledger.usage({1: w}))[1].day_used == 10
    assert (await ledger.reserve(1, w, Caps(10), 0, NOW)).granted == 0


async def test_hour_window_rolls_over_but_day_does_not(runtime: Runtime) -> None:
    ledger = SqlLedger(runtime.db)
    caps = Caps(daily=10, hourly=4)
    first = windows_at(NOW)
    assert (await ledger.reserve(1, first, caps, 6, NOW)).denied is Denial.HOURLY_CAP
    later = NOW + timedelta(hours=1)
    second = windows_at(later)
    assert (await ledger.reserve(1, second, caps, 10, later)).granted == 4
    assert (await ledger.reserve(1, second, caps, 10, later)).granted == 0
    usage = await ledger.usage({1: second, 2: second})
    assert (usage[1].day_used, usage[1].hour_used, usage[2].day_used) == (8, 4, 0)


async def test_release_gives_units_back(runtime: Runtime) -> None:
    ledger = SqlLedger(runtime.db)
    w = windows_at(NOW)
    await ledger.reserve(3, w, Caps(5), 5, NOW)
    await ledger.release({(3, w): 2})
    assert (await ledger.reserve(3, w, Caps(5), 5, NOW)).granted == 2


async def test_rate_per_second(runtime: Runtime) -> None:
    ledger = SqlLedger(runtime.db)
    w = windows_at(NOW)
    caps = Caps(1000, rate=5.0)
    grant = await ledger.reserve(4, w, caps, 20, NOW)
    assert (grant.granted, grant.denied) == (5, Denial.RATE)
    assert grant.retry_after is not None and grant.retry_after > 0
    assert (await ledger.reserve(4, w, caps, 20, NOW + timedelta(seconds=1))).granted == 5
    assert (await ledger.usage({4: w}))[4].day_used == 10


async def test_cursors_advance_per_plan(runtime: Runtime) -> None:
    ledger = SqlLedger(runtime.db)
    assert await ledger.advance_cursor(1, 5) == 0
    assert await ledger.advance_cursor(1, 3) == 5
    assert await ledger.advance_cursor(2, 1) == 0


def test_expired_windows_are_purged(runtime: Runtime) -> None:
    from sendpool.store.ledger_sql import reserve_sync

    runtime.db.transaction(reserve_sync, 1, windows_at(NOW), Caps(10), 1, NOW)
    assert runtime.db.transaction(purge_expired_sync, NOW + timedelta(days=1)) == 0
    assert runtime.db.transaction(purge_expired_sync, NOW + timedelta(days=1, hours=1)) == 1
    assert runtime.db.transaction(purge_expired_sync, NOW + timedelta(days=3)) == 1
