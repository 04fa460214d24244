"""With Redis, a unit is given back for its message and its reservation, exactly once.

Redis keeps the units and the database the messages, so no write covers both.
The worker writes a message's reservation marks first, then asks Redis for
its unit, and Redis notes which message each unit went to and when. A worker
that dies between the two leaves marks for a unit Redis never granted: the
take-over gives nothing back for it. One that gave a unit back and died
before its write-back leaves marks for a unit already returned: the take-over
does not return it twice. Both would otherwise move the counters away from
the truth, and a counter that is too low lets a server pass its cap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows, windows_at
from sendpool.pipeline.takeback import not_yet, take_back
from sendpool.runtime import Runtime
from sendpool.store.records import Held, ReservationMark
from sendpool.store.tables import Message, SendingServer
from tests.support.clock import away_from_an_hour_end
from tests.support.scenario import apply, make_campaign, smtp_server

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture(params=["postgresql+redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def warm(rt: Runtime, sid: int, now: datetime) -> None:
    """A fresh Redis is rebuilt from the database at its first reservation: have it now."""
    w = windows_at(now)
    for _ in range(20):
        if (await rt.ledger.reserve(sid, w, Caps(100), 1, now)).granted:
            await rt.ledger.release({(sid, w): 1})
            assert await rt.ledger.usage({sid: w}) == {sid: Usage(0, 0)}
            return
    raise AssertionError("the ledger was not rebuilt")


def setup(rt: Runtime) -> tuple[int, list[int]]:
    apply(
        rt,
        {
            "servers": [smtp_server("a", 1)],
            "plans": [{"name": "P", "servers": ["a"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(rt, 10)
    sid = rt.db.transaction(lambda c: c.execute(select(SendingServer.id)).scalar_one())
    ids = rt.db.transaction(lambda c: list(c.execute(select(Message.id)).scalars()))
    return int(sid), sorted(ids)


def mid_hour() -> datetime:
    """A moment after the messages were queued, and not in the last seconds of an hour."""
    return away_from_an_hour_end(30) + timedelta(seconds=1)


async def claimed_by_a_dead_worker(rt: Runtime, ids: list[int], now: datetime) -> None:
    """The messages were claimed by a worker that died; its lease ran out at ``now``."""
    claimed = await rt.queue.claim("dead", 100, now, now)
    assert sorted(m.id for m in claimed) == ids


async def started(rt: Runtime) -> tuple[int, list[int], datetime, ServerWindows]:
    """A pool, ten queued messages, a moment to act at, and a ledger already rebuilt."""
    sid, ids = setup(rt)
    now = mid_hour()
    await warm(rt, sid, now)
    return sid, ids, now, windows_at(now)


async def reserved_by_a_dead_worker(
    rt: Runtime, sid: int, ids: list[int], now: datetime, *, granted: bool = True
) -> None:
    """A worker claimed the messages, wrote their marks, (got their units,) and died."""
    await claimed_by_a_dead_worker(rt, ids, now)
    await rt.queue.mark_reserved("dead", [(i, sid) for i in ids], now)
    if granted:
        mark = ReservationMark("dead", tuple(ids))
        grant = await rt.ledger.reserve(sid, windows_at(now), Caps(100), len(ids), now, mark)
        assert grant.granted == len(ids)


async def take_over(rt: Runtime, now: datetime) -> tuple[int, int]:
    claimed = await rt.queue.claim("next", 100, now, now + timedelta(seconds=30))
    ready, later = await not_yet(claimed, rt.ledger)
    assert later == []
    pool = await rt.worker().pool.get(now)
    return await take_back(
        ready, pool, rt.ledger, lambda got: rt.queue.clear_reservations("next", got)
    )


async def test_a_unit_granted_for_marked_messages_comes_back(runtime: Runtime) -> None:
    sid, ids, now, w = await started(runtime)
    await reserved_by_a_dead_worker(runtime, sid, ids, now)
    assert await take_over(runtime, now + timedelta(seconds=1)) == (10, 0)
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(0, 0)}


async def test_marks_written_for_a_unit_never_granted_give_nothing_back(
    runtime: Runtime,
) -> None:
    sid, ids, now, w = await started(runtime)
    # Other work holds 4 units of the server's window.
    assert (await runtime.ledger.reserve(sid, w, Caps(100), 4, now)).granted == 4
    # The worker wrote its marks and died before it asked Redis for the units.
    await reserved_by_a_dead_worker(runtime, sid, ids, now, granted=False)
    await take_over(runtime, now + timedelta(seconds=1))
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(4, 4)}, "never below the truth"


async def test_a_unit_given_back_before_a_crash_is_not_given_back_again(
    runtime: Runtime,
) -> None:
    sid, ids, now, w = await started(runtime)
    await reserved_by_a_dead_worker(runtime, sid, ids, now)
    # Five never reached their server: the worker gave their units back, then died
    # before its write-back could clear their marks.
    first = [Held(i, sid, w, now) for i in ids[:5]]
    await runtime.ledger.release({(sid, w): 5}, first)
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(5, 5)}
    assert await take_over(runtime, now + timedelta(seconds=1)) == (10, 0)
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(0, 0)}, "each unit back once"


async def test_only_the_reservation_that_took_a_unit_gives_it_back(runtime: Runtime) -> None:
    sid, ids, now, w = await started(runtime)
    mark = ReservationMark("w1", tuple(ids[:1]))
    assert (await runtime.ledger.reserve(sid, w, Caps(100), 1, now, mark)).granted == 1
    # Sent and settled, but the worker died before Redis heard: the note stays behind.
    # A later attempt's marks (another time) cannot give that spent unit back.
    later = now + timedelta(seconds=5)
    await runtime.ledger.release({(sid, w): 1}, [Held(ids[0], sid, w, later)])
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(1, 1)}
    await runtime.ledger.forget(ids[:1])
    await runtime.ledger.release({(sid, w): 1}, [Held(ids[0], sid, w, now)])
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(1, 1)}, "settled: spent"


async def test_a_rebuilt_ledger_holds_what_the_marks_show(
    runtime: Runtime, redis_server: object
) -> None:
    sid, ids, now, w = await started(runtime)
    await reserved_by_a_dead_worker(runtime, sid, ids, now)
    # Redis restarts: its counters and notes are gone, and are rebuilt from the marks.
    redis_server.restart()  # type: ignore[attr-defined]
    runtime.db.transaction(
        lambda c: c.execute(update(Message).values(due_at=now - timedelta(seconds=1)))
    )
    for _ in range(20):
        grant = await runtime.ledger.reserve(sid, w, Caps(100), 1, now)
        if grant.granted:
            break
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(11, 11)}
    assert await take_over(runtime, now + timedelta(seconds=1)) == (10, 0)
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(1, 1)}


async def test_marks_a_claim_wrote_after_the_reset_are_not_counted(
    runtime: Runtime, redis_server: object
) -> None:
    sid, ids, now, w = await started(runtime)
    redis_server.restart()  # type: ignore[attr-defined]
    # After the reset a worker claims, writes its marks, and is told to wait: Redis
    # grants nothing until it is rebuilt, so those marks name no granted unit.
    after = now + timedelta(seconds=5)
    claimed = await runtime.queue.claim("live", 100, after, after + timedelta(seconds=30))
    await runtime.queue.mark_reserved("live", [(m.id, sid) for m in claimed], after)
    grant = await runtime.ledger.reserve(sid, w, Caps(100), 1, after)
    for _ in range(20):
        if grant.granted:
            break
        grant = await runtime.ledger.reserve(sid, w, Caps(100), 1, after)
    assert await runtime.ledger.usage({sid: w}) == {sid: Usage(1, 1)}
