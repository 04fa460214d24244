"""A Redis that restarts, is flushed or comes back from an old snapshot never breaks a cap.

The counters are rebuilt from the messages table (store.recount) before
anything is granted, and only once no claim from before the reset is in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from sendpool.core.quota import Denial, Grant
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows, windows_at
from sendpool.pipeline.takeback import not_yet, take_back
from sendpool.runtime import Runtime
from sendpool.store.ledger_redis import Keys, RedisLedger
from sendpool.store.recount import SqlRecount
from sendpool.store.tables import Message, SendingServer
from tests.support.scenario import apply, make_campaign, smtp_server
from tests.support.services import PrivateRedis, private_redis, redis_server_binary

pytestmark = [pytest.mark.services, pytest.mark.slow]


def now_mid_hour() -> datetime:
    """Now, but not in the last seconds of an hour: the test's windows must hold still."""
    now = datetime.now(UTC)
    left = windows_at(now).hour.seconds_left(now)
    if left < 10:
        time.sleep(left + 0.1)
        now = datetime.now(UTC)
    return now


def setup(rt: Runtime, n: int = 20) -> dict[str, int]:
    apply(
        rt,
        {
            "servers": [smtp_server("a", 1), smtp_server("b", 2)],
            "plans": [{"name": "P", "servers": ["a", "b"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(rt, n)
    rows = rt.db.transaction(
        lambda c: c.execute(select(SendingServer.name, SendingServer.id)).all()
    )
    return {name: int(sid) for name, sid in rows}


def set_rows(rt: Runtime, ids: list[int], **values: Any) -> None:
    """Rows as a write-back leaves them: an attempt on the named server is its last one."""
    if values.get("server_id") is not None:
        values.setdefault("attempts", 1)
        values.setdefault("attempts_here", 1)
    rt.db.transaction(
        lambda c: c.execute(update(Message).where(Message.id.in_(ids)).values(**values))
    )


def message_ids(rt: Runtime) -> list[int]:
    return list(
        rt.db.transaction(
            lambda c: c.execute(select(Message.id).order_by(Message.id)).scalars().all()
        )
    )


async def reserve(
    ledger: RedisLedger, server_id: int, w: ServerWindows, caps: Caps, n: int, now: datetime
) -> Grant:
    """Reserve as a worker would: a message that is told to wait tries again."""
    for _ in range(10):
        grant = await ledger.reserve(server_id, w, caps, n, now)
        if grant.denied is not Denial.UNAVAILABLE:
            return grant
    return grant


@pytest.fixture
async def ledger(runtime: Runtime, redis_server: PrivateRedis) -> AsyncIterator[RedisLedger]:
    led = RedisLedger.open(redis_server.url, SqlRecount(runtime.db), prefix="reset")
    yield led
    led.close()


async def test_an_empty_redis_is_rebuilt_from_the_messages_before_it_grants(
    runtime: Runtime, ledger: RedisLedger
) -> None:
    servers = setup(runtime)
    a, b = servers["a"], servers["b"]
    now = now_mid_hour()
    w = windows_at(now)
    at = w.hour.start + (now - w.hour.start) / 2
    m = message_ids(runtime)
    set_rows(runtime, m[0:7], status="sent", server_id=a, sent_at=at, attempts=1)
    # Retried: its first attempt's server is unknown, so every server is charged for it.
    set_rows(runtime, m[7:8], status="sent", server_id=a, sent_at=at, attempts=2)
    set_rows(runtime, m[8:10], status="deferred", server_id=b, updated_at=at, attempts=1)
    set_rows(runtime, m[10:11], status="failed", server_id=b, updated_at=at, attempts=1)
    yesterday = at - timedelta(days=1)
    set_rows(runtime, m[11:12], status="sent", server_id=a, sent_at=yesterday, updated_at=yesterday)
    # Handed back after a server failure: the attempt it made before is unknown too.
    set_rows(runtime, m[12:13], status="queued", server_id=None, updated_at=at, attempts=1)

    grant = await reserve(ledger, a, w, Caps(12), 5, now)
    assert (grant.granted, grant.denied) == (2, Denial.DAILY_CAP)
    assert await ledger.usage({a: w, b: w}) == {a: Usage(12, 12), b: Usage(5, 5)}


async def test_a_restart_between_reservations_keeps_the_cap(
    runtime: Runtime, ledger: RedisLedger, redis_server: PrivateRedis
) -> None:
    a = setup(runtime)["a"]
    now = now_mid_hour()
    w = windows_at(now)
    assert (await reserve(ledger, a, w, Caps(10), 6, now)).granted == 6
    set_rows(runtime, message_ids(runtime)[:6], status="sent", server_id=a, sent_at=now)
    redis_server.restart()
    grant = await reserve(ledger, a, w, Caps(10), 6, now)
    assert (grant.granted, grant.denied) == (4, Denial.DAILY_CAP)


async def test_a_claim_in_flight_at_the_reset_holds_the_rebuild_back(
    runtime: Runtime, ledger: RedisLedger
) -> None:
    a = setup(runtime)["a"]
    now = now_mid_hour()
    w = windows_at(now)
    m = message_ids(runtime)
    # One claim is still sending; another's worker died and its lease ran out.
    set_rows(
        runtime,
        m[:1],
        status="sending",
        updated_at=now - timedelta(seconds=5),
        due_at=now + timedelta(seconds=60),
    )
    set_rows(
        runtime,
        m[1:2],
        status="sending",
        updated_at=now - timedelta(minutes=5),
        due_at=now - timedelta(seconds=1),
    )
    grant = await ledger.reserve(a, w, Caps(10), 1, now)
    assert (grant.granted, grant.denied) == (0, Denial.UNAVAILABLE)
    assert grant.retry_after is not None and grant.retry_after <= 1
    assert (await ledger.reserve(a, w, Caps(10), 1, now)).denied is Denial.UNAVAILABLE
    # Its send is written back; now the count is whole and includes it.
    set_rows(runtime, m[:1], status="sent", server_id=a, sent_at=now)
    assert (await ledger.reserve(a, w, Caps(10), 20, now)).granted == 9


async def test_counters_from_another_redis_process_are_not_trusted(
    runtime: Runtime, ledger: RedisLedger
) -> None:
    a = setup(runtime)["a"]
    now = now_mid_hour()
    w = windows_at(now)
    assert (await reserve(ledger, a, w, Caps(10), 3, now)).granted == 3
    set_rows(runtime, message_ids(runtime)[:5], status="sent", server_id=a, sent_at=now)
    # As if Redis came back from a snapshot taken by an earlier process, 2 units behind.
    ledger.client.set(Keys("reset").ready, "f" * 40)
    grant = await reserve(ledger, a, w, Caps(10), 10, now)
    assert grant.granted == 5
    assert (await ledger.usage({a: w}))[a] == Usage(10, 10)


async def test_while_redis_is_down_nothing_is_granted_and_the_outage_is_logged_once(
    runtime: Runtime, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    redis_server_binary()
    a = setup(runtime)["a"]
    now = now_mid_hour()
    w = windows_at(now)
    with private_redis(tmp_path) as server:
        led = RedisLedger.open(server.url, SqlRecount(runtime.db))
        try:
            assert (await reserve(led, a, w, Caps(10), 2, now)).granted == 2
            assert await led.advance_cursor(1, 2) == 0
            server.stop()
            with caplog.at_level(logging.WARNING, logger="sendpool.ledger"):
                for _ in range(3):
                    grant = await led.reserve(a, w, Caps(10), 2, now)
                    assert (grant.granted, grant.denied, grant.retry_after) == (
                        0,
                        Denial.UNAVAILABLE,
                        1.0,
                    )
                assert await led.usage({a: w}) == {a: Usage(0, 0)}
                await led.release({(a, w): 1})
                # Rotation goes on from a local cursor: even spread matters less than sending.
                assert [await led.advance_cursor(1, 3) for _ in range(2)] == [0, 3]
            unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(unreachable) == 1
            server.start()
            set_rows(runtime, message_ids(runtime)[:2], status="sent", server_id=a, sent_at=now)
            assert (await reserve(led, a, w, Caps(10), 10, now)).granted == 8
        finally:
            led.close()


async def test_a_redis_that_may_evict_counters_is_reported(
    runtime: Runtime, ledger: RedisLedger, caplog: pytest.LogCaptureFixture
) -> None:
    a = setup(runtime)["a"]
    now = now_mid_hour()
    ledger.client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with caplog.at_level(logging.WARNING, logger="sendpool.ledger"):
            assert (await reserve(ledger, a, windows_at(now), Caps(10), 1, now)).granted == 1
    finally:
        ledger.client.config_set("maxmemory-policy", "noeviction")
    assert "maxmemory-policy is allkeys-lru: set it to noeviction" in caplog.text


async def test_a_dead_workers_units_come_back_only_once_the_counters_are_whole(
    runtime: Runtime, ledger: RedisLedger, redis_server: PrivateRedis
) -> None:
    a = setup(runtime)["a"]
    now = now_mid_hour()
    w = windows_at(now)
    m = message_ids(runtime)[:5]
    assert (await reserve(ledger, a, w, Caps(10), 5, now)).granted == 5
    # Its worker reserved these five, wrote the marks, and died: the lease ran out.
    expired = now - timedelta(seconds=1)
    set_rows(runtime, m, status="sending", claimed_by="dead", due_at=expired, updated_at=expired)
    set_rows(runtime, m, reserved_server_id=a, reserved_at=expired)
    redis_server.restart()
    assert not await ledger.whole()

    # While the counters are not whole, giving the units back could burn them
    # (a rebuild may have read the marks already): the messages go back untouched.
    claimed = await runtime.queue.claim("next", 20, now, now + timedelta(seconds=30))
    now_, later = await not_yet(claimed, ledger)
    assert sorted(x.id for x in later) == m and all(x.id not in m for x in now_)
    assert await runtime.queue.release_claims("next", [x.id for x in claimed], now) == 20
    marks = runtime.db.transaction(
        lambda c: c.execute(select(Message.reserved_server_id).where(Message.id.in_(m))).all()
    )
    assert [r for (r,) in marks] == [a] * 5

    # The rebuild counts the five the dead worker holds; then they are taken over.
    assert (await reserve(ledger, a, w, Caps(10), 1, now)).granted == 1
    assert await ledger.usage({a: w}) == {a: Usage(6, 6)}
    assert await ledger.whole()
    claimed = await runtime.queue.claim("third", 20, now, now + timedelta(seconds=30))
    now_, later = await not_yet(claimed, ledger)
    assert later == [] and len(now_) == 20
    pool = await runtime.worker().pool.get(now)
    clear = runtime.queue.clear_reservations
    assert await take_back(now_, pool, ledger, lambda ids: clear("third", ids)) == (5, 0)
    assert await ledger.usage({a: w}) == {a: Usage(1, 1)}
