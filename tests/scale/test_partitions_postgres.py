"""Messages partitioned by day on PostgreSQL (0021): the upgrade, the launch, the queue, the drop."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, text, update
from sqlalchemy.exc import IntegrityError

from sendpool.core.servers import Caps
from sendpool.core.states import MessageStatus
from sendpool.core.windows import windows_at
from sendpool.runtime import Runtime
from sendpool.scheduler import Scheduler
from sendpool.services.messages.transactional import enqueue_transactional
from sendpool.services.operations.retention import RetentionPolicy, run_retention
from sendpool.store.db import make_engine, migrate
from sendpool.store.launches import launch_batches
from sendpool.store.ledger_sql import SqlLedger
from sendpool.store.partitions import (
    DEFAULT,
    LEGACY,
    date_of,
    day_of,
    drop_old,
    ensure_partitions,
    list_partitions,
    partition_name,
)
from sendpool.store.queue import SqlQueue
from sendpool.store.records import MessageUpdate, RecordBatch, ReservationMark
from sendpool.store.rollups import upkeep
from sendpool.store.tables import (
    Campaign,
    Message,
    table,
)
from sendpool.store.types import driver_time
from sendpool.store.write_back import write_back_sql
from tests.scale.partition_rows import (
    add,
    folded_counts,
    message_counts,
    seed_campaign,
    seed_list,
    upgraded_long_ago,
    utc_now,
    where,
)
from tests.store.test_retention import snapshot

pytestmark = pytest.mark.services


def test_a_launch_and_a_transactional_message_land_in_todays_partition(runtime: Runtime) -> None:
    now = utc_now()

    def seed(c: Connection) -> tuple[int, int]:
        customer_id, list_id, _ = seed_list(c, 25)
        c.execute(
            text(
                "INSERT INTO sending_domains (customer_id, domain, verified_at, created_at,"
                " created_by) VALUES (:c, 'example.com', now(), now(), 'test')"
            ),
            {"c": customer_id},
        )
        return customer_id, seed_campaign(c, customer_id, list_id)

    customer_id, cid = runtime.db.transaction(seed)
    assert launch_batches(runtime.db.engine, cid, now, batch_size=10) == 25
    runtime.db.transaction(
        lambda c: enqueue_transactional(
            c,
            customer_id=customer_id,
            to="x@example.org",
            subject="hello",
            from_email="app@example.com",
            text="hi",
            now=now,
        )
    )
    placed = runtime.db.transaction(where)
    assert len(placed) == 26 and set(placed.values()) == {partition_name(day_of(now))}
    part_day = runtime.db.transaction(
        lambda c: c.execute(select(Campaign.part_day).where(Campaign.id == cid)).scalar_one()
    )
    assert part_day == day_of(now)


def test_a_launch_resumed_the_next_day_stays_in_its_campaigns_partition(
    runtime: Runtime,
) -> None:
    first = utc_now() - timedelta(days=1)

    def seed(c: Connection) -> int:
        customer_id, list_id, _ = seed_list(c, 30)
        upgraded_long_ago(c)
        ensure_partitions(c, first, ahead=0)
        return seed_campaign(c, customer_id, list_id)

    cid = runtime.db.transaction(seed)
    engine = runtime.db.engine
    assert launch_batches(engine, cid, first, batch_size=10, max_batches=1) == 10
    assert launch_batches(engine, cid, first + timedelta(days=1), batch_size=10) == 20
    assert set(runtime.db.transaction(where).values()) == {partition_name(day_of(first))}

    def again(c: Connection) -> int:
        c.execute(update(table(Campaign)).where(Campaign.id == cid).values(launch_cursor=0))
        return cid

    runtime.db.transaction(again)  # a launcher that starts over from the first subscriber
    assert launch_batches(engine, cid, first + timedelta(days=2), batch_size=10) == 0
    total = runtime.db.transaction(
        lambda c: c.execute(text("SELECT count(*) FROM messages")).scalar_one()
    )
    assert total == 30

    def duplicate(c: Connection) -> None:
        columns = "customer_id, campaign_id, subscriber_id, recipient, kind, status, attempts, "
        columns += "due_at, queued_at, updated_at, part_day"
        c.execute(
            text(
                f"INSERT INTO messages (uid, {columns}) SELECT 'dup', {columns} FROM messages "
                "LIMIT 1"
            )
        )

    with pytest.raises(IntegrityError):
        runtime.db.transaction(duplicate)


def test_claim_send_and_write_back_across_partitions(runtime: Runtime) -> None:
    today = day_of(utc_now())

    def seed(c: Connection) -> list[int]:
        customer_id, _, _ = seed_list(c, 0)
        upgraded_long_ago(c)
        ensure_partitions(c, date_of(today - 3), ahead=1)
        ids: list[int] = []
        for day in (0, today - 3, today - 2, today, today + 1, today + 30):  # legacy..default
            ids += add(c, customer_id, 4, part_day=day, updated_at=utc_now() - timedelta(hours=1))
        return ids

    ids = runtime.db.transaction(seed)
    assert len(set(runtime.db.transaction(where).values())) == 6
    queue = SqlQueue(runtime.db)
    now = utc_now()

    async def send() -> None:
        claimed = await queue.claim("w1", 100, now, now + timedelta(minutes=2))
        assert sorted(m.id for m in claimed) == sorted(ids)
        assert len(queue.days) == len(ids)
        held = [m.id for m in claimed]
        await queue.mark_reserved("w1", [(i, 1) for i in held[:5]], now)
        await queue.mark_handed("w1", held, now)
        assert await queue.renew_leases("w1", held, now + timedelta(minutes=5)) == len(held)
        assert await queue.release_claims("w1", held[:2], now) == 2
        updates = [
            MessageUpdate(id=i, status=MessageStatus.SENT, due_at=now, attempts=1, sent_at=now)
            for i in held[2:]
        ]
        await queue.record("w1", RecordBatch(updates=updates), now)
        assert len(queue.days) == 0

    asyncio.run(send())
    counts = runtime.db.transaction(message_counts)
    assert counts == {MessageStatus.SENT: len(ids) - 2, MessageStatus.QUEUED: 2}
    assert runtime.db.transaction(folded_counts) == counts


def _relations(plan: dict[str, Any]) -> set[str]:
    """The relations a plan scanned (scans that ran at least once)."""
    out: set[str] = set()
    stack = [plan]
    while stack:
        node = stack.pop()
        scan = "Scan" in node["Node Type"] and node.get("Actual Loops", 0) > 0
        if scan and node.get("Relation Name"):
            out.add(node["Relation Name"])
        stack.extend(node.get("Plans", []))
    return out


def test_the_write_back_reads_only_the_partitions_of_its_rows(runtime: Runtime) -> None:
    """With fourteen partitions, the write-back's plan touches the two that hold its rows."""
    today = day_of(utc_now())

    def seed(c: Connection) -> None:
        customer_id, _, _ = seed_list(c, 0)
        upgraded_long_ago(c)
        ensure_partitions(c, date_of(today - 4), ahead=3)
        for day in (today - 4, today - 2, today, today + 3):
            add(c, customer_id, 50, part_day=day, updated_at=utc_now() - timedelta(hours=1))
        c.execute(text("ANALYZE messages"))

    runtime.db.transaction(seed)
    queue = SqlQueue(runtime.db)
    now = utc_now()
    claimed = asyncio.run(queue.claim("w1", 500, now, now + timedelta(minutes=2)))
    mine = [m.id for m in claimed if queue.days.of([m.id]) in ({m.id: today - 2}, {m.id: today})]
    days = queue.days.of(mine)
    assert days is not None and sorted(set(days.values())) == [today - 2, today]

    def explain(c: Connection, by_day: bool) -> tuple[set[str], int]:
        t = driver_time(c)
        n = len(mine)
        ids = sorted(mine)
        columns = [ids, ["sent"] * n, [t(now)] * n, [1] * n, [None] * n, [t(now)] * n]
        columns += [[None] * n, [250] * n, ["ok"] * n] + [[None] * n] * 4
        parts = sorted(set(days.values()))
        if by_day:
            params = (ids, parts, "w1", *columns, t(now), parts, "w1")
        else:
            params = (ids, "w1", *columns, t(now), "w1")
        sql = write_back_sql("postgresql", n, by_day=by_day)
        with c.begin_nested() as sp:
            raw = c.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).scalar_one()
            sp.rollback()
        plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
        shown = json.dumps(plan)
        return _relations(plan), shown.count(partition_name(today + 7))

    partitions = len(runtime.db.transaction(list_partitions))
    assert partitions >= 10
    pruned, far = runtime.db.transaction(explain, True)
    assert pruned == {partition_name(today - 2), partition_name(today)}, pruned
    assert far == 0  # an empty partition far from the rows is not even in the plan
    unpruned, _ = runtime.db.transaction(explain, False)
    assert len(unpruned) > len(pruned)  # by id alone, every partition's key is probed


