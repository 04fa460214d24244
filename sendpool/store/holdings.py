"""The marks a worker keeps on the messages it holds: the unit it reserved, the hand-over, the lease.

A worker writes a message's reserved unit before sending it, and marks it
handed over just before a transport gets it; both are cleared by the
write-back that settles the message. A worker that dies leaves them behind,
so whoever claims the message again knows whether its unit may come back
(never handed over: no transport ever saw the message) or stays spent (it
may have gone out). While a worker holds messages it renews their lease, so a
slow relay never makes them look abandoned (docs/design.md §3).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, update

from sendpool.core.states import MessageStatus
from sendpool.store.claim_days import Days, distinct_days
from sendpool.store.sqlite_lists import marks, pad
from sendpool.store.tables import Message, table
from sendpool.store.types import driver_time

_M = table(Message)


def in_days(days: Days | None) -> list[Any]:
    """``part_day IN (...)`` for the partitions of the rows named, or nothing when unknown.

    ``days`` is filled by the PostgreSQL claim only (store/claim_days.py):
    on SQLite it is empty and the statements are as they always were.
    """
    parts = distinct_days(days)
    return [] if parts is None else [_M.c.part_day.in_(parts)]


def _by_day(days: Days | None, column: str) -> tuple[str, list[list[int]]]:
    """PostgreSQL's ``AND column = ANY(days)`` and its parameter, or nothing when unknown."""
    parts = distinct_days(days)
    if parts is None:
        return "", []
    return f" AND {column} = ANY(%s::int[])", [parts]


def mark_reserved_sync(
    conn: Connection,
    worker: str,
    reserved: Sequence[tuple[int, int]],
    at: datetime,
    days: Days | None = None,
) -> None:
    """Record ``(message id, server id)`` reservations made at ``at``, while the claim is ours.

    On PostgreSQL one statement over two arrays: a row at a time probed the key
    of every partition for each id (140 µs a row in a worker's reservation).
    """
    if not reserved:
        return
    t = driver_time(conn)(at)
    reserved = sorted(reserved)  # in id order, the order the marks were always taken in
    if conn.dialect.name == "postgresql":
        day, by_day = _by_day(days, "m.part_day")
        conn.exec_driver_sql(
            "UPDATE messages AS m SET reserved_server_id = v.sid, reserved_at = %s "
            "FROM unnest(%s::bigint[], %s::int[]) AS v(id, sid) "
            f"WHERE m.id = v.id{day} AND m.claimed_by = %s",
            (
                t,
                [message_id for message_id, _ in reserved],
                [server_id for _, server_id in reserved],
                *by_day,
                worker,
            ),
        )
        return
    conn.exec_driver_sql(
        "UPDATE messages SET reserved_server_id = ?, reserved_at = ? "
        "WHERE id = ? AND claimed_by = ?",
        [(server_id, t, message_id, worker) for message_id, server_id in reserved],
    )


def mark_handed_sync(
    conn: Connection, worker: str, ids: Sequence[int], at: datetime, days: Days | None = None
) -> None:
    """These messages go to their transports now: from here their units stay spent.

    In the driver's own SQL: it runs before every few sends, and building the
    statement as an expression cost more than the update itself.
    """
    if not ids:
        return
    t = driver_time(conn)(at)
    if conn.dialect.name != "postgresql":
        sql = (
            f"UPDATE messages SET handed_at = ? WHERE id IN ({marks(len(ids))}) AND claimed_by = ?"
        )
        conn.exec_driver_sql(sql, (t, *pad(ids), worker))
        return
    day, by_day = _by_day(days, "part_day")
    sql = (
        f"UPDATE messages SET handed_at = %s WHERE id = ANY(%s::bigint[]){day} AND claimed_by = %s"
    )
    params = (t, list(ids), *by_day, worker)
    conn.exec_driver_sql(sql, params)


def renew_leases_sync(
    conn: Connection, worker: str, ids: Sequence[int], until: datetime, days: Days | None = None
) -> int:
    """Push the lease of messages this worker still holds; returns how many it still owns."""
    if not ids:
        return 0
    return int(
        conn.execute(
            update(_M)
            .where(
                _M.c.id.in_(list(ids)),
                *in_days(days),
                _M.c.claimed_by == worker,
                _M.c.status == MessageStatus.SENDING,
            )
            .values(due_at=until)
        ).rowcount
        or 0
    )


def clear_reservations_sync(
    conn: Connection, worker: str, ids: Sequence[int], days: Days | None = None
) -> None:
    """Settle the marks a crashed worker left, before any unit goes back: never twice.

    A message it never handed over just loses its marks (its unit goes back next).
    One it handed over keeps its unit spent, and the row now says so the way a
    written-back attempt would (its server, one more attempt, and one more of
    them on that server), so a ledger rebuilt from the rows later still counts
    that unit, and counts it there only.
    """
    if not ids:
        return
    mine = and_(_M.c.id.in_(list(ids)), *in_days(days), _M.c.claimed_by == worker)
    cleared = {"reserved_server_id": None, "reserved_at": None, "handed_at": None}
    conn.execute(
        update(_M)
        .where(mine, _M.c.handed_at.is_not(None))
        .values(
            server_id=_M.c.reserved_server_id,
            attempts=_M.c.attempts + 1,
            attempts_here=case(
                (_M.c.server_id == _M.c.reserved_server_id, _M.c.attempts_here + 1), else_=1
            ),
            **cleared,
        )
    )
    conn.execute(update(_M).where(mine, _M.c.handed_at.is_(None)).values(**cleared))
