"""The messages table as a queue: claims, leases, write-backs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from sendpool.runtime import Runtime
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.store.catalog import load_suppressed
from sendpool.store.queue import SqlQueue
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.tables import Customer, Message, Suppression
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


async def test_a_claimed_row_comes_back_typed_as_it_was_written(runtime: Runtime) -> None:
    """The claim reads the driver's rows itself: times aware UTC, JSON parsed, fields a dict."""
    setup(runtime, 1)
    now = datetime.now(UTC)
    acme = runtime.db.transaction(lambda c: c.execute(select(Customer.id)).scalar_one())
    runtime.db.transaction(
        lambda c: enqueue_transactional(
            c,
            customer_id=acme,
            to="Ünïcode.Reader@example.com",
            subject="Receipt",
            from_email="shop@example.com",
            text="Thanks, {{ name }}",
            fields={"name": "Zoë", "items": [1, 2]},
            now=now,
        )
    )
    q = SqlQueue(runtime.db)
    got = {m.kind: m for m in await q.claim("w1", 10, now, now + timedelta(seconds=60))}
    campaign, mail = got["campaign"], got["transactional"]
    for m in (campaign, mail):
        assert m.queued_at.tzinfo is UTC and abs(m.queued_at - now) < timedelta(seconds=5)
        assert m.reserved_at is None and m.handed_at is None and not m.waited
    assert campaign.payload is None
    assert campaign.fields["first_name"].startswith("User")
    assert mail.subscriber_id is None and mail.fields == {}
    assert mail.recipient == "Ünïcode.Reader@example.com"
    assert mail.payload is not None and mail.payload["fields"] == {"name": "Zoë", "items": [1, 2]}
    # A mark written by the driver's own SQL reads back as the same instant.
    await q.mark_handed("w1", [mail.id], now)
    await q.release_claims("w1", [campaign.id], now, now + timedelta(hours=1))
    (again,) = await q.claim("w2", 10, now + timedelta(seconds=61), now + timedelta(seconds=90))
    assert again.id == mail.id and again.handed_at == now


async def test_suppressions_are_found_by_either_spelling_in_one_batch(runtime: Runtime) -> None:
    setup(runtime, 1)
    acme = runtime.db.transaction(lambda c: c.execute(select(Customer.id)).scalar_one())
    rows = [
        {"customer_id": acme, "email": "gone@example.com", "reason": "hard bounce"},
        {"customer_id": acme, "email": "Mixed@Example.com", "reason": "complaint"},
    ]
    runtime.db.transaction(lambda c: c.execute(insert(Suppression), rows))
    asked = [(acme, "GONE@example.com"), (acme, "Mixed@Example.com"), (acme, "ok@example.com")]
    asked += [(acme + 1, "gone@example.com")]  # another customer's list is not this one's
    found = runtime.db.transaction(load_suppressed, asked)
    assert found == {
        (acme, "gone@example.com"): "hard bounce",
        (acme, "mixed@example.com"): "complaint",
    }
