"""The messages table as a queue: claim due batches under a lease, write outcomes back.

A claimed row is 'sending' and its due_at becomes the lease's end: if the
worker dies, the row is simply due again and the next claim takes it.
PostgreSQL claims with FOR UPDATE SKIP LOCKED, so workers never wait on each
other; SQLite serialises claims with its write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Integer,
    String,
    bindparam,
    column,
    select,
    text,
    update,
)
from sqlalchemy.sql.selectable import TextualSelect

from sendpool.core.states import MessageStatus, ServerHealth
from sendpool.store.backoffs import record_backoffs
from sendpool.store.campaign_done import mark_done
from sendpool.store.database import Database, insert_for
from sendpool.store.holdings import (
    clear_reservations_sync,
    mark_handed_sync,
    mark_reserved_sync,
    renew_leases_sync,
)
from sendpool.store.records import ClaimedMessage, RecordBatch
from sendpool.store.tables import (
    DeliveryEvent,
    DispatchSkip,
    Message,
    SendingServer,
    Subscriber,
    Suppression,
    table,
)
from sendpool.store.types import UTCDateTime, driver_time
from sendpool.store.waking import WAITING_PREFIX, WOKEN, wake_servers

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

_CLAIM_POSTGRES = f"""
UPDATE messages AS m SET status = 'sending', claimed_by = :worker, due_at = :lease_until,
       updated_at = :now
FROM (
    SELECT id FROM messages
    WHERE status IN ('queued', 'deferred', 'sending') AND due_at <= :now
      AND (claimed_by IS NULL OR claimed_by <> :worker)
    ORDER BY due_at LIMIT :limit
    FOR UPDATE SKIP LOCKED
) AS due
WHERE m.id = due.id
RETURNING {", ".join("m." + c for c in _CLAIM_COLUMNS.split(", "))}
"""


def _typed(sql: str) -> TextualSelect:
    return (
        text(sql)
        .bindparams(
            bindparam("now", type_=UTCDateTime()), bindparam("lease_until", type_=UTCDateTime())
        )
        .columns(
            column("id", BigInteger()),
            column("uid", String()),
            column("customer_id", BigInteger()),
            column("campaign_id", BigInteger()),
            column("subscriber_id", BigInteger()),
            column("recipient", String()),
            column("kind", String()),
            column("attempts", Integer()),
            column("queued_at", UTCDateTime()),
            column("payload", JSON()),
            column("reserved_server_id", BigInteger()),
            column("reserved_at", UTCDateTime()),
            column("handed_at", UTCDateTime()),
            column("retry_server_id", BigInteger()),
            column("last_error", String()),
        )
    )


_CLAIM = {"sqlite": _typed(_CLAIM_SQLITE), "postgresql": _typed(_CLAIM_POSTGRES)}


def _waited(last_error: str | None) -> bool:
    """Whether the message was sent to wait before: its skips were counted then."""
    return last_error is not None and (last_error.startswith(WAITING_PREFIX) or last_error == WOKEN)


def claim_sync(
    conn: Connection, worker: str, limit: int, now: datetime, lease_until: datetime
) -> list[ClaimedMessage]:
    params = {"worker": worker, "limit": limit, "now": now, "lease_until": lease_until}
    rows = conn.execute(_CLAIM[conn.dialect.name], params).all()
    claimed = []
    for r in rows:
        m = ClaimedMessage(*r[:-1])
        m.waited = _waited(r[-1])
        claimed.append(m)
    sub_ids = [m.subscriber_id for m in claimed if m.subscriber_id is not None]
    if sub_ids:
        fields: dict[int, dict[str, object]] = dict(
            conn.execute(
                select(Subscriber.id, Subscriber.fields).where(Subscriber.id.in_(sub_ids))
            ).all()
        )
        for m in claimed:
            if m.subscriber_id is not None:
                m.fields = dict(fields.get(m.subscriber_id) or {})
    return claimed


_M = table(Message)
# The columns a write-back sets from each outcome, in the order of its rows' values.
_UPDATE_COLUMNS = (
    "status", "due_at", "attempts", "server_id", "sent_at", "last_error", "smtp_code",
    "smtp_reply", "message_id", "remote_id", "hold", "retry_server_id",
)  # fmt: skip
_PG_TYPES = (
    "text", "timestamp", "int", "bigint", "timestamp", "text", "int", "text", "text", "text",
    "text", "bigint",
)  # fmt: skip
# Rows per statement on SQLite: 13 values a row, within its 32,766 bound parameters (a
# batch is at most max_in_flight, 2,000 by default, so one statement as a rule).
_SQLITE_ROWS = 2000


def _write_back_sql(dialect: str, rows: int) -> str:
    """One UPDATE for a whole batch: one statement, not one per message.

    Every right-hand side reads the row as it was, so ``m.attempts`` and
    ``m.server_id`` there are the old values: an attempt on the server the row
    already names adds to its run there, one on another server starts a new run
    (store/recount.py). Only rows still claimed by this worker change. On
    PostgreSQL the rows are locked first, in id order, as every other statement
    here takes its row locks; SQLite holds one write lock. RETURNING names the
    campaigns whose messages this settled.
    """
    sets = ", ".join(f"{c} = v.{c}" for c in _UPDATE_COLUMNS)
    head = (
        "UPDATE messages AS m SET attempts_here = CASE WHEN m.server_id = v.server_id "
        "THEN m.attempts_here + v.attempts - m.attempts ELSE v.attempts - m.attempts END, "
        f"{sets}, claimed_by = NULL, updated_at = {{now}}, reserved_server_id = NULL, "
        "reserved_at = NULL, handed_at = NULL "
    )
    # SQLite's RETURNING sees the updated table alone, by its own name.
    tail = "WHERE m.id = v.id {locked}AND m.claimed_by = {w} RETURNING {m}campaign_id, {m}status"
    names = ", ".join(("id", *_UPDATE_COLUMNS))
    if dialect == "postgresql":
        arrays = ", ".join(f"%s::{t}[]" for t in ("bigint", *_PG_TYPES))
        # Locked first, in id order, found by key (no plan may scan for the claim);
        # the claim is checked again on the locked rows.
        locked = (
            "WITH locked AS (SELECT id FROM messages WHERE id = ANY(%s::bigint[]) "
            "AND claimed_by = %s ORDER BY id FOR UPDATE), "
            f"v AS (SELECT * FROM unnest({arrays}) AS v({names})) "
        )
        where = tail.format(locked="AND m.id IN (SELECT id FROM locked) ", w="%s", m="m.")
        return locked + head.format(now="%s") + "FROM v " + where
    one = "(" + ", ".join("?" * (1 + len(_UPDATE_COLUMNS))) + ")"
    values = f"WITH v({names}) AS (VALUES {', '.join([one] * rows)}) "
    return values + head.format(now="?") + "FROM v " + tail.format(locked="", w="?", m="")


def _write_back(conn: Connection, worker: str, batch: RecordBatch, now: datetime) -> set[int]:
    """Apply the batch's message updates; return the campaigns of the messages it settled."""
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
        params = (columns[0], worker, *columns, stamp, worker)
        returned += conn.exec_driver_sql(_write_back_sql("postgresql", len(rows)), params).all()
    else:
        for i in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[i : i + _SQLITE_ROWS]
            flat = [value for row in chunk for value in row]
            sql = _write_back_sql("sqlite", len(chunk))
            returned += conn.exec_driver_sql(sql, (*flat, stamp, worker)).all()
    return {c for c, status in returned if c is not None and MessageStatus(status).settled}


