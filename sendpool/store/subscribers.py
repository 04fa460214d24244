"""Writing subscribers: upserts in batches, duplicates merged field by field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, select
from sqlalchemy.dialects.postgresql import JSONB

from sendpool.store.database import insert_for
from sendpool.store.tables import Subscriber, table


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
    values = [
        {"list_id": list_id, "email": e, "fields": f, "status": "subscribed", "created_at": now}
        for e, f in merged_in_batch.items()
    ]
    stmt = insert_for(conn, T).values(values)
    merged: ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        merged = func.cast(
            func.cast(T.c.fields, JSONB).op("||")(func.cast(stmt.excluded.fields, JSONB)),
            T.c.fields.type,
        )
    else:
        merged = func.json_patch(T.c.fields, stmt.excluded.fields)
    conn.execute(
        stmt.on_conflict_do_update(index_elements=[T.c.list_id, T.c.email], set_={"fields": merged})
    )
    created = len(merged_in_batch) - len(existing)
    return created, len(rows) - created


def count_subscribers(conn: Connection, list_id: int) -> int:
    T = table(Subscriber)
    return int(conn.execute(select(func.count()).where(T.c.list_id == list_id)).scalar_one())
