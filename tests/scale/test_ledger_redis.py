"""The Redis ledger: the same contract as the SQL one, the same arithmetic as the core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from sendpool.core.quota import Denial, grantable
from sendpool.core.ratelimit import Throttle, gcra, take_rates
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import windows_at
from sendpool.store.ledger_redis import Keys, Recounted, RedisLedger
from tests.support import ledger_contract as contract
from tests.support.services import PrivateRedis

pytestmark = [pytest.mark.services, pytest.mark.slow]

# In the future: Redis expires keys by its own clock.
NOW = datetime(2030, 11, 27, 18, 10, tzinfo=UTC)


async def no_usage(now: datetime, reset_at: datetime) -> Recounted:
    """A database that has recorded no sends."""
    return Recounted({}, {})


@pytest.fixture
async def ledger(redis_server: PrivateRedis) -> AsyncIterator[RedisLedger]:
    led = RedisLedger.open(redis_server.url, no_usage, prefix="test")
    yield led
    led.close()


async def test_reserve_until_the_daily_cap_then_deny(ledger: RedisLedger) -> None:
    await contract.reserve_until_the_daily_cap_then_deny(ledger, NOW)
    assert (await ledger.reserve(2, windows_at(NOW), Caps(0), 5, NOW)).denied is Denial.DAILY_CAP


async def test_hour_window_rolls_over_but_day_does_not(ledger: RedisLedger) -> None:
    await contract.hour_window_rolls_over_but_day_does_not(ledger, NOW)


async def test_release_gives_units_back_and_never_below_zero(ledger: RedisLedger) -> None:
    await contract.release_gives_units_back(ledger, NOW)
    w = windows_at(NOW)
    await ledger.release({(3, w): 50, (4, w): 1})
    assert (await ledger.usage({3: w, 4: w})) == {3: Usage(0, 0), 4: Usage(0, 0)}


async def test_rate_per_second(ledger: RedisLedger) -> None:
    await contract.rate_per_second(ledger, NOW)


async def test_rate_per_server_and_provider_group(ledger: RedisLedger) -> None:
    await contract.rate_per_server_and_provider_group(ledger, NOW)


async def test_cursors_advance_per_plan(ledger: RedisLedger) -> None:
    await contract.cursors_advance_per_plan(ledger)


async def test_counters_expire_with_their_window(
    ledger: RedisLedger, redis_server: PrivateRedis
) -> None:
    w = windows_at(NOW)
    await ledger.reserve(1, w, Caps(10, rate=2.0), 1, NOW)
    client = redis.Redis.from_url(redis_server.url)
    try:
        keys = Keys("test")
        day_ms = client.pexpiretime(keys.counter(1, w.day))
        hour_ms = client.pexpiretime(keys.counter(1, w.hour))
        rate_ms = client.pexpiretime(keys.rate(1))
        cursor_ms = client.pexpiretime(keys.ready)
    finally:
        client.close()
    grace = timedelta(minutes=10)
    assert day_ms == int((w.day.end + grace).timestamp() * 1000)
    assert hour_ms == int((w.hour.end + grace).timestamp() * 1000)
    assert 0 < rate_ms - NOW.timestamp() * 1000 <= 61_000
    assert cursor_ms == -1  # the ready marker lasts as long as the Redis process


@settings(max_examples=120, deadline=None)
@given(
    daily=st.integers(0, 50),
    hourly=st.none() | st.integers(0, 50),
    rate=st.none() | st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.5, 40.0, 1000.0]),
    day_used=st.integers(0, 60),
    hour_used=st.integers(0, 60),
    tat_ahead=st.floats(-5.0, 5.0),
    count=st.integers(1, 60),
)
def test_the_script_does_the_core_arithmetic(
    shared_private_redis: PrivateRedis,
    daily: int,
    hourly: int | None,
    rate: float | None,
    day_used: int,
    hour_used: int,
    tat_ahead: float,
    count: int,
) -> None:
    caps = Caps(daily, hourly, rate)
    w = windows_at(NOW)
    keys = Keys("prop")
    tat = NOW.timestamp() + tat_ahead
    n, denial = grantable(caps, Usage(day_used, hour_used), count)
    retry_after = None
    new_tat = tat
    if n > 0 and rate:
        d = gcra(tat, NOW.timestamp(), rate, n)
        new_tat = d.new_tat
        if d.granted < n:
            n, denial, retry_after = d.granted, Denial.RATE, d.retry_after

    async def reserve() -> tuple[object, ...]:
        led = RedisLedger.open(shared_private_redis.url, no_usage, prefix="prop")
        try:
            await led.reserve(99, w, Caps(1), 1, NOW)  # the first call makes the counters whole
            led.client.set(keys.counter(1, w.day), day_used)
            led.client.set(keys.counter(1, w.hour), hour_used)
            led.client.set(keys.rate(1), repr(tat))
            grant = await led.reserve(1, w, caps, count, NOW)
            stored = float(led.client.get(keys.rate(1)) or 0)
            return grant.granted, grant.denied, grant.retry_after, stored
        finally:
            led.close()

    granted, denied, retry, stored = asyncio.run(reserve())
    assert (granted, denied) == (n, denial)
    assert retry == retry_after
    assert stored == new_tat


@settings(max_examples=80, deadline=None)
@given(
    rate=st.none() | st.sampled_from([0.5, 2.0, 7.5, 40.0]),
    group_rate=st.sampled_from([0.5, 1.0, 3.0, 7.5, 100.0]),
    burst=st.none() | st.integers(1, 20),
    tat_ahead=st.floats(-5.0, 5.0),
    group_ahead=st.floats(-5.0, 5.0),
    count=st.integers(1, 40),
)
def test_the_script_does_the_core_arithmetic_for_a_group_rate(
    shared_private_redis: PrivateRedis,
    rate: float | None,
    group_rate: float,
    burst: int | None,
    tat_ahead: float,
    group_ahead: float,
    count: int,
) -> None:
    throttle = Throttle("gmail", group_rate, None if burst is None else float(burst))
    caps = Caps(1000, None, rate)
    w = windows_at(NOW)
    keys = Keys("gprop")
    tat, gtat = NOW.timestamp() + tat_ahead, NOW.timestamp() + group_ahead
    d = take_rates(count, NOW.timestamp(), rate, tat, throttle, gtat)

    async def reserve() -> tuple[object, ...]:
        led = RedisLedger.open(shared_private_redis.url, no_usage, prefix="gprop")
        try:
            await led.reserve(99, w, Caps(1), 1, NOW)  # the first call makes the counters whole
            led.client.delete(keys.counter(1, w.day), keys.counter(1, w.hour))
            led.client.set(keys.rate(1), repr(tat))
            led.client.set(keys.group_rate(1, "gmail"), repr(gtat))
            grant = await led.reserve(1, w, caps, count, NOW, throttle=throttle)
            stored = float(led.client.get(keys.rate(1)) or 0)
            gstored = float(led.client.get(keys.group_rate(1, "gmail")) or 0)
            return grant.granted, grant.denied, grant.retry_after, stored, gstored
        finally:
            led.close()

    granted, denied, retry, stored, gstored = asyncio.run(reserve())
    assert granted == d.granted
    assert denied == (Denial(d.limited_by) if d.limited_by else None)
    assert retry == d.retry_after
    assert gstored == d.group_tat
    assert stored == (d.server_tat if d.server_tat is not None else tat)
