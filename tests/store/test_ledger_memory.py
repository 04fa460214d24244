"""The in-memory quota ledger: held to the same contract as the SQL and Redis ledgers."""

from __future__ import annotations

from datetime import UTC, datetime

from sendpool.core.quota import Denial
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import windows_at
from sendpool.store.ledger_memory import MemoryLedger
from tests.support import ledger_contract as contract

NOW = datetime(2026, 11, 27, 18, 10, tzinfo=UTC)


async def test_reserve_until_the_daily_cap_then_deny() -> None:
    ledger = MemoryLedger()
    await contract.reserve_until_the_daily_cap_then_deny(ledger, NOW)
    assert (await ledger.reserve(2, windows_at(NOW), Caps(0), 5, NOW)).denied is Denial.DAILY_CAP


async def test_hour_window_rolls_over_but_day_does_not() -> None:
    await contract.hour_window_rolls_over_but_day_does_not(MemoryLedger(), NOW)


async def test_release_gives_units_back_and_never_below_zero() -> None:
    ledger = MemoryLedger()
    await contract.release_gives_units_back(ledger, NOW)
    w = windows_at(NOW)
    await ledger.release({(3, w): 50, (4, w): 1})
    assert (await ledger.usage({3: w, 4: w})) == {3: Usage(0, 0), 4: Usage(0, 0)}


async def test_rate_per_second() -> None:
    await contract.rate_per_second(MemoryLedger(), NOW)


async def test_cursors_advance_per_plan() -> None:
    await contract.cursors_advance_per_plan(MemoryLedger())


def test_close_is_harmless() -> None:
    ledger = MemoryLedger()
    ledger.close()
    ledger.close()


async def test_rate_per_server_and_provider_group() -> None:
    await contract.rate_per_server_and_provider_group(MemoryLedger(), NOW)
