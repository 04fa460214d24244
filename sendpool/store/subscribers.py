"""Writing subscribers: upserts in batches, duplicates merged field by field."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from sendpool.store.tables import Subscriber, table
from sendpool.store.types import driver_time

# Driver SQL with executemany: compiling a many-row INSERT per batch cost more than the insert.
_UPSERT = {
    "sqlite": (
        "INSERT INTO subscribers (list_id, email, fields, status, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (list_id, email) "
        "DO UPDATE SET fields = json_patch(subscribers.fields, excluded.fields)"
    ),
    "postgresql": (
        "INSERT INTO subscribers (list_id, email, fields, status, created_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (list_id, email) "
        "DO UPDATE SET fields = (subscribers.fields::jsonb || excluded.fields::jsonb)::json"
    ),
}


def upsert_subscribers(
    conn: Connection, list_id: int, rows: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> tuple[int, int]:
    """Insert new addresses, merge fields into existing ones; return (created, merged)."""
    merged_in_batch: dict[str, dict[str, Any]] = {}
    for email, fields in rows:
        merged_in_batch[email] = {**merged_in_batch.get(email, {}), **fields}
    T = table(Subscriber)
    existing = set(
        conn.execute(
            select(T.c.email).where(T.c.list_id == list_id, T.c.email.in_(list(merged_in_batch)))
        ).scalars()
    )
    t = driver_time(conn)
    stamp = t(now)
    params = [(list_id, e, json.dumps(f), "subscribed", stamp) for e, f in merged_in_batch.items()]
    conn.exec_driver_sql(_UPSERT[conn.dialect.name], params)
    created = len(merged_in_batch) - len(existing)
    return created, len(rows) - created


def count_subscribers(conn: Connection, list_id: int) -> int:
    T = table(Subscriber)
    return int(conn.execute(select(func.count()).where(T.c.list_id == list_id)).scalar_one())
