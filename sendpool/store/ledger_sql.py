"""The quota ledger and rotation cursors on the SQL database (the default back end).

A reservation reads and bumps the day and hour rows (and the rate state) in
one transaction that holds the write lock: BEGIN IMMEDIATE on SQLite, row
locks on PostgreSQL. However many workers race for the last unit, one wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, or_, select, update

from sendpool.core.quota import Denial, Grant, grantable
from sendpool.core.ratelimit import Throttle, take_rates
from sendpool.core.servers import Caps, Usage
from sendpool.core.windows import ServerWindows
from sendpool.store.claim_days import ClaimDays, Days
from sendpool.store.database import Database, insert_for
from sendpool.store.holdings import mark_reserved_sync
from sendpool.store.records import Held, ReservationMark
from sendpool.store.tables import (
    ProviderRateState,
    QuotaUsage,
    RateState,
    RotationCursor,
    table,
)
from sendpool.store.types import driver_time

Q = table(QuotaUsage)


# A reservation's statements in the driver's own SQL: it runs for every server of
# every claimed batch, and as expressions they cost several times the SQL itself.
# The day row comes before the hour row, in every transaction: a fixed lock order.
_KEPT = timedelta(days=1)  # rows outlive their window by a day so /stats can still read it
_MATCH = (
    "server_id = {p} AND ((\"window\" = 'day' AND window_key = {p}) "
    "OR (\"window\" = 'hour' AND window_key = {p}))"
)


def _reserve_sql(p: str, lock: str) -> dict[str, str]:
    match = _MATCH.format(p=p)
    return {
        "insert": 'INSERT INTO quota_usage (server_id, "window", window_key, used, expires_at) '
        f"VALUES ({p}, 'day', {p}, 0, {p}), ({p}, 'hour', {p}, 0, {p}) ON CONFLICT DO NOTHING",
        "select": f'SELECT "window", used FROM quota_usage WHERE {match}{lock}',
        "update": f"UPDATE quota_usage SET used = used + {p} WHERE {match}",
    }


_RESERVE = {
    "sqlite": _reserve_sql("?", ""),
    "postgresql": _reserve_sql("%s", ' ORDER BY "window" FOR UPDATE'),
}


def _match(server_id: int, w: ServerWindows) -> ColumnElement[bool]:
    return and_(
        Q.c.server_id == server_id,
        or_(
            and_(Q.c.window == "day", Q.c.window_key == w.day.key),
            and_(Q.c.window == "hour", Q.c.window_key == w.hour.key),
        ),
    )


def usage_sync(conn: Connection, servers: Mapping[int, ServerWindows]) -> dict[int, Usage]:
    if not servers:
        return {}
    conds = [_match(sid, w) for sid, w in servers.items()]
    rows = conn.execute(
        select(Q.c.server_id, Q.c.window, Q.c.window_key, Q.c.used).where(or_(*conds))
    )
    day: dict[int, int] = {}
    hour: dict[int, int] = {}
    for sid, window, _key, used in rows:
        (day if window == "day" else hour)[sid] = used
    return {sid: Usage(day.get(sid, 0), hour.get(sid, 0)) for sid in servers}


def reserve_sync(
    conn: Connection,
    server_id: int,
    w: ServerWindows,
    caps: Caps,
    count: int,
    now: datetime,
    mark: ReservationMark | None = None,
    throttle: Throttle | None = None,
    days: Days | None = None,
) -> Grant:
    if count <= 0:
        return Grant(0)
    sql = _RESERVE[conn.dialect.name]
    t = driver_time(conn)
    day, hour = w.day, w.hour
    expiry = (t(day.end + _KEPT), t(hour.end + _KEPT))
    conn.exec_driver_sql(
        sql["insert"], (server_id, day.key, expiry[0], server_id, hour.key, expiry[1])
    )
    keys = (server_id, day.key, hour.key)
    used = {window: n for window, n in conn.exec_driver_sql(sql["select"], keys)}
    n, denial = grantable(caps, Usage(used.get("day", 0), used.get("hour", 0)), count)
    retry_after = None
    if n > 0 and (caps.rate or throttle is not None):
        n, denial, retry_after = _take_rates(conn, server_id, caps.rate, throttle, n, now, denial)
    if n > 0:
        conn.exec_driver_sql(sql["update"], (n, *keys))
        if mark is not None:
            # In the units' own transaction: a crash can never leave one unmarked.
            granted = [(i, server_id) for i in mark.message_ids[:n]]
            mark_reserved_sync(conn, mark.holder, granted, now, days)
    return Grant(n, denial, retry_after)


def _tat(
    conn: Connection, model: type[RateState] | type[ProviderRateState], **key: object
) -> float:
    """The row's TAT, locked on PostgreSQL; created at 0 (no sends yet) if missing."""
    T = table(model)
    conn.execute(insert_for(conn, T).values(**key, tat=0.0).on_conflict_do_nothing())
    stmt = select(T.c.tat).where(*(T.c[k] == v for k, v in key.items()))
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return float(conn.execute(stmt).scalar_one())


