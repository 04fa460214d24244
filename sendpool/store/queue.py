"""The messages table as a queue: claim due batches under a lease, write outcomes back.

A claimed row is 'sending' and its due_at becomes the lease's end: if the
worker dies, the row is simply due again and the next claim takes it.
PostgreSQL claims with FOR UPDATE SKIP LOCKED, so workers never wait on each
other; SQLite serialises claims with its write lock. On PostgreSQL the
claim returns each row's ``part_day`` and the queue keeps it until the row
is written back or handed back, so every statement by id names the rows'
day partitions (store/claim_days.py); the write-back is store/write_back.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from sendpool.core.states import ServerHealth
from sendpool.store.backoffs import record_backoffs
from sendpool.store.campaign_done import mark_done
from sendpool.store.claim_days import ClaimDays, Days
from sendpool.store.database import Database, insert_for
from sendpool.store.holdings import (
    clear_reservations_sync,
    in_days,
    mark_handed_sync,
    mark_reserved_sync,
    renew_leases_sync,
)
from sendpool.store.records import ClaimedMessage, RecordBatch
from sendpool.store.sqlite_lists import marks, pad
from sendpool.store.tables import (
    DeliveryEvent,
    DispatchSkip,
    Message,
    SendingServer,
    Suppression,
    table,
)
from sendpool.store.types import aware_utc, driver_time
from sendpool.store.waking import WAITING_PREFIX, WOKEN, wake_servers
from sendpool.store.write_back import write_back

_CLAIM_COLUMNS = (
    "id, uid, customer_id, campaign_id, subscriber_id, recipient, kind, attempts, "
    "queued_at, payload, reserved_server_id, reserved_at, handed_at, retry_server_id, "
    "last_error"
)

_CLAIM_SQLITE = f"""
UPDATE messages SET status = 'sending', claimed_by = :worker, due_at = :lease_until,
       updated_at = :now
WHERE id IN (
    SELECT id FROM messages
    WHERE status IN ('queued', 'deferred', 'sending') AND due_at <= :now
      AND (claimed_by IS NULL OR claimed_by <> :worker)
    ORDER BY due_at LIMIT :limit
)
RETURNING {_CLAIM_COLUMNS}
"""

# Joined by the whole key (id, part_day): each row is one probe of its own partition's key.
_CLAIM_POSTGRES = f"""
UPDATE messages AS m SET status = 'sending', claimed_by = :worker, due_at = :lease_until,
       updated_at = :now
FROM (
    SELECT id, part_day FROM messages
    WHERE status IN ('queued', 'deferred', 'sending') AND due_at <= :now
      AND (claimed_by IS NULL OR claimed_by <> :worker)
    ORDER BY due_at LIMIT :limit
    FOR UPDATE SKIP LOCKED
) AS due
WHERE m.id = due.id AND m.part_day = due.part_day
RETURNING {", ".join("m." + c for c in (*_CLAIM_COLUMNS.split(", "), "part_day"))}
"""


def _driver_sql(sql: str, dialect: str) -> str:
    """The claim in the driver's own parameter style (sqlite3 takes ``:name`` as it is)."""
    return sql if dialect == "sqlite" else re.sub(r":(\w+)", r"%(\1)s", sql)


_CLAIM = {
    "sqlite": _driver_sql(_CLAIM_SQLITE, "sqlite"),
    "postgresql": _driver_sql(_CLAIM_POSTGRES, "postgresql"),
}


def _time(value: Any) -> datetime:
    aware = aware_utc(value)
    assert aware is not None, "queued_at is never null"
    return aware


def _json(value: Any) -> Any:
    """A JSON column as the driver gave it: text on SQLite, already parsed by psycopg."""
    return json.loads(value) if isinstance(value, str) else value


def _waited(last_error: str | None) -> bool:
    """Whether the message was sent to wait before: its skips were counted then."""
    return last_error is not None and (last_error.startswith(WAITING_PREFIX) or last_error == WOKEN)


