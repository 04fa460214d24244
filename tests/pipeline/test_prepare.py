"""The Preparer: what each claimed message becomes (a job with a plan and a send class, or a verdict)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import update

from sendpool.core.servers import SendClass
from sendpool.core.states import HoldReason, MessageStatus
from sendpool.pipeline.pool import PoolCache, PoolState
from sendpool.pipeline.prepare import HOLD_RECHECK, Prepared, Preparer
from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.lifecycle import pause_campaign
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.store.records import ClaimedMessage
from sendpool.store.tables import Campaign, Message, table
from tests.support.scenario import apply, make_campaign, smtp_server

# Campaigns are made due at the real time; everything here happens just after it.
NOW = datetime.now(UTC) + timedelta(minutes=1)
LEASE = timedelta(minutes=5)


@pytest.fixture
def pool(runtime: Runtime) -> dict[str, int]:
    """Two plans (EU's burst threshold is its own), a plain customer and one in the EU region."""
    apply(
        runtime,
        {
            "servers": [smtp_server("relay-a", 9), smtp_server("relay-eu", 9)],
            "plans": [
                {"name": "Marketing", "servers": ["relay-a"]},
                {"name": "EU", "servers": ["relay-eu"], "burst_threshold": 2},
            ],
            "customers": [
                {"name": "acme", "plan": "Marketing", "sending_domains": ["example.com"]},
                {
                    "name": "euro",
                    "plan": "Marketing",
                    "region": "eu",
                    "sending_domains": ["example.eu"],
                },
            ],
            "region_rules": [{"region": "eu", "plan": "EU"}],
        },
    )

    def ids(conn: Any) -> dict[str, int]:
        return {
            "Marketing": refs.plan_id(conn, "Marketing"),
            "EU": refs.plan_id(conn, "EU"),
            "acme": refs.customer_id(conn, "acme"),
            "euro": refs.customer_id(conn, "euro"),
        }

    return runtime.db.transaction(ids)


async def claim(runtime: Runtime) -> list[ClaimedMessage]:
    return await runtime.queue.claim("w1", 100, NOW + timedelta(hours=1), NOW + LEASE)


async def prepare(
    runtime: Runtime, preparer: Preparer | None = None, claimed: list[ClaimedMessage] | None = None
) -> Prepared:
    preparer = preparer or Preparer(runtime.catalog, public_url="http://x", burst_threshold=5)
    state: PoolState = await PoolCache(runtime.catalog).get(NOW)
    return await preparer.prepare(
        claimed if claimed is not None else await claim(runtime), NOW, state
    )


def set_campaign(runtime: Runtime, campaign_id: int, **values: Any) -> None:
    runtime.db.transaction(
        lambda c: c.execute(
            update(table(Campaign)).where(Campaign.id == campaign_id).values(**values)
        )
    )


async def test_a_small_campaign_is_rendered_under_the_customers_plan_as_low_volume(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    make_campaign(runtime, 3)
    out = await prepare(runtime)
    assert out.settled == []
    assert len(out.jobs) == 3
    assert {j.plan_id for j in out.jobs} == {pool["Marketing"]}
    assert {j.send_class for j in out.jobs} == {SendClass.LOW_VOLUME}
    job = min(out.jobs, key=lambda j: j.row.recipient)
    assert job.message.recipient == "user0@example.com"
    assert job.message.subject == "Hello User0"
    assert job.message.uid == job.row.uid
    assert job.message.date == format_datetime(NOW)
    assert job.server is None and job.windows is None  # the dispatcher picks those


async def test_a_campaign_at_the_threshold_is_a_burst(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    make_campaign(runtime, 5)
    out = await prepare(runtime)
    assert {j.send_class for j in out.jobs} == {SendClass.BURST}


async def test_the_plans_own_burst_threshold_beats_the_default(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    make_campaign(runtime, 2, plan="EU")
    out = await prepare(runtime)
    assert {(j.plan_id, j.send_class) for j in out.jobs} == {(pool["EU"], SendClass.BURST)}


async def test_a_region_rule_beats_the_customers_plan(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    make_campaign(runtime, 1, customer="euro", sender="news@example.eu")
    (job,) = (await prepare(runtime)).jobs
    assert job.plan_id == pool["EU"]


async def test_the_campaigns_own_plan_beats_the_region_rule(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    make_campaign(runtime, 1, customer="euro", plan="Marketing", sender="news@example.eu")
    (job,) = (await prepare(runtime)).jobs
    assert job.plan_id == pool["Marketing"]


async def test_a_campaign_that_cannot_be_rendered_fails_its_messages_with_the_reason(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    campaign_id, _ = make_campaign(runtime, 2)
    set_campaign(runtime, campaign_id, subject="Hi {{ broken")
    out = await prepare(runtime)
    assert out.jobs == []
    assert [u.status for u in out.settled] == [MessageStatus.FAILED] * 2
    assert all(u.due_at == NOW and u.attempts == 0 for u in out.settled)
    assert all("not a valid template" in (u.last_error or "") for u in out.settled)


async def test_a_message_whose_campaign_is_gone_fails(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    make_campaign(runtime, 1)
    (row,) = await claim(runtime)
    row.campaign_id = 999_999
    out = await prepare(runtime, claimed=[row])
    (update_,) = out.settled
    assert (update_.status, update_.last_error) == (
        MessageStatus.FAILED,
        "the message's campaign no longer exists",
    )


async def test_a_paused_campaigns_messages_are_held_and_looked_at_again_soon(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    _, uid = make_campaign(runtime, 2)
    runtime.db.transaction(pause_campaign, pool["acme"], uid, NOW)
    out = await prepare(runtime)
    assert out.jobs == []
    for held in out.settled:
        assert held.status == MessageStatus.QUEUED
        assert held.due_at == NOW + HOLD_RECHECK
        assert held.hold == HoldReason.CAMPAIGN_PAUSED
        assert held.last_error == "campaign paused"
        assert held.attempts == 0
    assert len(out.settled) == 2


def queue_transactional(runtime: Runtime, customer_id: int, **extra: Any) -> str:
    return runtime.db.transaction(
        lambda c: enqueue_transactional(
            c,
            customer_id=customer_id,
            to="Ada@Example.com",
            subject="Your code {{ code }}",
            from_email="shop@example.com",
            text="Code: {{ code }}",
            fields={"code": "4711"},
            now=NOW,
            **extra,
        )
    )


async def test_a_transactional_message_is_rendered_from_its_payload_as_low_volume(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    uid = queue_transactional(runtime, pool["acme"])
    (job,) = (await prepare(runtime)).jobs
    assert job.row.uid == uid and job.row.campaign_id is None
    assert job.send_class is SendClass.LOW_VOLUME
    assert job.plan_id == pool["Marketing"]
    assert (job.message.recipient, job.message.subject) == ("Ada@example.com", "Your code 4711")
    assert job.message.text is not None and "Code: 4711" in job.message.text


async def test_a_transactional_payloads_plan_beats_the_customers(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    queue_transactional(runtime, pool["acme"], plan_id=pool["EU"])
    (job,) = (await prepare(runtime)).jobs
    assert (job.plan_id, job.send_class) == (pool["EU"], SendClass.LOW_VOLUME)


async def test_a_transactional_payload_that_cannot_be_rendered_fails(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    queue_transactional(runtime, pool["acme"])
    runtime.db.transaction(
        lambda c: c.execute(
            update(table(Message)).values(payload={"subject": "{{ broken", "from_email": "a@b.c"})
        )
    )
    out = await prepare(runtime)
    assert out.jobs == []
    assert [u.status for u in out.settled] == [MessageStatus.FAILED]


async def test_campaigns_are_reloaded_only_once_their_ttl_has_passed(
    runtime: Runtime, pool: dict[str, int]
) -> None:
    campaign_id, _ = make_campaign(runtime, 1)
    (row,) = await claim(runtime)
    keeps = Preparer(runtime.catalog, public_url="http://x", burst_threshold=5, ttl=60)
    reloads = Preparer(runtime.catalog, public_url="http://x", burst_threshold=5, ttl=0.01)
    for preparer in (keeps, reloads):
        assert (await prepare(runtime, preparer, [row])).jobs[0].message.subject == "Hello User0"
    set_campaign(runtime, campaign_id, subject="Changed {{ first_name }}")
    time.sleep(0.02)
    assert (await prepare(runtime, keeps, [row])).jobs[0].message.subject == "Hello User0"
    assert (await prepare(runtime, reloads, [row])).jobs[0].message.subject == "Changed User0"
