"""Whether the queue's claim walks the pending index in due order, with no sort.

Shared by tests/store/test_launch_linear.py and bench/launch_rss.py: a claim
that sorts every pending row is fine at a thousand and a stall at a million.
On PostgreSQL each day partition has its own copy of the pending index (0021):
the claim is a merge of their index scans, and the partition that holds the
campaign's rows is read by no other kind of scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from sendpool.store.queue import _CLAIM_POSTGRES, _CLAIM_SQLITE
from sendpool.store.types import driver_time


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def sqlite_plan(conn: Connection, sql: str, params: dict[str, Any]) -> str:
    """SQLite's EXPLAIN QUERY PLAN of ``sql``, a step a line."""
    return "\n".join(r[-1] for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql), params))


def claim_plan_problem(conn: Connection, now: datetime) -> str | None:
    """None when the claim walks the pending index without a sort; else what it does instead."""
    t = driver_time(conn)(now)
    params = {"worker": "w", "limit": 100, "now": t, "lease_until": t}
    if conn.dialect.name != "postgresql":
        shown = sqlite_plan(conn, _CLAIM_SQLITE, params)
        ok = "ix_messages_pending_due" in shown and "TEMP B-TREE" not in shown
        return None if ok else shown
    value = conn.execute(text("EXPLAIN (FORMAT JSON) " + _CLAIM_POSTGRES), params).scalar_one()
    plan = (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]
    found = list(nodes(plan))
    pending = set(
        conn.execute(
            text(
                "SELECT i.inhrelid::regclass::text FROM pg_inherits i "
                "WHERE i.inhparent = 'ix_messages_pending_due'::regclass"
            )
        ).scalars()
    )
    walks = [n for n in found if n.get("Index Name") in pending]
    if not walks or any(n["Node Type"] != "Index Scan" for n in walks):
        return f"the pending index is not walked: {plan}"
    full = max(walks, key=lambda n: n.get("Plan Rows", 0))["Relation Name"]
    if not full.startswith("messages_"):
        return f"the rows are not in a day partition: {plan}"
    if any(n["Node Type"] != "Index Scan" for n in found if n.get("Relation Name") == full):
        return f"{full} is read by another kind of scan too: {plan}"
    if any(n["Node Type"] == "Sort" for n in found):
        return f"the claim sorts: {plan}"
    return None
