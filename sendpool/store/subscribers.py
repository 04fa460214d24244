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

from sqlalchemy import Connection, Select, func, select, text

from sendpool.store.tables import Subscriber, table
from sendpool.store.types import driver_time

# SQLite: driver SQL with executemany (compiling a many-row INSERT per batch cost more than
# the insert), after one probe of the unique key for the addresses already there.
_UPSERT_SQLITE = (
    "INSERT INTO subscribers (list_id, email, email_key, fields, status, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (list_id, email_key) "
    "DO UPDATE SET fields = json_patch(subscribers.fields, excluded.fields)"
)
# PostgreSQL: the batch as three arrays in one statement. The conflict check is the unique
# key's own probe, which no statistics can turn into a scan, and RETURNING says which rows
# were new (xmax = 0: no earlier version was locked or updated), so nothing is looked up.
UPSERT_POSTGRES = """
WITH written AS (
    INSERT INTO subscribers (list_id, email, email_key, fields, status, created_at)
    SELECT %(list_id)s, r.email, r.email_key, r.fields::json, 'subscribed', %(now)s
    FROM unnest(%(emails)s::text[], %(keys)s::text[], %(fields)s::text[])
         WITH ORDINALITY AS r(email, email_key, fields, n)
    ORDER BY r.n
    ON CONFLICT (list_id, email_key)
    DO UPDATE SET fields = (subscribers.fields::jsonb || excluded.fields::jsonb)::json
    RETURNING xmax = 0 AS created
)
SELECT count(*) FILTER (WHERE created) FROM written
"""
# Planner statistics are refreshed after an import that added at least this many rows.
ANALYZE_AFTER = 10_000


def email_key(address: str) -> str:
    """What makes two addresses one subscriber: the same letters, whatever their case."""
    return address.lower()


def existing_keys_query(list_id: int, keys: list[str]) -> Select[tuple[str]]:
    """The keys of ``keys`` the list has already: one probe of the unique key each."""
    T = table(Subscriber)
    return select(T.c.email_key).where(T.c.list_id == list_id, T.c.email_key.in_(keys))


def upsert_subscribers(
    conn: Connection, list_id: int, rows: Sequence[tuple[str, dict[str, Any]]], now: datetime
) -> tuple[int, int]:
    """Insert new addresses, merge fields into existing ones; return (created, merged).

    The cost of a batch depends on the batch, not on how many subscribers the
    list has: each address is one probe of the (list_id, email_key) key.
    """
    merged_in_batch: dict[str, tuple[str, dict[str, Any]]] = {}
    for email, fields in rows:
        key = email_key(email)
        first, before = merged_in_batch.get(key, (email, {}))
        merged_in_batch[key] = (first, {**before, **fields})
    if not merged_in_batch:
        return 0, 0
    stamp = driver_time(conn)(now)
    if conn.dialect.name == "postgresql":
        params = {
            "list_id": list_id,
            "now": stamp,
            "emails": [e for e, _ in merged_in_batch.values()],
            "keys": list(merged_in_batch),
            "fields": [json.dumps(f) for _, f in merged_in_batch.values()],
        }
        created = int(conn.exec_driver_sql(UPSERT_POSTGRES, params).scalar_one())
    else:
        existing = conn.execute(existing_keys_query(list_id, list(merged_in_batch))).all()
        conn.exec_driver_sql(
            _UPSERT_SQLITE,
            [
                (list_id, e, key, json.dumps(f), "subscribed", stamp)
                for key, (e, f) in merged_in_batch.items()
            ],
        )
        created = len(merged_in_batch) - len(existing)
    return created, len(rows) - created


def analyze_subscribers(conn: Connection) -> None:
    """Fresh planner statistics after a bulk load (PostgreSQL).

    Nothing the import or the launch runs needs them (both go by their
    indexes), but other readers of the list do: a table last analysed when it
    was empty looks empty to the planner however many rows it has now. SQLite
    is left alone: without statistics it plans by its indexes, and ANALYZE
    there reads every row.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE subscribers"))


def count_subscribers(conn: Connection, list_id: int) -> int:
    T = table(Subscriber)
    return int(conn.execute(select(func.count()).where(T.c.list_id == list_id)).scalar_one())