def claim_sync(
    conn: Connection,
    worker: str,
    limit: int,
    now: datetime,
    lease_until: datetime,
    days: dict[int, int] | None = None,
) -> list[ClaimedMessage]:
    """Claim up to ``limit`` due messages; ``days`` gets each one's part_day (PostgreSQL)."""
    # In the driver's own SQL, rows converted here: the claim runs for every batch, and
    # the expression layer's per-row processing cost more than the UPDATE itself.
    dialect = conn.dialect.name
    t = driver_time(conn)
    params = {"worker": worker, "limit": limit, "now": t(now), "lease_until": t(lease_until)}
    rows = conn.exec_driver_sql(_CLAIM[dialect], params).fetchall()
    claimed = []
    for r in rows:
        m = ClaimedMessage(
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _time(r[8]), _json(r[9]),
            r[10], aware_utc(r[11]), aware_utc(r[12]), r[13],
        )  # fmt: skip
        m.waited = _waited(r[14])
        if days is not None and len(r) > 15:
            days[int(r[0])] = int(r[15])  # PostgreSQL's part_day
        claimed.append(m)
    sub_ids = [m.subscriber_id for m in claimed if m.subscriber_id is not None]
    if sub_ids:
        if dialect == "sqlite":
            sql = f"SELECT id, fields FROM subscribers WHERE id IN ({marks(len(sub_ids))})"
            found = conn.exec_driver_sql(sql, pad(sub_ids)).fetchall()
        else:
            sql = "SELECT id, fields FROM subscribers WHERE id = ANY(%s::bigint[])"
            found = conn.exec_driver_sql(sql, (sub_ids,)).fetchall()
        fields = {sid: _json(f) for sid, f in found}
        for m in claimed:
            if m.subscriber_id is not None:
                m.fields = dict(fields.get(m.subscriber_id) or {})
    return claimed


_M = table(Message)


def record_sync(
    conn: Connection, worker: str, batch: RecordBatch, now: datetime, days: Days | None = None
) -> None:
    """Write a batch back; ``days``: its messages' part_days, so PostgreSQL names partitions."""
    if batch.updates:
        mark_done(conn, write_back(conn, worker, batch, now, days), now)
    S = table(SendingServer)
    _lock_servers(conn, {h.server_id for h in batch.health} | set(batch.paused))
    recovered = _recovering(conn, batch)
    for h in batch.health:
        values: dict[str, object] = {
            "health": h.health,
            "next_check_at": h.next_check_at,
            "health_error": h.error,
        }
        if h.checked:
            values["health_checked_at"] = h.at
        if h.smtputf8 is not None:
            values["smtputf8"] = h.smtputf8
        if h.vendor_daily_limit is not None:
            values["vendor_daily_limit"] = h.vendor_daily_limit
        if h.health == "degraded":
            values["degraded_at"] = h.at
        conn.execute(update(S).where(S.c.id == h.server_id).values(**values))
    for server_id, until in batch.paused.items():
        conn.execute(update(S).where(S.c.id == server_id).values(paused_until=until))
    if recovered:
        wake_servers(conn, recovered, now)  # their plans' waiting mail may go now
    _record_activity(conn, batch.activity)
    if batch.suppressions:
        suppressed = [
            {
                "customer_id": s.customer_id,
                "email": s.email,
                "reason": s.reason,
                "server_id": s.server_id,
                "kind": s.kind,
                "created_at": now,
            }
            for s in sorted(batch.suppressions, key=lambda x: (x.customer_id, x.email))
        ]
        conn.execute(
            insert_for(conn, table(Suppression)).values(suppressed).on_conflict_do_nothing()
        )
    if batch.events:
        conn.execute(
            table(DeliveryEvent).insert(),
            [
                {
                    "server_id": e.server_id,
                    "message_id": e.message_id,
                    "kind": e.kind,
                    "detail": e.detail,
                    "created_at": now,
                    "customer_id": e.customer_id,
                    "recipient": e.recipient[:320] if e.recipient else None,
                    "status_code": e.status_code[:16] if e.status_code else None,
                    "source": "smtp",  # the reply of the conversation itself
                }
                for e in batch.events
            ],
        )
    _record_skips(conn, batch)
    record_backoffs(conn, batch.deferrals, batch.group_sent, now)  # last: its locks come last


def _recovering(conn: Connection, batch: RecordBatch) -> list[int]:
    """Servers degraded in the database that this write-back makes healthy again."""
    healthy = {h.server_id for h in batch.health if h.health == ServerHealth.HEALTHY}
    if not healthy:
        return []
    S = table(SendingServer)
    degraded = S.c.health == ServerHealth.DEGRADED
    stmt = select(S.c.id).where(S.c.id.in_(sorted(healthy)), degraded)
    return [int(i) for i in conn.execute(stmt).scalars()]


def _lock_servers(conn: Connection, ids: set[int]) -> None:
    """Lock the server rows a write-back changes, in id order, before changing any.

    PostgreSQL locks rows as it updates them: two workers updating the same
    servers in different orders would deadlock. The lock is FOR NO KEY UPDATE,
    the one an UPDATE of these columns takes: every write-back whose messages
    name a server holds that row FOR KEY SHARE (the foreign key's check) until
    it commits, and FOR UPDATE would wait for it; two write-backs doing both
    would deadlock, and so would their retries, round after round. SQLite holds
    one write lock.
    """
    if ids and conn.dialect.name == "postgresql":
        S = table(SendingServer)
        stmt = select(S.c.id).where(S.c.id.in_(ids)).order_by(S.c.id)
        conn.execute(stmt.with_for_update(key_share=True))