def test_ensure_partitions_is_idempotent_and_leaves_a_day_the_default_holds(
    runtime: Runtime,
) -> None:
    today = day_of(utc_now())

    def seed(c: Connection) -> None:
        customer_id, _, _ = seed_list(c, 0)
        add(c, customer_id, 1, part_day=today + 9)

    runtime.db.transaction(seed)
    first = runtime.db.transaction(ensure_partitions, date_of(today), 10)
    assert first.created == [partition_name(today + 8), partition_name(today + 10)]
    assert first.skipped == [f"{partition_name(today + 9)}: {DEFAULT} holds rows of that day"]
    again = runtime.db.transaction(ensure_partitions, date_of(today), 10)
    assert again.created == [] and again.present == 10 and len(again.skipped) == 1
    assert runtime.db.transaction(where).popitem()[1] == DEFAULT


def _old_world(c: Connection, now: datetime) -> dict[str, str]:
    """Partitions 40..37 days old, each with what decides its fate; name -> what it holds."""
    today = day_of(now)
    customer_id, _, _ = seed_list(c, 0)
    upgraded_long_ago(c)
    ensure_partitions(c, date_of(today - 40), ahead=3)
    old = now - timedelta(days=39)
    add(c, customer_id, 5, part_day=today - 40, status="sent", sent_at=old, updated_at=old)
    add(c, customer_id, 5, part_day=today - 39, status="failed", updated_at=old)
    add(c, customer_id, 1, part_day=today - 39, status="deferred", updated_at=old)
    add(c, customer_id, 5, part_day=today - 38, status="sent", sent_at=old, updated_at=old)
    late = now - timedelta(days=1)
    add(c, customer_id, 1, part_day=today - 38, status="sent", sent_at=late, updated_at=late)
    add(c, customer_id, 3, part_day=today, status="sent", sent_at=old, updated_at=old)
    add(c, customer_id, 3, part_day=today + 30, status="sent", sent_at=old, updated_at=old)
    c.execute(text("ANALYZE messages"))
    upkeep(c, now)
    return {
        partition_name(today - 40): "settled long ago",
        partition_name(today - 39): "a pending message",
        partition_name(today - 38): "a message settled after the cutoff",
        partition_name(today - 37): "nothing",
    }


