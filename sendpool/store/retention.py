"""Deleting old history in batches: settled messages, events, daily skip counts, audit entries.

Each function deletes (or, in a dry run, counts) one batch and returns where
the next batch starts, so each batch is its own transaction and an
interrupted run carries on from what is left. Every batch reads one index
range that starts where the previous batch stopped, never from the start of
the table: on PostgreSQL the entries of rows just deleted stay in the index
until vacuum, and a scan from the start would step over all of them again.

- messages: settled rows (``SETTLED_MESSAGE_STATES``) whose ``updated_at``
  (the settle time) is before the cutoff, in (updated_at, id) order along the
  partial index ``ix_messages_settled_at``; a pending row is never in that
  index, and the delete checks the state again, so a row that went back to
  the queue since it was read stays.
- delivery_events, webhook_unmatched, audit_log: rows before the cutoff by
  their insert time, along the primary key (ids are given in insert order); a
  batch with no old row ends the walk.
- dispatch_skips: per (plan, server), the days before the cutoff day, one
  index range each.

Nothing here touches a rollup table: the per-day counts outlive the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, delete, select, text, tuple_

from sendpool.core.states import SETTLED_MESSAGE_STATES
from sendpool.store.tables import (
    AuditEntry,
    DeliveryEvent,
    DispatchSkip,
    Message,
    WebhookUnmatched,
    table,
)

# Word for word the predicate of ix_messages_settled_at: SQLite uses a partial index
# only for a query whose WHERE holds the index's own terms.
SETTLED_SQL = "status IN ({})".format(",".join(f"'{s}'" for s in sorted(SETTLED_MESSAGE_STATES)))
PAIRS_PER_BATCH = 500  # (plan, server) pairs of dispatch_skips looked at per transaction

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """What one batch deleted (or would delete), and the key the next one starts after."""

    rows: int
    after: Key | None  # None: nothing is left to look at
    read: int = 0  # index entries the batch read, for tests of its cost


def sweep_messages(
    conn: Connection, *, cutoff: datetime, after: Key | None, limit: int, dry_run: bool
) -> Batch:
    """Settled messages that settled before ``cutoff``, the next ``limit`` of them."""
    M = table(Message)
    key = tuple_(M.c.updated_at, M.c.id)
    where: list[Any] = [text(SETTLED_SQL), M.c.updated_at < cutoff]
    if after is not None:
        where.append(key > tuple_(*after))
    keys = conn.execute(
        select(M.c.updated_at, M.c.id).where(*where).order_by(M.c.updated_at, M.c.id).limit(limit)
    ).all()
    if not keys:
        return Batch(0, None)
    last = tuple(keys[-1])
    if dry_run:
        rows = len(keys)
    else:
        # The same range again, with its state checked: a row requeued since stays.
        gone = conn.execute(delete(M).where(*where, key <= tuple_(*last)))
        rows = gone.rowcount
    return Batch(rows, last if len(keys) == limit else None, len(keys))


# The tables walked by id, with the column that says when each row was written.
BY_ID: dict[str, tuple[type[Any], str]] = {
    "delivery_events": (DeliveryEvent, "created_at"),
    "webhook_unmatched": (WebhookUnmatched, "received_at"),
    "audit_log": (AuditEntry, "at"),
}


def sweep_by_id(
    conn: Connection,
    name: str,
    *,
    cutoff: datetime,
    after: Key | None,
    limit: int,
    dry_run: bool,
) -> Batch:
    """Rows of table ``name`` (one of ``BY_ID``) written before ``cutoff``, oldest ids first.

    Ids grow with the write time, give or take the few seconds between
    concurrent writers: a batch with no row before the cutoff ends the walk,
    and a straggler a few seconds old goes at the next run.
    """
    model, at_name = BY_ID[name]
    T: Table = table(model)
    at: Column[Any] = T.c[at_name]
    start = after[0] if after is not None else None
    stmt = select(T.c.id, at).order_by(T.c.id).limit(limit)
    if start is not None:
        stmt = stmt.where(T.c.id > start)
    rows = conn.execute(stmt).all()
    old = sum(1 for _, written in rows if written < cutoff)
    if old == 0:
        return Batch(0, None, len(rows))
    last = int(rows[-1][0])
    if not dry_run:
        span = [T.c.id <= last, at < cutoff] + ([T.c.id > start] if start is not None else [])
        old = conn.execute(delete(T).where(*span)).rowcount
    return Batch(old, (last,) if len(rows) == limit else None, len(rows))


def sweep_skips(
    conn: Connection, *, before_day: str, after: Key | None, limit: int, dry_run: bool
) -> Batch:
    """Daily skip counts of days before ``before_day`` (YYYY-MM-DD), pair by pair.

    The next (plan, server) pair is one seek on the primary key, its old days
    one range of it, so the cost follows the pairs and the rows deleted, not
    the days kept.
    """
    T = table(DispatchSkip)
    pair = tuple_(T.c.plan_id, T.c.server_id)
    rows = read = 0
    cursor = after
    for _ in range(PAIRS_PER_BATCH):
        stmt = select(T.c.plan_id, T.c.server_id).order_by(T.c.plan_id, T.c.server_id).limit(1)
        if cursor is not None:
            stmt = stmt.where(pair > tuple_(*cursor))
        found = conn.execute(stmt).first()
        read += 1
        if found is None:
            return Batch(rows, None, read)
        cursor = (found[0], found[1])
        mine = and_(T.c.plan_id == found[0], T.c.server_id == found[1], T.c.day < before_day)
        if dry_run:
            counted = conn.execute(select(T.c.day).where(mine)).all()
            rows += len(counted)
        else:
            rows += conn.execute(delete(T).where(mine)).rowcount
        if rows >= limit:
            break
    return Batch(rows, cursor, read)
