"""The SQL quota ledger: exact caps, windows, rate, release and cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.store.ledger_sql import SqlLedger, purge_expired_sync
from tests.support import ledger_contract as contract

NOW = datetime(2026, 11, 27, 18, 10, tzinfo=UTC)


async def test_reserve_until_the_daily_cap_then_deny(runtime: Runtime) -> None:
    await contract.reserve_until_the_daily_cap_then_deny(SqlLedger(runtime.db), NOW)


async def test_hour_window_rolls_over_but_day_does_not(runtime: Runtime) -> None:
    await contract.hour_window_rolls_over_but_day_does_not(SqlLedger(runtime.db), NOW)


async def test_release_gives_units_back(runtime: Runtime) -> None:
    await contract.release_gives_units_back(SqlLedger(runtime.db), NOW)


async def test_rate_per_second(runtime: Runtime) -> None:
    await contract.rate_per_second(SqlLedger(runtime.db), NOW)


async def test_cursors_advance_per_plan(runtime: Runtime) -> None:
    await contract.cursors_advance_per_plan(SqlLedger(runtime.db))


def test_expired_windows_are_purged(runtime: Runtime) -> None:
    from sendpool.store.ledger_sql import reserve_sync

    runtime.db.transaction(reserve_sync, 1, windows_at(NOW), Caps(10), 1, NOW)
    assert runtime.db.transaction(purge_expired_sync, NOW + timedelta(days=1)) == 0
    assert runtime.db.transaction(purge_expired_sync, NOW + timedelta(days=1, hours=1)) == 1
    assert runtime.db.transaction(purge_expired_sync, NOW + timedelta(days=3)) == 1


async def test_rate_per_server_and_provider_group(runtime: Runtime) -> None:
    await contract.rate_per_server_and_provider_group(SqlLedger(runtime.db), NOW)
