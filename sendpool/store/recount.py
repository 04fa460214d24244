"""Units each server has used in its current windows, counted again from the messages.

The Redis ledger asks for this when Redis has lost its counters. The count
must never come out low, or a cap would be exceeded, so:

- it waits until no message claimed before the reset still holds a live
  lease: such a message may hold a unit that no row records yet;
- the latest attempts in a row on the server the row names (``attempts_here``:
  a retry on the same server, as after a take-over, adds to them) are charged
  to it, at its sent_at (sent) or updated_at (otherwise);
- a row keeps only its last server, so an earlier attempt made on another
  server is charged to every server. A reset costs some capacity, never a cap;
- a unit reserved and not yet written back is charged to the server the row
  says it was reserved on, at ``reserved_at``, so a worker killed while it held
  messages is counted too (``store/holdings.py``); and the rebuilt ledger notes
  it as held by that message, so whoever takes the message over can give it
  back. Marks a claim made after the reset (plus the clock margin) wrote itself
  are left out: workers write marks before asking for a unit, and no unit is
  granted between a reset and its rebuild.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, case, func, select

from sendpool.core.servers import Usage
from sendpool.core.states import MessageStatus
from sendpool.core.windows import ServerWindows, windows_at
from sendpool.store.database import Database
from sendpool.store.ledger_redis import Recounted
from sendpool.store.tables import Message, SendingServer, table

M = table(Message)


def in_flight_before(conn: Connection, now: datetime, before: datetime) -> int:
    """Messages claimed before ``before`` whose lease is still running."""
    return int(
        conn.execute(
            select(func.count()).where(
                M.c.status == MessageStatus.SENDING, M.c.due_at > now, M.c.updated_at < before
            )
        ).scalar_one()
    )


def _maybe_granted(cutoff: datetime) -> ColumnElement[bool]:
    """Reservation marks whose unit an earlier Redis may have granted.

    Workers write the marks before they ask Redis for the units, so a claim
    made after the reset (``updated_at`` at or past ``cutoff``) may carry marks
    of its own (``reserved_at`` not before its claim) for units that were never
    granted: no unit is granted between a reset and its rebuild. Those are left
    out. Marks a row carries over from an earlier holder, and every mark of a
    claim from before the reset, are counted.
    """
    return ~((M.c.updated_at >= cutoff) & (M.c.reserved_at >= M.c.updated_at))


def _count(
    conn: Connection, ids: list[int], day: datetime, hour: datetime, marked_before: datetime
) -> dict[int, Usage]:
    at = case((M.c.status == MessageStatus.SENT, M.c.sent_at), else_=M.c.updated_at)
    here = M.c.attempts_here
    rows = conn.execute(
        select(
            M.c.server_id,
            func.sum(case((at >= day, here), else_=0)),
            func.sum(case((at >= hour, here), else_=0)),
        )
        .where(M.c.server_id.in_(ids), here > 0, at >= day)
        .group_by(M.c.server_id)
    ).all()
    # Attempts made on servers the row no longer names: charged to every server.
    unknown = M.c.attempts - here
    extra_day, extra_hour = conn.execute(
        select(
            func.coalesce(func.sum(unknown), 0),
            func.coalesce(func.sum(case((M.c.updated_at >= hour, unknown), else_=0)), 0),
        ).where(M.c.updated_at >= day, M.c.attempts > 0)
    ).one()
    used = {int(sid): (int(d), int(h)) for sid, d, h in rows}
    # Units reserved and not yet written back (a send under way, or a worker that
    # died holding them): the row names the reserved server, not ``server_id``.
    at_r = M.c.reserved_at
    reserved = conn.execute(
        select(
            M.c.reserved_server_id,
            func.sum(case((at_r >= day, 1), else_=0)),
            func.sum(case((at_r >= hour, 1), else_=0)),
        )
        .where(M.c.reserved_server_id.in_(ids), at_r >= day, _maybe_granted(marked_before))
        .group_by(M.c.reserved_server_id)
    ).all()
    for sid, d, h in reserved:
        before = used.get(int(sid), (0, 0))
        used[int(sid)] = (before[0] + int(d), before[1] + int(h))
    return {
        sid: Usage(
            used.get(sid, (0, 0))[0] + int(extra_day), used.get(sid, (0, 0))[1] + int(extra_hour)
        )
        for sid in ids
    }


def recount_sync(
    conn: Connection, now: datetime, reset_at: datetime, clock_margin: float = 2.0
) -> dict[int, tuple[ServerWindows, Usage]] | None:
    """Usage per server now; None while a claim from before ``reset_at`` is in flight.

    ``clock_margin`` covers the skew between Redis's clock (``reset_at``) and
    the workers' clocks (a row's ``updated_at``).
    """
    cutoff = reset_at + timedelta(seconds=clock_margin)
    if in_flight_before(conn, now, cutoff):
        return None
    S = table(SendingServer)
    windows = {
        int(sid): windows_at(now, tz) for sid, tz in conn.execute(select(S.c.id, S.c.timezone))
    }
    by_start: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for sid, w in windows.items():
        by_start[(w.day.start, w.hour.start)].append(sid)
    out: dict[int, tuple[ServerWindows, Usage]] = {}
    for (day, hour), ids in by_start.items():
        for sid, usage in _count(conn, ids, day, hour, cutoff).items():
            out[sid] = (windows[sid], usage)
    return out


def held_sync(conn: Connection, marked_before: datetime) -> dict[int, datetime]:
    """Messages whose reservation marks are still written, with the time they carry."""
    rows = conn.execute(
        select(M.c.id, M.c.reserved_at).where(
            M.c.reserved_server_id.is_not(None), _maybe_granted(marked_before)
        )
    )
    return {int(i): at for i, at in rows if at is not None}


def rebuild_sync(
    conn: Connection, now: datetime, reset_at: datetime, clock_margin: float = 2.0
) -> Recounted | None:
    """The recount and the units still held, read in one transaction: one picture."""
    usage = recount_sync(conn, now, reset_at, clock_margin)
    if usage is None:
        return None
    return Recounted(usage, held_sync(conn, reset_at + timedelta(seconds=clock_margin)))


class SqlRecount:
    """The recount the Redis ledger consumes, over the SQL database."""

    def __init__(self, db: Database, *, clock_margin: float = 2.0) -> None:
        self.db = db
        self.clock_margin = clock_margin

    async def __call__(self, now: datetime, reset_at: datetime) -> Recounted | None:
        return await self.db.run(rebuild_sync, now, reset_at, self.clock_margin)