def test_drop_old_drops_what_is_wholly_past_retention_and_no_rollup_changes(
    runtime: Runtime,
) -> None:
    now = utc_now()
    world = runtime.db.transaction(_old_world, now)
    names = list(world)
    cutoff = now - timedelta(days=30)
    rollups_before = runtime.db.transaction(snapshot, {"messages"})
    dry = runtime.db.transaction(drop_old, cutoff, True)
    # The legacy partition, empty here, goes too: it holds day 0 only (see upgraded_long_ago).
    assert [d.name for d in dry.dropped] == [LEGACY, names[0], names[3]]
    assert {p.name for p in runtime.db.transaction(list_partitions)} >= set(names)
    run = runtime.db.transaction(drop_old, cutoff, False)
    assert [d.name for d in run.dropped] == [LEGACY, names[0], names[3]]
    assert run.dropped[1].rows == 5  # the planner's count, from ANALYZE
    assert sorted(run.kept) == sorted(dry.kept)
    assert any("pending" in k for k in run.kept) and any("settled at" in k for k in run.kept)
    left = {p.name for p in runtime.db.transaction(list_partitions)}
    assert names[0] not in left and names[3] not in left
    assert {names[1], names[2], partition_name(day_of(now)), DEFAULT} <= left
    assert runtime.db.transaction(snapshot, {"messages"}) == rollups_before
    counts = runtime.db.transaction(message_counts)
    assert counts == {"failed": 5, "deferred": 1, "sent": 12}


def test_retention_drops_partitions_then_sweeps_the_rest(runtime: Runtime) -> None:
    now = utc_now()
    world = runtime.db.transaction(_old_world, now)
    policy = RetentionPolicy(message_days=30, event_days=0, audit_days=0, batch_size=100)
    run = run_retention(runtime.db, policy=policy, now=now, dry_run=False, actor="test")
    figures = run.figures()
    names = list(world)
    assert figures["partitions"]["dropped"] == [LEGACY, names[0], names[3]]
    assert figures["partitions"]["rows_estimated"] == 5
    # The sweep takes the old settled rows the partitions kept: 5 failed, 5 sent, 3 + 3.
    assert figures["tables"]["messages"]["rows"] == 16
    assert runtime.db.transaction(message_counts) == {"deferred": 1, "sent": 1}