def _take_rates(
    conn: Connection,
    server_id: int,
    rate: float | None,
    throttle: Throttle | None,
    n: int,
    now: datetime,
    denial: Denial | None,
) -> tuple[int, Denial | None, float | None]:
    # The server's row before its group's, in every transaction: a fixed lock order.
    tat = _tat(conn, RateState, server_id=server_id) if rate else 0.0
    gkey = {"server_id": server_id, "group_name": throttle.group} if throttle else {}
    group_tat = _tat(conn, ProviderRateState, **gkey) if throttle else 0.0
    d = take_rates(n, now.timestamp(), rate, tat, throttle, group_tat)
    if d.server_tat is not None:
        R = table(RateState)
        conn.execute(update(R).where(R.c.server_id == server_id).values(tat=d.server_tat))
    if d.group_tat is not None:
        G = table(ProviderRateState)
        where = (G.c.server_id == server_id, G.c.group_name == gkey["group_name"])
        conn.execute(update(G).where(*where).values(tat=d.group_tat))
    if d.limited_by is not None:
        return d.granted, Denial(d.limited_by), d.retry_after
    return d.granted, denial, None


def release_sync(conn: Connection, releases: Mapping[tuple[int, ServerWindows], int]) -> None:
    # In server order, so two releases never lock the same rows in opposite orders.
    for (server_id, w), n in sorted(releases.items(), key=lambda r: r[0][0]):
        if n > 0:  # the reservation's own statement, adding -n
            update_sql = _RESERVE[conn.dialect.name]["update"]
            conn.exec_driver_sql(update_sql, (-n, server_id, w.day.key, w.hour.key))


def advance_cursor_sync(conn: Connection, plan_id: int, count: int) -> int:
    """Move the plan's cursor on by ``count``; return where it stood before."""
    C = table(RotationCursor)
    conn.execute(insert_for(conn, C).values(plan_id=plan_id, position=0).on_conflict_do_nothing())
    new = conn.execute(
        update(C)
        .where(C.c.plan_id == plan_id)
        .values(position=C.c.position + count)
        .returning(C.c.position)
    ).scalar_one()
    return int(new) - count


def purge_expired_sync(conn: Connection, now: datetime) -> int:
    return conn.execute(Q.delete().where(Q.c.expires_at < now)).rowcount


class SqlLedger:
    """The ledger interface over the SQL database.

    ``days``: the queue's part_day of each message claimed (store/claim_days.py),
    so a reservation's marks name their partitions on PostgreSQL.
    """

    def __init__(self, db: Database, days: ClaimDays | None = None) -> None:
        self.db = db
        self.days = days

    def close(self) -> None:
        """Nothing of its own to close: the database belongs to the runtime."""

    async def usage(self, servers: Mapping[int, ServerWindows]) -> dict[int, Usage]:
        return await self.db.run(usage_sync, servers)

    marks_reservations = True

    async def reserve(
        self,
        server_id: int,
        windows: ServerWindows,
        caps: Caps,
        count: int,
        now: datetime,
        mark: ReservationMark | None = None,
        throttle: Throttle | None = None,
    ) -> Grant:
        days = None
        if mark is not None and self.days is not None:
            days = self.days.of(mark.message_ids[:count])
        return await self.db.run(
            reserve_sync, server_id, windows, caps, count, now, mark, throttle, days
        )

    async def release(
        self, releases: Mapping[tuple[int, ServerWindows], int], held: Sequence[Held] = ()
    ) -> None:
        # The counts say it all here: one store, and no unit is held apart from its marks.
        if releases:
            await self.db.run(release_sync, releases)

    async def forget(self, message_ids: Sequence[int]) -> None:
        return None  # units are not noted per message here

    async def whole(self) -> bool:
        return True  # one store, one transaction: a unit given back is always counted

    async def advance_cursor(self, plan_id: int, count: int) -> int:
        return await self.db.run(advance_cursor_sync, plan_id, count)
