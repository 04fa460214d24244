"""Writing subscribers: upserts in batches, duplicates merged field by field.

One subscriber per mailbox: ``F7@EXAMPLE.ORG`` and ``f7@example.org`` are one
person. RFC 5321 §2.4 lets a local part be case-sensitive, but no mailbox
provider treats it so, and a list must not mail one person twice; so rows are
keyed by ``email_key`` (the address lower-cased), while ``email`` keeps the
spelling it was first written with, the one its mail is sent to.
"""

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
        "INSERT INTO subscribers (list_id, email, email_key, fields, status, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (list_id, email_key) "
        "DO UPDATE SET fields = json_patch(subscribers.fields, excluded.fields)"
    ),
    "postgresql": (
        "INSERT INTO subscribers (list_id, email, email_key, fields, status, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (list_id, email_key) "
        "DO UPDATE SET fields = (subscribers.fields::jsonb || excluded.fields::jsonb)::json"
    ),
}


def email_key(address: str) -> str:
    """What makes two addresses one subscriber: the same letters, whatever their case."""
    return address.lower()


def upsert_subscribers(
    conn: Connection, list_id: int, rows: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> tuple[int, int]:
    """Insert new addresses, merge fields into existing ones; return (created, merged)."""
    merged_in_batch: dict[str, tuple[str, dict[str, Any]]] = {}
    for email, fields in rows:
        key = email_key(email)
        first, before = merged_in_batch.get(key, (email, {}))
        merged_in_batch[key] = (first, {**before, **fields})
    T = table(Subscriber)
    existing = set(
        conn.execute(
            select(T.c.email_key).where(
                T.c.list_id == list_id, T.c.email_key.in_(list(merged_in_batch))
            )
        ).scalars()
    )
    t = driver_time(conn)
    stamp = t(now)
    params = [
        (list_id, e, key, json.dumps(f), "subscribed", stamp)
        for key, (e, f) in merged_in_batch.items()
    ]
    conn.exec_driver_sql(_UPSERT[conn.dialect.name], params)
    created = len(merged_in_batch) - len(existing)
    return created, len(rows) - created


def count_subscribers(conn: Connection, list_id: int) -> int:
    T = table(Subscriber)
    return int(conn.execute(select(func.count()).where(T.c.list_id == list_id)).scalar_one())
