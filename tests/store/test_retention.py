"""Retention deletes settled, old rows only, batch by batch, and leaves every other table be."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, func, insert, inspect, select, text

from sendpool.core.states import MessageStatus
from sendpool.runtime import Runtime
from sendpool.services.operations.retention import (
    RetentionPolicy,
    TableSweep,
    plan,
    run_retention,
)
from sendpool.store.partitions import not_a_partition
from sendpool.store.retention import sweep_by_id, sweep_messages, sweep_skips
from sendpool.store.tables import (
    AuditEntry,
    Customer,
    DeliveryEvent,
    DispatchSkip,
    Message,
    WebhookUnmatched,
    table,
)

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)  # past 30 days of messages, not past 90 of events
ANCIENT = NOW - timedelta(days=100)  # past both
RECENT = NOW - timedelta(days=5)
POLICY = RetentionPolicy(message_days=30, event_days=90, audit_days=0, batch_size=100)
OWNED = {"messages", "delivery_events", "webhook_unmatched", "dispatch_skips", "audit_log"}


def customer(conn: Connection) -> int:
    found = conn.execute(select(Customer.id).where(Customer.name == "retention")).scalar()
    if found is not None:
        return int(found)
    row = insert(table(Customer)).values(uid="retention", name="retention", created_at=NOW)
    return int(conn.execute(row.returning(table(Customer).c.id)).scalar_one())


def add_messages(
    conn: Connection, status: str, at: datetime, n: int, *, tag: str = "m"
) -> list[int]:
    """``n`` messages of ``status`` last changed at ``at``; their ids."""
    cid = customer(conn)
    start = conn.execute(select(func.count()).select_from(table(Message))).scalar_one()
    rows = [
        {
            "uid": f"{tag}{status}{at:%Y%m%d}{start + i}",
            "customer_id": cid,
            "recipient": f"r{start + i}@example.com",
            "kind": "transactional",
            "status": status,
            "attempts": 1,
            "attempts_here": 1,
            "due_at": at,
            "queued_at": at - timedelta(minutes=5),
            "sent_at": at if status == MessageStatus.SENT else None,
            "updated_at": at,
            "server_id": None,
        }
        for i in range(n)
    ]
    conn.execute(insert(table(Message)), rows)
    uids = [r["uid"] for r in rows]
    return [int(i) for i in conn.execute(select(Message.id).where(Message.uid.in_(uids))).scalars()]


def add_events(conn: Connection, at: datetime, n: int, message_id: int | None = None) -> None:
    conn.execute(
        insert(table(DeliveryEvent)),
        [{"kind": "hard_bounce", "created_at": at, "message_id": message_id} for _ in range(n)],
    )


def add_unmatched(conn: Connection, at: datetime, n: int) -> None:
    start = conn.execute(select(func.count()).select_from(table(WebhookUnmatched))).scalar_one()
    conn.execute(
        insert(table(WebhookUnmatched)),
        [
            {
                "server_id": 1,
                "vendor": "ses",
                "event_key": f"k{start + i}",
                "kind": "hard",
                "received_at": at,
            }
            for i in range(n)
        ],
    )


def add_skips(conn: Connection, day: datetime, pairs: Iterable[tuple[int, int]]) -> None:
    conn.execute(
        insert(table(DispatchSkip)),
        [
            {"plan_id": p, "server_id": s, "day": f"{day:%Y-%m-%d}", "code": "quota", "count": 3}
            for p, s in pairs
        ],
    )


def add_audit(conn: Connection, at: datetime, n: int) -> None:
    conn.execute(
        insert(table(AuditEntry)),
        [{"at": at, "actor": "t", "action": "x.y", "detail": {}} for _ in range(n)],
    )


def counts(conn: Connection) -> dict[str, int]:
    """Rows of every table: what retention may change and what it must leave."""
    names = inspect(conn).get_table_names()
    return {n: conn.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def snapshot(conn: Connection, skip: set[str]) -> dict[str, list[Any]]:
    """Every row of every table but ``skip``, to prove a run left them as they were."""
    out = {}
    for name in sorted(inspect(conn).get_table_names()):
        # messages' day partitions (PostgreSQL) are messages, under its own name.
        if name not in skip and name != "alembic_version" and not_a_partition(name, "table", ()):
            rows = conn.execute(text(f'SELECT * FROM "{name}"')).all()
            out[name] = sorted(map(repr, rows))
    return out


def statuses(conn: Connection) -> dict[tuple[str, str], int]:
    """Messages by status and by age: past 30 days ("old") or not."""
    M = table(Message)
    rows = conn.execute(select(M.c.status, M.c.updated_at)).all()
    out: dict[tuple[str, str], int] = {}
    for status, at in rows:
        key = (status, "old" if at < NOW - timedelta(days=30) else "young")
        out[key] = out.get(key, 0) + 1
    return out


def seed_world(conn: Connection) -> None:
    for status in MessageStatus:
        add_messages(conn, status, OLD, 150)
        add_messages(conn, status, RECENT, 20)
    add_events(conn, ANCIENT, 130)
    add_events(conn, OLD, 40)
    add_unmatched(conn, ANCIENT, 7)
    add_unmatched(conn, RECENT, 3)
    add_skips(conn, ANCIENT, [(p, s) for p in (1, 2) for s in (1, 2, 3)])
    add_skips(conn, RECENT, [(1, 1), (2, 3)])
    add_audit(conn, ANCIENT, 5)


def test_only_settled_messages_past_retention_go(runtime: Runtime) -> None:
    runtime.db.transaction(seed_world)
    run = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    left = runtime.db.transaction(statuses)
    # Every pending message stays, however old; settled ones go once 30 days old.
    assert left == {
        **{(s, age): 150 if age == "old" else 20 for s in ("queued", "deferred", "sending")
           for age in ("old", "young")},
        ("sent", "young"): 20,
        ("failed", "young"): 20,
    }  # fmt: skip
    by_table = {t.table: t.rows for t in run.tables}
    assert by_table == {
        "messages": 300,
        "delivery_events": 130,
        "webhook_unmatched": 7,
        "dispatch_skips": 6,
    }
    left_counts = runtime.db.transaction(counts)
    assert left_counts["delivery_events"] == 40
    assert left_counts["webhook_unmatched"] == 3
    assert left_counts["dispatch_skips"] == 2
    assert left_counts["audit_log"] == 5 + 1  # kept forever by default, and the run's own entry
    # A second run finds nothing more.
    again = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    assert again.rows == 0


def test_a_dry_run_counts_exactly_what_a_run_deletes_and_deletes_nothing(
    runtime: Runtime,
) -> None:
    runtime.db.transaction(seed_world)
    before = runtime.db.transaction(counts)
    dry = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=True, actor="test")
    assert runtime.db.transaction(counts) == before  # not even an audit entry
    real = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    assert dry.figures()["tables"] == real.figures()["tables"]
    assert dry.rows == 300 + 130 + 7 + 6


def test_batches_commit_on_their_own_and_an_interrupted_run_carries_on(runtime: Runtime) -> None:
    runtime.db.transaction(lambda c: add_messages(c, MessageStatus.SENT, OLD, 350))

    class Stop(Exception):
        pass

    def stop_after_two(sweep: TableSweep) -> None:
        if sweep.batches == 2:
            raise Stop

    with pytest.raises(Stop):
        run_retention(
            runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="t", on_batch=stop_after_two
        )
    assert runtime.db.transaction(counts)["messages"] == 150  # two batches of 100 committed
    run = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    assert [(t.table, t.rows, t.batches) for t in run.tables][0] == ("messages", 150, 2)
    assert runtime.db.transaction(counts)["messages"] == 0


def test_a_batch_reads_the_settled_index_from_where_the_last_one_stopped(
    runtime: Runtime,
) -> None:
    def world(conn: Connection) -> None:
        add_messages(conn, MessageStatus.QUEUED, ANCIENT, 400)  # a paused campaign, say
        add_messages(conn, MessageStatus.SENT, OLD, 250)
        add_messages(conn, MessageStatus.SENT, RECENT, 300)

    runtime.db.transaction(world)
    cutoff = NOW - timedelta(days=30)
    reads, after, rows = [], None, 0
    while True:
        batch = runtime.db.transaction(
            sweep_messages, cutoff=cutoff, after=after, limit=100, dry_run=False
        )
        reads.append(batch.read)
        rows += batch.rows
        if batch.after is None:
            break
        after = batch.after
    assert rows == 250
    # Only the entries that went were read: none of the 400 pending, none of the 300 young.
    assert reads == [100, 100, 50]

    def plan_of(conn: Connection) -> str:
        sql = (
            "EXPLAIN QUERY PLAN SELECT updated_at, id FROM messages WHERE "
            "status IN ('failed','sent') AND updated_at < ? AND (updated_at, id) > (?, ?) "
            "ORDER BY updated_at, id LIMIT 100"
        )
        at = "2026-10-01 00:00:00.000000"
        rows = conn.exec_driver_sql(sql, (at, at, 1)).all()
        return " | ".join(str(r[-1]) for r in rows)

    shown = runtime.db.transaction(plan_of)
    assert "ix_messages_settled_at" in shown and "TEMP B-TREE" not in shown, shown


def test_events_walk_by_id_and_stop_at_the_first_batch_with_nothing_old(runtime: Runtime) -> None:
    def world(conn: Connection) -> None:
        add_events(conn, ANCIENT, 230)
        add_events(conn, RECENT, 500)

    runtime.db.transaction(world)
    cutoff = NOW - timedelta(days=90)
    reads, after = [], None
    while True:
        batch = runtime.db.transaction(
            sweep_by_id, "delivery_events", cutoff=cutoff, after=after, limit=100, dry_run=False
        )
        reads.append((batch.rows, batch.read))
        if batch.after is None:
            break
        after = batch.after
    # Three batches with old rows, then one of young ones ends the walk: 400 rows read, not 730.
    assert reads == [(100, 100), (100, 100), (30, 100), (0, 100)]
    assert runtime.db.transaction(counts)["delivery_events"] == 500


def test_daily_skips_go_pair_by_pair_before_the_cutoff_day(runtime: Runtime) -> None:
    pairs = [(p, s) for p in range(1, 4) for s in range(1, 5)]

    def world(conn: Connection) -> None:
        for d in range(5):
            add_skips(conn, ANCIENT + timedelta(days=d), pairs)
        add_skips(conn, RECENT, pairs[:3])

    runtime.db.transaction(world)
    day = f"{NOW - timedelta(days=90):%Y-%m-%d}"
    batch = runtime.db.transaction(sweep_skips, before_day=day, after=None, limit=20, dry_run=True)
    assert (batch.rows, batch.after) == (20, (1, 4))  # four pairs of five days, then it stops
    total, after = 0, None
    while True:
        batch = runtime.db.transaction(
            sweep_skips, before_day=day, after=after, limit=20, dry_run=False
        )
        total += batch.rows
        if batch.after is None:
            break
        after = batch.after
    assert total == 60
    assert runtime.db.transaction(counts)["dispatch_skips"] == 3


def test_a_run_leaves_every_other_table_and_the_rollups_as_they_were(runtime: Runtime) -> None:
    runtime.db.transaction(seed_world)
    before = runtime.db.transaction(snapshot, OWNED)
    assert any(n.endswith("_counts") for n in before)  # the rollups are among them
    run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    assert runtime.db.transaction(snapshot, OWNED) == before


def test_a_table_kept_forever_is_not_looked_at() -> None:
    keep_all = RetentionPolicy(message_days=0, event_days=0, audit_days=0, batch_size=100)
    assert keep_all.keeps_everything and plan(keep_all, NOW) == []
    only_audit = RetentionPolicy(message_days=0, event_days=0, audit_days=7, batch_size=100)
    assert [(t.table, t.cutoff) for t in plan(only_audit, NOW)] == [
        ("audit_log", NOW - timedelta(days=7))
    ]
