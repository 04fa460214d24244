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

from sqlalchemy import Connection, case, update

from sendpool.core.states import MessageStatus
from sendpool.store.tables import Message, table
from sendpool.store.types import driver_time

_M = table(Message)


def _mark(paramstyle: str) -> str:
    return "?" if paramstyle == "qmark" else "%s"


def mark_reserved_sync(
    conn: Connection, worker: str, reserved: Sequence[tuple[int, int]], at: datetime
) -> None:
    """Record ``(message id, server id)`` reservations made at ``at``, while the claim is ours."""
    if not reserved:
        return
    m = _mark(conn.dialect.paramstyle)
    t = driver_time(conn)(at)
    conn.exec_driver_sql(
        f"UPDATE messages SET reserved_server_id = {m}, reserved_at = {m} "
        f"WHERE id = {m} AND claimed_by = {m}",
        [(server_id, t, message_id, worker) for message_id, server_id in sorted(reserved)],
    )


def mark_handed_sync(conn: Connection, worker: str, ids: Sequence[int], at: datetime) -> None:
    """These messages go to their transports now: from here their units stay spent."""
    if ids:
        conn.execute(
            update(_M).where(_M.c.id.in_(list(ids)), _M.c.claimed_by == worker).values(handed_at=at)
        )


def renew_leases_sync(conn: Connection, worker: str, ids: Sequence[int], until: datetime) -> int:
    """Push the lease of messages this worker still holds; returns how many it still owns."""
    if not ids:
        return 0
    return int(
        conn.execute(
            update(_M)
            .where(
                _M.c.id.in_(list(ids)),
                _M.c.claimed_by == worker,
                _M.c.status == MessageStatus.SENDING,
            )
            .values(due_at=until)
        ).rowcount
        or 0
    )


def clear_reservations_sync(conn: Connection, worker: str, ids: Sequence[int]) -> None:
    """Settle the marks a crashed worker left, before any unit goes back: never twice.

    A message it never handed over just loses its marks (its unit goes back next).
    One it handed over keeps its unit spent, and the row now says so the way a
    written-back attempt would (its server, one more attempt, and one more of
    them on that server), so a ledger rebuilt from the rows later still counts
    that unit, and counts it there only.
    """
    if not ids:
        return
    mine = _M.c.id.in_(list(ids)) & (_M.c.claimed_by == worker)
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