def _record_activity(conn: Connection, activity: dict[int, datetime]) -> None:
    """Note when each server last sent; a row another write-back holds is left to it.

    On PostgreSQL every worker's write-back would otherwise queue behind the
    others' for these few rows, many times a second; SKIP LOCKED lets it pass.
    """
    if not activity:
        return
    if conn.dialect.name == "sqlite":  # one writer at a time: nothing to skip, one statement
        t = driver_time(conn)
        rows = [(t(at), server_id) for server_id, at in sorted(activity.items())]
        conn.exec_driver_sql("UPDATE sending_servers SET last_activity_at = ? WHERE id = ?", rows)
        return
    S = table(SendingServer)
    for server_id, at in sorted(activity.items()):
        where = S.c.id == server_id
        if conn.dialect.name == "postgresql":
            # NO KEY UPDATE, as above: FOR UPDATE would skip every server named by
            # another write-back's messages, which is nearly always.
            free = select(S.c.id).where(where).with_for_update(skip_locked=True, key_share=True)
            where = S.c.id.in_(free.scalar_subquery())
        conn.execute(update(S).where(where).values(last_activity_at=at))


def _record_skips(conn: Connection, batch: RecordBatch) -> None:
    T = table(DispatchSkip)
    # Upserts in key order, so concurrent write-backs never wait on each other in a circle.
    for s in sorted(batch.skips, key=lambda k: (k.plan_id, k.server_id, k.day, k.code)):
        stmt = insert_for(conn, T).values(
            plan_id=s.plan_id,
            server_id=s.server_id,
            day=s.day,
            code=s.code,
            count=s.count,
            last_reason=s.last_reason,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[T.c.plan_id, T.c.server_id, T.c.day, T.c.code],
                set_={"count": T.c.count + s.count, "last_reason": s.last_reason},
            )
        )


def release_claims_sync(
    conn: Connection,
    worker: str,
    ids: Sequence[int],
    now: datetime,
    due: datetime | None = None,
    days: Days | None = None,
) -> int:
    """Hand claimed messages back, due at ``due`` (now by default), without counting an attempt.

    Their reservation marks stay as they are: a message another worker left
    is still taken over properly by whoever claims it next.
    """
    if not ids:
        return 0
    return conn.execute(
        update(_M)
        .where(_M.c.id.in_(ids), *in_days(days), _M.c.claimed_by == worker)
        .where(_M.c.status == "sending")
        .values(status="queued", due_at=due or now, claimed_by=None, updated_at=now)
    ).rowcount


class SqlQueue:
    """The queue on the database; remembers the part_day of each message it holds."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.days = ClaimDays()

    async def claim(
        self, worker: str, limit: int, now: datetime, lease_until: datetime
    ) -> list[ClaimedMessage]:
        days: dict[int, int] = {}
        claimed = await self.db.run(claim_sync, worker, limit, now, lease_until, days)
        self.days.remember(days)
        return claimed

    async def record(self, worker: str, batch: RecordBatch, now: datetime) -> None:
        if batch:
            ids = [u.id for u in batch.updates]
            await self.db.run(record_sync, worker, batch, now, self.days.of(ids))
            self.days.forget(ids)

    async def release_claims(
        self, worker: str, ids: Sequence[int], now: datetime, due: datetime | None = None
    ) -> int:
        released = await self.db.run(release_claims_sync, worker, ids, now, due, self.days.of(ids))
        self.days.forget(ids)
        return released

    async def mark_reserved(
        self, worker: str, reserved: Sequence[tuple[int, int]], at: datetime
    ) -> None:
        days = self.days.of(i for i, _ in reserved)
        await self.db.run(mark_reserved_sync, worker, reserved, at, days)

    async def mark_handed(self, worker: str, ids: Sequence[int], at: datetime) -> None:
        await self.db.run(mark_handed_sync, worker, ids, at, self.days.of(ids))

    async def renew_leases(self, worker: str, ids: Sequence[int], until: datetime) -> int:
        return await self.db.run(renew_leases_sync, worker, ids, until, self.days.of(ids))

    async def clear_reservations(self, worker: str, ids: Sequence[int]) -> None:
        await self.db.run(clear_reservations_sync, worker, ids, self.days.of(ids))