def record_sync(conn: Connection, worker: str, batch: RecordBatch, now: datetime) -> None:
    if batch.updates:
        mark_done(conn, _write_back(conn, worker, batch, now), now)
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
    conn: Connection, worker: str, ids: Sequence[int], now: datetime, due: datetime | None = None
) -> int:
    """Hand claimed messages back, due at ``due`` (now by default), without counting an attempt.

    Their reservation marks stay as they are: a message another worker left
    is still taken over properly by whoever claims it next.
    """
    if not ids:
        return 0
    return conn.execute(
        update(_M)
        .where(_M.c.id.in_(ids), _M.c.claimed_by == worker, _M.c.status == "sending")
        .values(status="queued", due_at=due or now, claimed_by=None, updated_at=now)
    ).rowcount


class SqlQueue:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(
        self, worker: str, limit: int, now: datetime, lease_until: datetime
    ) -> list[ClaimedMessage]:
        return await self.db.run(claim_sync, worker, limit, now, lease_until)

    async def record(self, worker: str, batch: RecordBatch, now: datetime) -> None:
        if batch:
            await self.db.run(record_sync, worker, batch, now)

    async def release_claims(
        self, worker: str, ids: Sequence[int], now: datetime, due: datetime | None = None
    ) -> int:
        return await self.db.run(release_claims_sync, worker, ids, now, due)

    async def mark_reserved(
        self, worker: str, reserved: Sequence[tuple[int, int]], at: datetime
    ) -> None:
        await self.db.run(mark_reserved_sync, worker, reserved, at)

    async def mark_handed(self, worker: str, ids: Sequence[int], at: datetime) -> None:
        await self.db.run(mark_handed_sync, worker, ids, at)

    async def renew_leases(self, worker: str, ids: Sequence[int], until: datetime) -> int:
        return await self.db.run(renew_leases_sync, worker, ids, until)

    async def clear_reservations(self, worker: str, ids: Sequence[int]) -> None:
        await self.db.run(clear_reservations_sync, worker, ids)
