"""The event rollups on PostgreSQL: a statement trigger appends deltas, the fold moves them.

The SQLite checks again (tests/store/test_event_rollups.py) before and after a
fold, and the readers of the last 24 hours (server stats, the pool page, the
pool a worker loads) shown to read the events of the window's part-minutes
only: with thousands of events in the window, each reads a handful of rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, event, func, select

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.servers.stats import activity_by_domain_24h, server_stats
from sendpool.store import rollups
from sendpool.store.catalog import load_pool
from sendpool.store.tables import DeliveryEvent, EventDelta, Message, table
from sendpool.web.views.pool import pool_page
from tests.store.test_event_rollups import (
    _message,
    assert_events_match,
    rebuild_from_0018,
    seed_mixed_events,
)


def _deltas(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(table(EventDelta))).scalar_one())


def test_the_rollups_equal_the_events_before_and_after_the_fold(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    seed_mixed_events(runtime, 17, now)
    assert runtime.db.transaction(_deltas) > 0
    runtime.db.transaction(assert_events_match, now)
    assert runtime.db.transaction(rollups.fold)
    assert runtime.db.transaction(_deltas) == 0
    runtime.db.transaction(assert_events_match, now)


def _busy_day(conn: Connection, now: datetime, events: int) -> int:
    """``events`` bounces and complaints about sends spread over the last day, none in the
    minute at either end of it."""
    server_id = refs.server_id(conn, "smtp-1")
    start = now.replace(second=0, microsecond=0) - timedelta(hours=23)
    mids = [
        (_message(conn, server_id, start + timedelta(seconds=17 * i), "x@Busy.Example"), i)
        for i in range(events // 2)
    ]
    rows = [
        {
            "server_id": server_id,
            "message_id": mid,
            "kind": kind,
            "detail": "busy",
            "sent_at": start + timedelta(seconds=17 * i),
            "created_at": now - timedelta(minutes=5),
            "dedup_key": f"busy-{kind}-{i}",
        }
        for mid, i in mids
        for kind in ("hard_bounce", "complaint")
    ]
    conn.execute(table(DeliveryEvent).insert(), rows)
    return server_id


def _rows_read(conn: Connection, statements: list[tuple[str, Any]], relation: str) -> int:
    """Rows the plans of ``statements`` took from ``relation``, as EXPLAIN ANALYZE counts them."""

    def walk(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == relation:
            own = int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
            own += int(node.get("Rows Removed by Filter", 0))
        return own + sum(walk(child) for child in node.get("Plans", ()))

    total = 0
    for sql, params in statements:
        if relation not in sql:
            continue
        (plan,) = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).one()
        doc = plan if isinstance(plan, list) else json.loads(plan)
        total += walk(doc[0]["Plan"])
    return total


def test_the_last_day_readers_read_the_minutes_not_the_events(runtime: Runtime) -> None:
    from tests.support.world import seed_world

    seed_world(runtime)
    now = datetime.now(UTC)
    server_id = runtime.db.transaction(_busy_day, now, 3000)
    runtime.db.transaction(rollups.fold)
    runtime.db.transaction(lambda c: c.exec_driver_sql("ANALYZE"))
    box = runtime.box
    readers = {
        "server stats": (server_stats, box, "smtp-1", now),
        "by domain": (activity_by_domain_24h, now),
        "pool page": (pool_page, box, now),
        "pool": (load_pool, box, now),
    }
    got = runtime.db.transaction(activity_by_domain_24h, now, [server_id])
    busy = [a for a in got if a.domain == "busy.example"]
    assert [(a.activity.bounces, a.activity.complaints) for a in busy] == [(1500, 1500)]
    for name, (fn, *args) in readers.items():
        seen: list[tuple[str, Any]] = []

        def capture(*a: Any, into: list[tuple[str, Any]] = seen) -> None:
            into.append((str(a[2]), a[3]))

        event.listen(runtime.db.engine, "before_cursor_execute", capture)
        try:
            runtime.db.transaction(fn, *args)
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", capture)
        with runtime.db.engine.connect() as conn:
            read = _rows_read(conn, seen, "delivery_events")
            sends = _rows_read(conn, seen, "messages")
        # Before the event rollups, server stats read each of the 3,000 events twice.
        assert read <= 20, (name, read)
        assert sends <= 20, (name, sends)
    total = runtime.db.transaction(
        lambda c: c.execute(select(func.count()).select_from(table(Message))).scalar_one()
    )
    assert total >= 1500


def test_the_upgrade_counts_the_events_already_there(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    seed_mixed_events(runtime, 23, now)
    runtime.db.transaction(rollups.fold)
    rebuild_from_0018(runtime)
    assert runtime.db.transaction(_deltas) == 0
    runtime.db.transaction(assert_events_match, now)
