"""What every quota ledger does, whatever keeps its counters: SQL, Redis or memory.

Each ledger's test module calls these with a fresh ledger and its own clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sendpool.core.quota import Denial
from sendpool.core.ratelimit import Throttle
from sendpool.core.servers import Caps
from sendpool.core.windows import windows_at
from sendpool.pipeline.ports import QuotaLedger


async def reserve_until_the_daily_cap_then_deny(ledger: QuotaLedger, now: datetime) -> None:
    w = windows_at(now)
    assert (await ledger.reserve(1, w, Caps(10), 7, now)).granted == 7
    grant = await ledger.reserve(1, w, Caps(10), 7, now)
    assert (grant.granted, grant.denied) == (3, Denial.DAILY_CAP)
    assert (await ledger.reserve(1, w, Caps(10), 1, now)).granted == 0
    assert (await ledger.usage({1: w}))[1].day_used == 10
    assert (await ledger.reserve(1, w, Caps(10), 0, now)).granted == 0


async def hour_window_rolls_over_but_day_does_not(ledger: QuotaLedger, now: datetime) -> None:
    caps = Caps(daily=10, hourly=4)
    first = windows_at(now)
    assert (await ledger.reserve(1, first, caps, 6, now)).denied is Denial.HOURLY_CAP
    later = now + timedelta(hours=1)
    second = windows_at(later)
    assert (await ledger.reserve(1, second, caps, 10, later)).granted == 4
    assert (await ledger.reserve(1, second, caps, 10, later)).granted == 0
    usage = await ledger.usage({1: second, 2: second})
    assert (usage[1].day_used, usage[1].hour_used, usage[2].day_used) == (8, 4, 0)


async def release_gives_units_back(ledger: QuotaLedger, now: datetime) -> None:
    w = windows_at(now)
    await ledger.reserve(3, w, Caps(5), 5, now)
    await ledger.release({(3, w): 2})
    assert (await ledger.reserve(3, w, Caps(5), 5, now)).granted == 2


async def rate_per_second(ledger: QuotaLedger, now: datetime) -> None:
    w = windows_at(now)
    caps = Caps(1000, rate=5.0)
    grant = await ledger.reserve(4, w, caps, 20, now)
    assert (grant.granted, grant.denied) == (5, Denial.RATE)
    assert grant.retry_after is not None and grant.retry_after > 0
    assert (await ledger.reserve(4, w, caps, 20, now + timedelta(seconds=1))).granted == 5
    assert (await ledger.usage({4: w}))[4].day_used == 10


async def cursors_advance_per_plan(ledger: QuotaLedger) -> None:
    assert await ledger.advance_cursor(1, 5) == 0
    assert await ledger.advance_cursor(1, 3) == 5
    assert await ledger.advance_cursor(2, 1) == 0


async def rate_per_server_and_provider_group(ledger: QuotaLedger, now: datetime) -> None:
    """A server's rate to a group holds beside its own rate; other groups and servers are apart."""
    w = windows_at(now)
    # Rates whose intervals are exact in binary: the arithmetic is then exact too.
    gmail = Throttle("gmail", 2.0, burst=2)
    grant = await ledger.reserve(5, w, Caps(1000, rate=8.0), 5, now, throttle=gmail)
    assert (grant.granted, grant.denied) == (2, Denial.GROUP_RATE)
    assert grant.retry_after == 0.5
    # Its own rate was charged only the two sent: six more go to another group.
    yahoo = Throttle("yahoo", 64.0)
    grant = await ledger.reserve(5, w, Caps(1000, rate=8.0), 9, now, throttle=yahoo)
    assert (grant.granted, grant.denied) == (6, Denial.RATE)
    # Another server's gmail rate is its own.
    assert (await ledger.reserve(6, w, Caps(1000), 3, now, throttle=gmail)).granted == 2
    later = now + timedelta(seconds=0.5)
    assert (await ledger.reserve(6, w, Caps(1000), 3, later, throttle=gmail)).granted == 1
    # The windows count every unit, whatever its group.
    assert (await ledger.usage({5: w, 6: w}))[5].day_used == 8
    # A cap that binds first is the reason, and the group is charged only what was granted.
    small = windows_at(now + timedelta(hours=2))
    grant = await ledger.reserve(7, small, Caps(1), 5, now, throttle=gmail)
    assert (grant.granted, grant.denied) == (1, Denial.DAILY_CAP)
    assert (await ledger.reserve(7, small, Caps(10), 5, now, throttle=gmail)).granted == 1
