"""The write-back: one UPDATE of messages for a whole batch of outcomes.

Moved out of store/queue.py, which keeps the claim and the rest of a
record. On PostgreSQL the statement names the day partitions of its rows
(``part_day = ANY(days)``, store/claim_days.py), so it reads the keys of
those partitions only.
"""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import Connection

from sendpool.core.states import SETTLED_MESSAGE_STATES
from sendpool.store.claim_days import Days, distinct_days
from sendpool.store.records import RecordBatch
from sendpool.store.sqlite_lists import LENGTHS, padded_length
from sendpool.store.types import driver_time

# The columns a write-back sets from each outcome, in the order of its rows' values.
UPDATE_COLUMNS = (
    "status", "due_at", "attempts", "server_id", "sent_at", "last_error", "smtp_code",
    "smtp_reply", "message_id", "remote_id", "hold", "retry_server_id",
)  # fmt: skip
_PG_TYPES = (
    "text", "timestamp", "int", "bigint", "timestamp", "text", "int", "text", "text", "text",
    "text", "bigint",
)  # fmt: skip
# Rows per statement on SQLite: 13 values a row, within its 32,766 bound parameters (a
# batch is at most max_in_flight, 2,000 by default, so two statements at most as a rule).
SQLITE_ROWS = LENGTHS[-1]


@functools.lru_cache(maxsize=64)
def write_back_sql(dialect: str, rows: int, *, by_day: bool = False) -> str:
    """One UPDATE for a whole batch: one statement, not one per message.

    Every right-hand side reads the row as it was, so ``m.attempts`` and
    ``m.server_id`` there are the old values: an attempt on the server the row
    already names adds to its run there, one on another server starts a new run
    (store/recount.py). Only rows still claimed by this worker change. On
    PostgreSQL the rows are locked first, in id order, as every other statement
    here takes its row locks; SQLite holds one write lock. RETURNING names the
    campaigns whose messages this settled. ``by_day`` (PostgreSQL): the lock
    and the update name the rows' day partitions, one more array parameter
    after the ids and after the worker's last mention.
    """
    sets = ", ".join(f"{c} = v.{c}" for c in UPDATE_COLUMNS)
    head = (
        "UPDATE messages AS m SET attempts_here = CASE WHEN m.server_id = v.server_id "
        "THEN m.attempts_here + v.attempts - m.attempts ELSE v.attempts - m.attempts END, "
        f"{sets}, claimed_by = NULL, updated_at = {{now}}, reserved_server_id = NULL, "
        "reserved_at = NULL, handed_at = NULL "
    )
    # SQLite's RETURNING sees the updated table alone, by its own name.
    tail = "WHERE m.id = v.id {locked}AND m.claimed_by = {w} RETURNING {m}campaign_id, {m}status"
    names = ", ".join(("id", *UPDATE_COLUMNS))
    if dialect == "postgresql":
        arrays = ", ".join(f"%s::{t}[]" for t in ("bigint", *_PG_TYPES))
        day = "AND part_day = ANY(%s::int[]) " if by_day else ""
        # Locked first, in id order, found by key (no plan may scan for the claim);
        # the claim is checked again on the locked rows.
        locked = (
            f"WITH locked AS (SELECT id FROM messages WHERE id = ANY(%s::bigint[]) {day}"
            "AND claimed_by = %s ORDER BY id FOR UPDATE), "
            f"v AS (SELECT * FROM unnest({arrays}) AS v({names})) "
        )
        mine = f"{day.replace('part_day', 'm.part_day')}AND m.id IN (SELECT id FROM locked) "
        where = tail.format(locked=mine, w="%s", m="m.")
        return locked + head.format(now="%s") + "FROM v " + where
    one = "(" + ", ".join("?" * (1 + len(UPDATE_COLUMNS))) + ")"
    values = f"WITH v({names}) AS (VALUES {', '.join([one] * rows)}) "
    return values + head.format(now="?") + "FROM v " + tail.format(locked="", w="?", m="")


def write_back(
    conn: Connection, worker: str, batch: RecordBatch, now: datetime, days: Days | None = None
) -> set[int]:
    """Apply the batch's message updates; return the campaigns of the messages it settled.

    ``days``: message id -> part_day for the batch's messages (PostgreSQL), or None.
    """
    t = driver_time(conn)
    by_id: dict[int, tuple[object, ...]] = {}
    for u in batch.updates:
        # A message named twice: the first update clears its claim, so the second
        # would change nothing, as it did when each was a statement of its own.
        by_id.setdefault(
            u.id,
            (
                u.id, u.status, t(u.due_at), u.attempts, u.server_id, t(u.sent_at),
                u.last_error, u.smtp_code, u.smtp_reply, u.message_id, u.remote_id, u.hold,
                u.retry_server_id,
            ),
        )  # fmt: skip
    rows = [by_id[i] for i in sorted(by_id)]  # in id order, as the row locks are taken
    stamp = t(now)
    returned: list[tuple[int | None, str]] = []
    if conn.dialect.name == "postgresql":
        columns = [list(c) for c in zip(*rows, strict=True)]
        parts = distinct_days(days) if days is not None and set(by_id) <= set(days) else None
        sql = write_back_sql("postgresql", len(rows), by_day=parts is not None)
        if parts is None:
            params: tuple[object, ...] = (columns[0], worker, *columns, stamp, worker)
        else:
            params = (columns[0], parts, worker, *columns, stamp, parts, worker)
        returned += conn.exec_driver_sql(sql, params).all()
    else:
        for i in range(0, len(rows), SQLITE_ROWS):
            chunk = rows[i : i + SQLITE_ROWS]
            # Padded with rows of NULLs, which match no message: a few statement texts
            # in all, each compiled once (store/sqlite_lists.py).
            fill = padded_length(len(chunk)) - len(chunk)
            flat = [value for row in chunk for value in row]
            flat += [None] * (fill * len(chunk[0]))
            sql = write_back_sql("sqlite", len(chunk) + fill)
            returned += conn.exec_driver_sql(sql, (*flat, stamp, worker)).all()
    return {
        c for c, status in returned if c is not None and status in SETTLED_MESSAGE_STATES
    }  # text; StrEnum hashes as it
