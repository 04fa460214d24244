"""The messages table as a queue: claims, leases, write-backs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.store.queue import SqlQueue
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.tables import Message
from tests.support.scenario import apply, make_campaign, smtp_server


def setup(rt: Runtime, n: int) -> None:
    apply(
        rt,
        {
            "servers": [smtp_server("s", 1)],
            "plans": [{"name": "P", "servers": ["s"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    make_campaign(rt, n)


def statuses(rt: Runtime) -> list[str]:
    return list(
        rt.db.transaction(
            lambda c: c.execute(select(Message.status).order_by(Message.id)).scalars().all()
        )
    )


async def test_claims_do_not_overlap_and_carry_fields(runtime: Runtime) -> None:
    setup(runtime, 10)
    q = SqlQueue(runtime.db)
    now = datetime.now(UTC)
    a = await q.claim("w1", 4, now, now + timedelta(seconds=60))
    b = await q.claim("w2", 100, now, now + timedelta(seconds=60))
    assert len(a) == 4 and len(b) == 6
    assert not {m.id for m in a} & {m.id for m in b}
    assert a[0].fields["first_name"].startswith("User")
    assert await q.claim("w3", 100, now, now + timedelta(seconds=60)) == []


async def test_an_expired_lease_is_claimed_again(runtime: Runtime) -> None:
    setup(runtime, 3)
    q = SqlQueue(runtime.db)
    now = datetime.now(UTC)
    first = await q.claim("dead", 10, now, now + timedelta(seconds=30))
    assert len(first) == 3
    assert await q.claim("w2", 10, now + timedelta(seconds=29), now + timedelta(seconds=90)) == []
    again = await q.claim("w2", 10, now + timedelta(seconds=31), now + timedelta(seconds=90))
    assert sorted(m.id for m in again) == sorted(m.id for m in first)


async def test_write_back_applies_only_to_the_current_claim(runtime: Runtime) -> None:
    setup(runtime, 2)
    q = SqlQueue(runtime.db)
    now = datetime.now(UTC)
    m1, m2 = await q.claim("old", 10, now, now + timedelta(seconds=1))
    later = now + timedelta(seconds=5)
    await q.claim("new", 10, later, later + timedelta(seconds=60))
    stale = RecordBatch(updates=[MessageUpdate(m1.id, "sent", later, 1, sent_at=later)])
    await q.record("old", stale, later)
    assert statuses(runtime) == ["sending", "sending"]
    fresh = RecordBatch(updates=[MessageUpdate(m1.id, "sent", later, 1, sent_at=later)])
    await q.record("new", fresh, later)
    assert statuses(runtime) == ["sent", "sending"]
    assert await q.release_claims("new", [m2.id], later) == 1
    assert statuses(runtime) == ["sent", "queued"]
    assert await q.release_claims("new", [], later) == 0
