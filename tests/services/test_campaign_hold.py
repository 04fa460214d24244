"""Pausing a campaign holds its messages with a marker; resuming releases exactly those."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, update

from sendpool.core.states import CampaignStatus, HoldReason, MessageStatus
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.lifecycle import pause_campaign, resume_campaign
from sendpool.store.tables import Campaign, Message, table
from tests.support.scenario import make_campaign, pool_of_sinks, send_until_settled
from tests.support.sinks import StartSinks

M = table(Message)
FAR = timedelta(days=30)


def _messages(conn: Connection, campaign_id: int) -> list[tuple[int, str, str | None, str | None]]:
    return [
        (int(r.id), str(r.status), r.hold, r.last_error)
        for r in conn.execute(
            select(M.c.id, M.c.status, M.c.hold, M.c.last_error)
            .where(M.c.campaign_id == campaign_id)
            .order_by(M.c.id)
        )
    ]


def _due_at(conn: Connection, message_id: int) -> datetime:
    due: datetime = conn.execute(select(M.c.due_at).where(M.c.id == message_id)).scalar_one()
    return due


async def _hold_all(rt: Runtime, campaign_ids: list[int]) -> None:
    """Run a worker until it has claimed every message of these campaigns and held it back."""

    def held(conn: Connection) -> bool:
        rows = [m for c in campaign_ids for m in _messages(conn, c)]
        return all(hold == HoldReason.CAMPAIGN_PAUSED for _, _, hold, _ in rows)

    stop = asyncio.Event()
    task = asyncio.create_task(rt.worker().run(stop))
    try:
        async with asyncio.timeout(60):  # a guard against hanging, not a speed check
            while not await rt.db.run(held):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


async def test_pause_marks_held_messages_and_resume_releases_exactly_those(
    runtime: Runtime, sinks: StartSinks
) -> None:
    rt = runtime
    (sink,) = await sinks(1)
    pool_of_sinks(rt, [sink])
    a_id, a_uid = make_campaign(rt, 4)
    b_id, b_uid = make_campaign(rt, 2)
    customer_id = rt.db.transaction(lambda c: refs.customer_id(c, "acme"))
    now = datetime.now(UTC)
    for uid in (a_uid, b_uid):
        assert rt.db.transaction(pause_campaign, customer_id, uid, now).status == "paused"

    await _hold_all(rt, [a_id, b_id])
    assert sink.messages == []
    held_a = rt.db.transaction(_messages, a_id)
    assert {(status, hold, error) for _, status, hold, error in held_a} == {
        (MessageStatus.QUEUED, HoldReason.CAMPAIGN_PAUSED, "campaign paused")
    }

    # A message that only reads "campaign paused" but carries no marker is not held:
    # resuming must leave it waiting where it is.
    unmarked = held_a[0][0]
    rt.db.transaction(
        lambda c: c.execute(update(M).where(M.c.id == unmarked).values(hold=None, due_at=now + FAR))
    )

    resumed_at = datetime.now(UTC)
    report = rt.db.transaction(resume_campaign, customer_id, a_uid, resumed_at)
    assert report.status == "sending"
    after_a = rt.db.transaction(_messages, a_id)
    assert [hold for _, _, hold, _ in after_a] == [None] * 4
    assert rt.db.transaction(_due_at, unmarked) == now + FAR
    for message_id, *_ in after_a[1:]:
        assert rt.db.transaction(_due_at, message_id) == resumed_at
    # The other paused campaign's messages stay held.
    assert {hold for _, _, hold, _ in rt.db.transaction(_messages, b_id)} == {
        HoldReason.CAMPAIGN_PAUSED
    }

    sent_a = await send_until_settled(rt, a_uid)
    assert sent_a.by_status == {"sent": 3, "queued": 1}
    assert len(sink.messages) == 3


async def test_a_held_message_sent_loses_its_marker(runtime: Runtime, sinks: StartSinks) -> None:
    rt = runtime
    (sink,) = await sinks(1)
    pool_of_sinks(rt, [sink])
    campaign_id, uid = make_campaign(rt, 3)
    customer_id = rt.db.transaction(lambda c: refs.customer_id(c, "acme"))
    rt.db.transaction(pause_campaign, customer_id, uid, datetime.now(UTC))
    await _hold_all(rt, [campaign_id])

    # Sending again without a resume (as a worker whose view of the campaign is
    # fresher than the hold): the write-back of the send clears the marker.
    def send_again(conn: Connection) -> None:
        C = table(Campaign)
        conn.execute(update(C).where(C.c.id == campaign_id).values(status=CampaignStatus.SENDING))
        conn.execute(
            update(M).where(M.c.campaign_id == campaign_id).values(due_at=datetime.now(UTC))
        )

    rt.db.transaction(send_again)
    report = await send_until_settled(rt, uid)
    assert report.by_status == {"sent": 3}
    rows = rt.db.transaction(_messages, campaign_id)
    assert [(status, hold) for _, status, hold, _ in rows] == [(MessageStatus.SENT, None)] * 3
    assert len(sink.messages) == 3
