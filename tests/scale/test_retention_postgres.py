"""Retention on PostgreSQL: the same rows go, along the same indexes, and one serve claims a slot."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Connection, text

from sendpool.core.states import MessageStatus
from sendpool.runtime import Runtime
from sendpool.services.operations.retention import TableSweep, claim_slot, run_retention
from sendpool.store.retention import SETTLED_SQL
from tests.scale.partition_plans import as_parent
from tests.store.test_retention import (
    NOW,
    OLD,
    OWNED,
    POLICY,
    RECENT,
    add_events,
    add_messages,
    counts,
    seed_world,
    snapshot,
    statuses,
)


def test_only_settled_old_rows_go_and_the_rollups_stay(runtime: Runtime) -> None:
    runtime.db.transaction(seed_world)
    before = runtime.db.transaction(snapshot, OWNED)
    assert "campaign_counts" in before and "server_counts" in before
    run = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    assert {t.table: t.rows for t in run.tables} == {
        "messages": 300,
        "delivery_events": 130,
        "webhook_unmatched": 7,
        "dispatch_skips": 6,
    }
    left = runtime.db.transaction(statuses)
    assert ("sent", "old") not in left and ("failed", "old") not in left
    assert all(left[(s, "old")] == 150 for s in ("queued", "deferred", "sending"))
    assert runtime.db.transaction(snapshot, OWNED) == before


def _plan(conn: Connection, sql: str, **params: object) -> str:
    conn.execute(text("SET LOCAL enable_seqscan = off"))  # tiny tables: ask what it would use
    rows = conn.execute(text("EXPLAIN " + sql), params).scalars().all()
    return as_parent(conn, "\n".join(rows))


def test_a_batch_is_one_range_of_the_settled_index(runtime: Runtime) -> None:
    runtime.db.transaction(lambda c: add_messages(c, MessageStatus.SENT, OLD, 50))
    runtime.db.transaction(lambda c: add_events(c, OLD, 3000))
    runtime.db.transaction(lambda c: c.execute(text("ANALYZE messages, delivery_events")))
    cutoff, at = NOW - timedelta(days=30), OLD
    where = (
        f"{SETTLED_SQL} AND updated_at < :cutoff AND (updated_at, id) > (:at, 0) "
        "AND (updated_at, id) <= (:at, 999999)"
    )
    read = runtime.db.transaction(
        _plan,
        f"SELECT updated_at, id FROM messages WHERE {where} ORDER BY updated_at, id LIMIT 100",
        cutoff=cutoff,
        at=at,
    )
    assert "ix_messages_settled_at" in read and "Sort  (" not in read, read
    gone = runtime.db.transaction(
        _plan, f"DELETE FROM messages WHERE {where}", cutoff=cutoff, at=at
    )
    assert "ix_messages_settled_at" in gone, gone
    events = runtime.db.transaction(
        _plan,
        "SELECT id, created_at FROM delivery_events WHERE id > 5 ORDER BY id LIMIT 100",
    )
    assert "pk_delivery_events" in events and "Sort" not in events, events


def test_an_interrupted_run_carries_on_where_it_stopped(runtime: Runtime) -> None:
    runtime.db.transaction(lambda c: add_messages(c, MessageStatus.FAILED, OLD, 330))
    runtime.db.transaction(lambda c: add_events(c, RECENT, 10))

    def stop(sweep: TableSweep) -> None:
        if sweep.batches == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="t", on_batch=stop)
    assert runtime.db.transaction(counts)["messages"] == 30
    run = run_retention(runtime.db, policy=POLICY, now=NOW, dry_run=False, actor="test")
    assert run.tables[0].rows == 30
    left = runtime.db.transaction(counts)
    assert (left["messages"], left["delivery_events"]) == (0, 10)


def test_two_serve_processes_claim_one_slot_once(runtime: Runtime) -> None:
    start = threading.Barrier(2)
    got: list[bool] = []

    def claim() -> None:
        def locked(conn: Connection) -> bool:
            start.wait()
            return claim_slot(conn, now=NOW, at=runtime.settings.retention_at, policy=POLICY)

        got.append(runtime.db.transaction(locked))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(got) == [False, True]
