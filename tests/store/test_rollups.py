"""The rollups equal a GROUP BY over the messages after every kind of write, on SQLite.

The scenario runs the real write paths (launch, transactional enqueue, claim,
write-back with sends, deferrals, failures, a retry on another server,
pause/resume, deletions); tests/scale/test_rollups_postgres.py runs it again
on PostgreSQL.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.drafts import CampaignDraft, create_campaign
from sendpool.services.campaigns.launch import launch
from sendpool.services.campaigns.lifecycle import pause_campaign, resume_campaign
from sendpool.services.lists.imports import get_or_create_list, import_csv
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.tenancy.customers import delete_customer
from sendpool.store import rollups
from sendpool.store.queue import claim_sync, record_sync
from sendpool.store.records import MessageUpdate, RecordBatch
from sendpool.store.tables import (
    Campaign,
    CampaignCount,
    Message,
    QueuedByMinute,
    QueuedDelta,
    SendsByDay,
    SendsByMinute,
    ServerCount,
    TransactionalCount,
    TransactionalCountDelta,
    table,
)
from tests.support.world import seed_world

Counts = dict[tuple[Any, ...], int]


def truth(conn: Connection) -> dict[str, Counts]:
    """What the rollups should say, counted from the messages themselves."""
    M = Message
    server = func.coalesce(M.server_id, 0)
    sender = func.coalesce(Campaign.from_email, M.payload["from_email"].as_string())
    domain = rollups.sender_domain(conn, sender)
    sent = M.status == "sent"
    by_server = select(server, M.status, func.count()).group_by(server, M.status)
    by_campaign = (
        select(M.campaign_id, server, M.status, func.count())
        .where(M.campaign_id.is_not(None))
        .group_by(M.campaign_id, server, M.status)
    )
    sends = (
        select(server, M.sent_at, domain, M.customer_id, func.coalesce(M.campaign_id, 0))
        .outerjoin(Campaign, Campaign.id == M.campaign_id)
        .where(sent, M.sent_at.is_not(None))
    )
    minutes: Counts = {}
    days: Counts = {}
    for s, at, d, cu, ca in conn.execute(sends):
        m = (int(s), at.replace(second=0, microsecond=0), str(d))
        minutes[m] = minutes.get(m, 0) + 1
        day = (int(s), at.date().isoformat(), str(d), int(cu), int(ca))
        days[day] = days.get(day, 0) + 1
    queued_minute: Counts = {}
    for cu, ca, at in conn.execute(
        select(M.customer_id, func.coalesce(M.campaign_id, 0), M.queued_at)
    ):
        q = (int(cu), int(ca), at.replace(second=0, microsecond=0))
        queued_minute[q] = queued_minute.get(q, 0) + 1
    by_customer = (
        select(M.customer_id, M.status, func.count())
        .where(M.campaign_id.is_(None))
        .group_by(M.customer_id, M.status)
    )
    return {
        "transactional": {(int(c), str(st)): int(n) for c, st, n in conn.execute(by_customer)},
        "queued": queued_minute,
        "server": {(int(s), str(st)): int(n) for s, st, n in conn.execute(by_server)},
        "campaign": {
            (int(c), int(s), str(st)): int(n) for c, s, st, n in conn.execute(by_campaign)
        },
        "minute": minutes,
        "day": days,
    }


def kept(conn: Connection) -> dict[str, Counts]:
    """What the rollups say: the totals plus any deltas not folded yet, zeros left out."""
    minutes: Counts = {}
    for (s, d), n in rollups.sent_counts(conn, datetime(2000, 1, 1, tzinfo=UTC), far()).items():
        minutes[(s, d)] = n
    M, D = table(SendsByMinute), table(SendsByDay)
    queued = rollups.summed(
        table(QueuedByMinute), table(QueuedDelta), ("customer_id", "campaign_id", "minute"), "n"
    )
    transactional = rollups.summed(
        table(TransactionalCount), table(TransactionalCountDelta), ("customer_id", "status"), "n"
    )
    return {
        "transactional": {
            (int(c), str(st)): int(n) for c, st, n in conn.execute(transactional) if n
        },
        "queued": {(int(cu), int(ca), m): int(n) for cu, ca, m, n in conn.execute(queued) if n},
        "server": dict(rollups.server_counts(conn)),
        "campaign": dict(rollups.campaign_counts(conn, all_campaigns(conn))),
        "minute": {
            (int(s), m, str(d)): int(n)
            for s, m, d, n in conn.execute(
                select(M.c.server_id, M.c.minute, M.c.sender_domain, M.c.sent)
            )
            if n
        },
        "day": {
            (int(s), day, str(d), int(cu), int(ca)): int(n)
            for s, day, d, cu, ca, n in conn.execute(
                select(
                    D.c.server_id,
                    D.c.day,
                    D.c.sender_domain,
                    D.c.customer_id,
                    D.c.campaign_id,
                    D.c.sent,
                )
            )
            if n
        },
        "by_day": {
            (s, day.isoformat(), cu, ca): n
            for s, day, cu, ca, n in rollups.sends_by_day_since(conn, date(2000, 1, 1))
        },
        "sent_per_domain": minutes,
    }


def far() -> datetime:
    return datetime.now(UTC) + timedelta(days=3)


def all_campaigns(conn: Connection) -> list[int]:
    return list(conn.execute(select(Campaign.id)).scalars())


def sent_per_domain(t: dict[str, Counts]) -> Counts:
    out: Counts = {}
    for (s, _m, d), n in t["minute"].items():
        if s:
            out[(s, d)] = out.get((s, d), 0) + n
    return out


def assert_rollups_match(conn: Connection, *, totals_only: bool = False) -> None:
    """Rollups (read with deltas) equal the messages; ``totals_only``: without the deltas too."""
    M = Message
    want, got = truth(conn), kept(conn)
    want_nonzero = {k: {key: n for key, n in v.items() if n} for k, v in want.items()}
    assert got["queued"] == want_nonzero["queued"]
    assert got["transactional"] == want_nonzero["transactional"]
    for customer in {c for c, _st in want_nonzero["transactional"]}:
        pending = sum(
            n
            for (c, st), n in want_nonzero["transactional"].items()
            if c == customer and st in rollups.PENDING
        )
        assert rollups.transactional_pending(conn, [customer]) == pending
    assert got["server"] == want_nonzero["server"]
    assert got["campaign"] == want_nonzero["campaign"]
    assert got["sent_per_domain"] == sent_per_domain(want_nonzero)
    by_day: Counts = {}
    for (s, day, _d, cu, ca), n in want_nonzero["day"].items():
        by_day[(s, day, cu, ca)] = by_day.get((s, day, cu, ca), 0) + n
    assert got["by_day"] == by_day
    now = datetime.now(UTC)
    pending = M.status.in_(rollups.PENDING)
    due = conn.execute(select(func.count()).where(pending, M.due_at <= now)).scalar_one()
    waiting = conn.execute(select(func.count()).where(pending, M.due_at > now)).scalar_one()
    assert rollups.queue_depth(conn, now) == (due, waiting)
    campaigns = conn.execute(select(func.count(func.distinct(M.campaign_id))).where(pending))
    assert rollups.campaigns_pending(conn) == campaigns.scalar_one()
    if totals_only:
        # The tables alone (no deltas): what a fold leaves.
        assert got["minute"] == want_nonzero["minute"]
        assert got["day"] == want_nonzero["day"]
        S = table(ServerCount)
        plain = {(int(s), str(st)): int(n) for s, st, n in conn.execute(select(S)) if n}
        assert plain == want_nonzero["server"]
        X = table(TransactionalCount)
        alone = {(int(c), str(st)): int(n) for c, st, n in conn.execute(select(X)) if n}
        assert alone == want_nonzero["transactional"]


def _big_campaign(conn: Connection, who: str, size: int, now: datetime) -> int:
    cid = refs.customer_id(conn, f"tenant-{who}")
    list_id = get_or_create_list(conn, cid, f"{who}-big", now)
    csv = "email\n" + "".join(f"big{i}@Rcpt{i % 3}.example\n" for i in range(size))
    import_csv(conn, list_id, io.StringIO(csv), now)
    draft = CampaignDraft(f"{who}-big", "Big", f"Big@{who.upper()}-Tenant.example", text_body="x")
    campaign_id, _uid = create_campaign(
        conn, customer_id=cid, list_id=list_id, draft=draft, plan_id=None, now=now
    )
    return campaign_id


def write_back(rt: Runtime, worker: str, now: datetime, outcomes: list[tuple[str, int]]) -> int:
    """Claim what is due and write each claimed message back as the next outcome given.

    ``outcomes`` is a list of (status, server id) used in turn; returns how many were claimed.
    """
    claimed = rt.db.transaction(claim_sync, worker, 50, now, now + timedelta(minutes=5))
    updates = []
    for i, m in enumerate(claimed):
        status, server_id = outcomes[i % len(outcomes)]
        updates.append(
            MessageUpdate(
                id=m.id,
                status=status,
                due_at=now + timedelta(minutes=10) if status == "deferred" else now,
                attempts=1,
                server_id=server_id,
                sent_at=now if status == "sent" else None,
                last_error=None if status == "sent" else "451 try later",
            )
        )
    rt.db.transaction(record_sync, worker, RecordBatch(updates=updates), now)
    return len(claimed)


def run_scenario(rt: Runtime, check: Any) -> dict[str, str]:
    """Every write path in turn; ``check(conn)`` runs after each step."""
    ids, _tokens, _markers = seed_world(rt)
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    smtp = rt.db.transaction(refs.server_id, ids["server_smtp"])
    ses = rt.db.transaction(refs.server_id, ids["server_ses"])
    rt.db.transaction(check)
    big = rt.db.transaction(_big_campaign, "a", 150, now)
    launch(rt.db.engine, big, now, batch_size=60)  # three INSERT ... SELECT batches
    rt.db.transaction(check)
    enqueue = dict(subject="Hi", from_email="Shop@B-Tenant.Example", text="x", now=now)
    for i in range(3):
        cid = rt.db.transaction(refs.customer_id, "tenant-b")
        rt.db.transaction(enqueue_transactional, customer_id=cid, to=f"t{i}@x.example", **enqueue)
    outcomes = [("sent", smtp), ("deferred", smtp), ("sent", ses), ("failed", smtp)]
    write_back(rt, "w1", now, outcomes)
    rt.db.transaction(check)
    # The deferred ones come due and go out through the other server.
    later = now + timedelta(minutes=11, seconds=17)
    write_back(rt, "w2", later, [("sent", ses)])
    rt.db.transaction(check)
    uid = rt.db.transaction(
        lambda c: c.execute(select(Campaign.uid).where(Campaign.id == big)).scalar_one()
    )
    customer = rt.db.transaction(refs.customer_id, "tenant-a")
    rt.db.transaction(pause_campaign, customer, uid, later)
    rt.db.transaction(resume_campaign, customer, uid, later)
    write_back(rt, "w3", later, [("sent", smtp), ("sent", ses)])
    rt.db.transaction(check)
    return {"smtp": str(smtp), "ses": str(ses), "big": str(big)}


def test_rollups_equal_the_messages_after_every_write_path(runtime: Runtime) -> None:
    run_scenario(runtime, assert_rollups_match)
    runtime.db.transaction(assert_rollups_match, totals_only=True)


def test_deleting_settled_messages_keeps_their_history(runtime: Runtime) -> None:
    run_scenario(runtime, lambda conn: None)
    before = runtime.db.transaction(kept)
    M = table(Message)
    gone = runtime.db.transaction(
        lambda c: c.execute(delete(M).where(M.c.status.in_(("sent", "failed")))).rowcount
    )
    assert gone > 0
    assert runtime.db.transaction(kept) == before


def test_deleting_a_customer_forgets_its_pending_mail_and_campaign_rows(runtime: Runtime) -> None:
    run_scenario(runtime, lambda conn: None)
    before = runtime.db.transaction(truth)
    b = runtime.db.transaction(refs.customer_id, "tenant-b")
    b_campaigns = runtime.db.transaction(
        lambda c: list(c.execute(select(Campaign.id).where(Campaign.customer_id == b)).scalars())
    )
    server = func.coalesce(Message.server_id, 0)
    pending_of_b = runtime.db.transaction(
        lambda c: {
            (int(s), str(st)): int(n)
            for s, st, n in c.execute(
                select(server, Message.status, func.count())
                .where(Message.customer_id == b, Message.status.in_(rollups.PENDING))
                .group_by(server, Message.status)
            )
        }
    )
    assert b_campaigns and pending_of_b
    runtime.db.transaction(delete_customer, "tenant-b", actor="test", now=datetime.now(UTC))
    after = runtime.db.transaction(kept)
    C = table(CampaignCount)
    left = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).where(C.c.campaign_id.in_(b_campaigns))).scalar()
    )
    assert left == 0
    expected = dict(before["server"])
    for key, n in pending_of_b.items():
        expected[key] -= n
    assert after["server"] == {k: n for k, n in expected.items() if n}
    assert after["day"] == {k: n for k, n in before["day"].items() if n}  # sends keep history


def test_upkeep_prunes_old_minutes_and_zeros_and_keeps_the_days(runtime: Runtime) -> None:
    run_scenario(runtime, lambda conn: None)
    before = runtime.db.transaction(kept)
    C = table(CampaignCount)
    zeros = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).where(C.c.n == 0)).scalar_one()
    )
    assert zeros > 0  # queued and sending rows of the campaigns, all sent since
    runtime.db.transaction(rollups.upkeep, datetime.now(UTC))
    assert runtime.db.transaction(kept) == before
    assert (
        runtime.db.transaction(
            lambda c: c.execute(select(func.count()).where(C.c.n == 0)).scalar_one()
        )
        == 0
    )
    runtime.db.transaction(assert_rollups_match)
    runtime.db.transaction(
        rollups.upkeep, datetime.now(UTC) + rollups.MINUTES_KEPT + timedelta(hours=1)
    )
    after = runtime.db.transaction(kept)
    assert after["minute"] == {} and after["sent_per_domain"] == {} and after["queued"] == {}
    assert after["day"] == before["day"] and after["server"] == before["server"]


def delete_transactional(rt: Runtime) -> tuple[int, int]:
    """Send some of a customer's transactional mail, then delete one sent and one queued
    message, as retention and a purge would: how many more (pending, sent) the counts say."""
    seed_world(rt)
    now = datetime.now(UTC)
    M = Message
    cid = rt.db.transaction(refs.customer_id, "tenant-a")

    def sent(conn: Connection) -> int:
        stmt = rollups.summed(
            table(TransactionalCount),
            table(TransactionalCountDelta),
            ("customer_id",),
            "n",
            lambda t: (t.c.customer_id == cid) & (t.c.status == "sent"),
        )
        return sum(rollups.nonzero(conn.execute(stmt)).values())

    pending_before = rt.db.transaction(rollups.transactional_pending, [cid])
    sent_before = rt.db.transaction(sent)

    def work(conn: Connection) -> None:
        before = conn.execute(select(func.max(M.id))).scalar_one()
        mine = (M.campaign_id.is_(None), M.customer_id == cid, M.id > before)
        for i in range(6):
            enqueue_transactional(
                conn,
                customer_id=cid,
                to=f"gone{i}@x.example",
                subject="s",
                from_email="shop@a-tenant.example",
                text="t",
                now=now,
            )
        ids = list(conn.execute(select(M.id).where(*mine).order_by(M.id)).scalars())
        conn.execute(update(M).where(M.id.in_(ids[:3])).values(status="sent", sent_at=now))
        conn.execute(delete(M).where(M.id.in_([ids[0], ids[-1]])))

    rt.db.transaction(work)
    pending = rt.db.transaction(rollups.transactional_pending, [cid])
    return pending - pending_before, rt.db.transaction(sent) - sent_before


def test_deleting_transactional_mail_forgets_the_pending_and_keeps_the_sent(
    runtime: Runtime,
) -> None:
    # 6 queued, 3 of them sent, then one sent and one queued deleted: 2 pending, 3 sent.
    assert delete_transactional(runtime) == (2, 3)
