"""``done`` is stored in the write-back that settles a campaign's last message, and only then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from sendpool.runtime import Runtime
from sendpool.store.queue import SqlQueue
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.tables import Campaign
from tests.support.scenario import apply, make_campaign, smtp_server


def setup(rt: Runtime, n: int) -> int:
    apply(
        rt,
        {
            "servers": [smtp_server("s", 100)],
            "plans": [{"name": "P", "servers": ["s"]}],
            "customers": [{"name": "acme", "plan": "P", "sending_domains": ["example.com"]}],
        },
    )
    campaign_id, _uid = make_campaign(rt, n)
    return campaign_id


def status(rt: Runtime, campaign_id: int) -> str:
    return str(
        rt.db.transaction(
            lambda c: c.execute(select(Campaign.status).where(Campaign.id == campaign_id)).scalar()
        )
    )


async def settle(q: SqlQueue, ids: list[int], status: str, now: datetime) -> None:
    batch = RecordBatch(updates=[MessageUpdate(i, status, now, 1) for i in ids])
    await q.record("w", batch, now)


async def test_the_last_settled_message_makes_the_campaign_done(runtime: Runtime) -> None:
    campaign_id = setup(runtime, 3)
    q = SqlQueue(runtime.db)
    now = datetime.now(UTC)
    claimed = await q.claim("w", 10, now, now + timedelta(seconds=60))
    ids = [m.id for m in claimed]
    await settle(q, ids[:1], "sent", now)
    await settle(q, ids[1:2], "failed", now)
    assert status(runtime, campaign_id) == "sending"
    await settle(q, ids[2:], "deferred", now)  # deferred is still pending
    assert status(runtime, campaign_id) == "sending"
    again = await q.claim("w", 10, now + timedelta(days=1), now + timedelta(days=1, seconds=60))
    await settle(q, [m.id for m in again], "sent", now)
    assert status(runtime, campaign_id) == "done"


async def test_a_paused_campaign_stays_paused_when_its_messages_settle(runtime: Runtime) -> None:
    campaign_id = setup(runtime, 1)
    q = SqlQueue(runtime.db)
    now = datetime.now(UTC)
    (m,) = await q.claim("w", 10, now, now + timedelta(seconds=60))
    runtime.db.transaction(
        lambda c: c.execute(
            Campaign.__table__.update()
            .where(Campaign.__table__.c.id == campaign_id)
            .values(status="paused")
        )
    )
    await settle(q, [m.id], "sent", now)
    assert status(runtime, campaign_id) == "paused"
