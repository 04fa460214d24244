"""Reads of the rollups: exact to the second at any window edge, and no scan of the messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select

from sendpool.runtime import Runtime
from sendpool.services import refs
from sendpool.services.campaigns.report import campaign_report
from sendpool.services.operations.doctor import _workers_and_queue
from sendpool.services.operations.forecasts import _queue_of
from sendpool.services.operations.observability import metrics_snapshot
from sendpool.services.operations.split import sent_by_plan
from sendpool.services.servers.stats import server_stats
from sendpool.store import rollups
from sendpool.store.tables import Customer, Message, table
from sendpool.store.types import new_uid
from sendpool.web.views.pool import pool_page
from tests.store.test_rollups import run_scenario
from tests.support.world import seed_world

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
# Sends at these offsets from T0 (seconds): either side of minute edges, and on them.
SENDS = (-61.5, -60, -59.999, -0.5, 0, 0.25, 29, 59.999999, 60, 61, 119.5, 3600, 86399, 86400.5)
WINDOWS = [
    pytest.param(0, 60, id="one whole minute"),
    pytest.param(-60, 60, id="two whole minutes"),
    pytest.param(-59.999, 59.999999, id="part minutes both ends"),
    pytest.param(0.25, 29, id="inside one minute"),
    pytest.param(29, 29, id="one instant"),
    pytest.param(-61.5, 86400.5, id="a day and more, edges on sends"),
    pytest.param(-0.5, 86399, id="a day, part minutes"),
    pytest.param(30, 10, id="empty: until before since"),
]


def _seed_sends(conn: Connection) -> int:
    """One customer's transactional sends through one server at the offsets of SENDS."""
    server_id = refs.server_id(conn, "smtp-1")
    customer = conn.execute(select(Customer.id).order_by(Customer.id)).scalars().first()
    rows = [
        {
            "uid": new_uid(),
            "customer_id": customer,
            "recipient": f"r{i}@example.com",
            "kind": "transactional",
            "status": "sent",
            "server_id": server_id,
            "sent_at": T0 + timedelta(seconds=s),
            "due_at": T0,
            "queued_at": T0,
            "updated_at": T0,
            "payload": {"from_email": "Shop@Sub.A-Tenant.Example"},
        }
        for i, s in enumerate(SENDS)
    ]
    conn.execute(table(Message).insert(), rows)
    return server_id


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_sent_in_a_window_is_exact_at_every_edge(
    runtime: Runtime, start: float, end: float
) -> None:
    seed_world(runtime)
    server_id = runtime.db.transaction(_seed_sends)
    since, until = T0 + timedelta(seconds=start), T0 + timedelta(seconds=end)
    want = sum(1 for s in SENDS if start <= s <= end)
    got = runtime.db.transaction(rollups.sent_counts, since, until, [server_id])
    assert got == ({(server_id, "sub.a-tenant.example"): want} if want else {})
    direct = runtime.db.transaction(
        lambda c: c.execute(
            select(func.count()).where(
                Message.server_id == server_id, Message.sent_at >= since, Message.sent_at <= until
            )
        ).scalar_one()
    )
    assert direct == want


def _statements(runtime: Runtime, fn: Any, *args: Any) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []

    def capture(*a: Any) -> None:
        seen.append((a[2], a[3]))

    event.listen(runtime.db.engine, "before_cursor_execute", capture)
    try:
        runtime.db.transaction(fn, *args)
    finally:
        event.remove(runtime.db.engine, "before_cursor_execute", capture)
    return seen


def _steps_on_messages(runtime: Runtime, seen: list[tuple[str, Any]]) -> list[str]:
    def plans(conn: Connection) -> list[str]:
        out = []
        for sql, params in seen:
            for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all():
                if re.match(r"(SCAN|SEARCH) (messages|m)\b", row[3]):
                    out.append(str(row[3]))
        return out

    return runtime.db.transaction(plans)


def test_the_readers_touch_messages_only_by_an_index_range(runtime: Runtime) -> None:
    """Each reader's statements: the messages table only through an index search, never a scan."""
    ids = run_scenario(runtime, lambda conn: None)
    now = datetime.now(UTC)
    box = runtime.box
    readers = {
        "metrics": (metrics_snapshot, box, now),
        "server stats": (server_stats, box, "smtp-1", now),
        "campaign report": (campaign_report, int(ids["big"]), now),
        "pool page": (pool_page, box, now),
        "plan forecast": (_queue_of, runtime.db.transaction(refs.plan_id, "Shared"), now),
        "plan split": (sent_by_plan, now - timedelta(days=30)),
        "doctor's queue": (_workers_and_queue, now),
    }
    for name, (fn, *args) in readers.items():
        steps = _steps_on_messages(runtime, _statements(runtime, fn, *args))
        # An index range or a primary-key look-up (an event's message), never a SCAN.
        assert all(
            re.match(r"SEARCH \w+ USING (COVERING )?(INDEX|INTEGER PRIMARY KEY)", s) for s in steps
        ), (
            name,
            steps,
        )


def test_the_report_counts_only_what_is_due_later(runtime: Runtime) -> None:
    """Its only reads of messages are a range of (campaign_id, status, due_at) past now."""
    ids = run_scenario(runtime, lambda conn: None)
    seen = _statements(runtime, campaign_report, int(ids["big"]), datetime.now(UTC))
    on_messages = [(s, p) for s, p in seen if re.search(r"\bmessages\b", s)]
    assert 1 <= len(on_messages) <= 3  # due later; the earliest queued and deferred
    for step in _steps_on_messages(runtime, on_messages):
        assert "ix_messages_campaign_status" in step and "due_at" in step, step