def test_a_busy_queue_makes_the_drop_wait_for_the_next_run(runtime: Runtime) -> None:
    now = utc_now()
    world = runtime.db.transaction(_old_world, now)
    held, release = threading.Event(), threading.Event()

    def reader() -> None:
        with runtime.db.engine.connect() as c:
            c.execute(text("SELECT count(*) FROM messages"))  # holds ACCESS SHARE
            held.set()
            release.wait(30)
            c.rollback()

    t = threading.Thread(target=reader)
    t.start()
    try:
        held.wait(30)
        run = runtime.db.transaction(drop_old, now - timedelta(days=30), False)
    finally:
        release.set()
        t.join(30)
    assert run.dropped == [] and len(run.kept) == 5, run.kept
    assert all(k.endswith("LockNotAvailable") for k in run.kept), run.kept
    assert list(world)[0] in {p.name for p in runtime.db.transaction(list_partitions)}


def test_sqlite_has_no_partitions(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/p.db")
    migrate(engine)
    try:
        with engine.begin() as c:
            assert list_partitions(c) == []
            assert ensure_partitions(c, date.today()).created == []
            assert drop_old(c, utc_now(), False).dropped == []
    finally:
        engine.dispose()


def test_the_scheduler_makes_the_week_ahead_at_start_and_once_a_day(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [utc_now() + timedelta(days=20)]
    scheduler = Scheduler(runtime.db, runtime.settings, clock=lambda: clock[0])
    asyncio.run(scheduler.make_partitions())
    ahead = day_of(clock[0])
    names = {p.name for p in runtime.db.transaction(list_partitions)}
    assert {partition_name(d) for d in range(ahead, ahead + 8)} <= names
    runtime.db.transaction(lambda c: c.execute(text(f"DROP TABLE {partition_name(ahead + 7)}")))
    asyncio.run(scheduler.make_partitions())  # the same day: nothing is looked at again
    assert partition_name(ahead + 7) not in {
        p.name for p in runtime.db.transaction(list_partitions)
    }
    clock[0] += timedelta(days=1)
    runtime.db.transaction(lambda c: c.execute(text("ALTER TABLE messages RENAME TO m_gone")))
    with caplog.at_level("ERROR", logger="sendpool.scheduler"):
        asyncio.run(scheduler.make_partitions())  # a failure is logged, not raised
    assert "making the day partitions of messages failed" in caplog.text


def test_a_reservation_marks_the_units_it_granted_by_their_partitions(runtime: Runtime) -> None:
    """One statement, pruned to the rows' partitions; only this worker's granted rows change."""
    today = day_of(utc_now())

    def seed(c: Connection) -> tuple[list[int], list[int]]:
        customer_id, _, _ = seed_list(c, 0)
        upgraded_long_ago(c)
        ensure_partitions(c, date_of(today - 2), ahead=1)
        mine: list[int] = []
        for day in (today - 2, today, today + 1):
            mine += add(c, customer_id, 2, part_day=day, updated_at=utc_now() - timedelta(hours=1))
        lease = utc_now() + timedelta(minutes=2)  # another worker's claim, still leased
        theirs = add(c, customer_id, 2, part_day=today, status=MessageStatus.SENDING, due_at=lease)
        c.execute(
            update(table(Message)).where(table(Message).c.id.in_(theirs)).values(claimed_by="w2")
        )
        return mine, theirs

    mine, theirs = runtime.db.transaction(seed)
    queue = SqlQueue(runtime.db)
    ledger = SqlLedger(runtime.db, queue.days)
    now = utc_now()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE messages AS m SET reserved_server_id"):
            statements.append(statement)

    async def reserve() -> None:
        claimed = await queue.claim("w1", 100, now, now + timedelta(minutes=2))
        assert sorted(m.id for m in claimed) == sorted(mine)
        w = windows_at(now)
        order = (mine[5], *mine[:5])  # the grant goes to the first in the mark's order
        assert (
            await ledger.reserve(1, w, Caps(4), 6, now, ReservationMark("w1", order))
        ).granted == 4
        # An id the queue does not know (not this worker's claim) drops the filter, not a mark.
        order = (theirs[0], mine[3])
        assert (
            await ledger.reserve(1, w, Caps(10), 2, now, ReservationMark("w1", order))
        ).granted == 2

    event.listen(runtime.db.engine, "before_cursor_execute", seen)
    try:
        asyncio.run(reserve())
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", seen)
    assert len(statements) == 2
    assert "part_day = ANY" in statements[0] and "part_day" not in statements[1]

    def marks(c: Connection) -> dict[int, tuple[int | None, bool]]:
        M = table(Message)
        rows = c.execute(select(M.c.id, M.c.reserved_server_id, M.c.reserved_at))
        return {int(i): (s, at is not None) for i, s, at in rows}

    got = runtime.db.transaction(marks)
    assert {i for i, (s, at) in got.items() if s == 1 and at} == {mine[5], *mine[:4]}
    assert all(got[i] == (None, False) for i in (mine[4], *theirs))
