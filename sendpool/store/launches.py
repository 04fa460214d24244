"""Launch: one queued message per eligible subscriber, written in batches.

INSERT ... SELECT moves the rows inside the database, so memory stays flat
however long the list is. Each batch commits on its own, so workers start
sending while the launch goes on; a cursor on the campaign and a unique key
on (campaign, subscriber) make an interrupted launch safe to resume, even by
two launchers at once. Each batch also stamps the campaign's ``updated_at``:
a launch whose stamp is older than ``STALE_LAUNCH_SECONDS`` lost its launcher
(a process that died or was stopped) and any worker may take it over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, func, select, text, update

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.store.campaign_done import mark_done
from sendpool.store.tables import Campaign, Subscriber, Suppression, table
from sendpool.store.types import UTCDateTime

# A batch of 5,000 takes well under a second; a minute without one means nobody is launching.
STALE_LAUNCH_SECONDS = 60.0


def _wall_clock() -> datetime:
    return datetime.now(UTC)


_UID = {
    "sqlite": "lower(hex(randomblob(16)))",
    "postgresql": "replace(gen_random_uuid()::text, '-', '')",
}

_ELIGIBLE = """
FROM subscribers s
WHERE s.list_id = :list_id AND s.status = 'subscribed' AND s.id > :after
  AND NOT EXISTS (
      SELECT 1 FROM suppressions x WHERE x.customer_id = :customer_id AND x.email = s.email
  )
"""


def _insert_sql(dialect: str) -> str:
    return f"""
INSERT INTO messages (uid, customer_id, campaign_id, subscriber_id, recipient, kind, status,
                      attempts, due_at, queued_at, updated_at)
SELECT {_UID[dialect]}, :customer_id, :campaign_id, s.id, s.email, 'campaign',
       '{MessageStatus.QUEUED}', 0, :now, :now, :now
{_ELIGIBLE} AND s.id <= :upto
ORDER BY s.id
ON CONFLICT DO NOTHING
"""


def eligible_count(conn: Connection, list_id: int, customer_id: int) -> int:
    sql = text("SELECT count(*) " + _ELIGIBLE)
    params = {"list_id": list_id, "after": 0, "customer_id": customer_id}
    return int(conn.execute(sql, params).scalar_one())


def _mark_sending(conn: Connection, campaign_id: int, now: datetime) -> None:
    """Every recipient is queued: the launching campaign is sending now."""
    T = table(Campaign)
    conn.execute(
        update(T)
        .where(T.c.id == campaign_id, T.c.status == CampaignStatus.LAUNCHING)
        .values(status=CampaignStatus.SENDING, updated_at=now)
    )


def claim_stalled_launch(conn: Connection, now: datetime) -> int | None:
    """Take over one launch nobody has moved on for a while; None when there is none.

    The stamp is moved in the same statement that checks it, so of two workers
    looking at once only one gets the campaign.
    """
    T = table(Campaign)
    stale = now - timedelta(seconds=STALE_LAUNCH_SECONDS)
    for (cid,) in conn.execute(
        select(T.c.id)
        .where(T.c.status == CampaignStatus.LAUNCHING, T.c.updated_at < stale)
        .order_by(T.c.id)
        .limit(10)
    ):
        taken = conn.execute(
            update(T)
            .where(T.c.id == cid, T.c.status == CampaignStatus.LAUNCHING, T.c.updated_at < stale)
            .values(updated_at=now)
        )
        if taken.rowcount == 1:
            return int(cid)
    return None


def launch_batches(
    engine: Engine,
    campaign_id: int,
    now: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
    max_batches: int | None = None,
    clock: Callable[[], datetime] = _wall_clock,
    halt: threading.Event | None = None,
) -> int:
    """Queue the campaign's messages batch by batch; returns how many were queued now.

    With ``max_batches``, or when ``halt`` is set (the process is stopping), it
    stops between batches and leaves the campaign ``launching`` for whoever
    carries on (see ``claim_stalled_launch``).
    """
    queued = 0
    batches = 0
    T = table(Campaign)
    while (max_batches is None or batches < max_batches) and not (halt and halt.is_set()):
        batches += 1
        with engine.begin() as conn:
            c = conn.execute(
                select(T.c.customer_id, T.c.list_id, T.c.launch_cursor).where(T.c.id == campaign_id)
            ).one()
            S = table(Subscriber)
            X = table(Suppression)
            batch = (
                select(S.c.id)
                .where(
                    S.c.list_id == c.list_id,
                    S.c.status == "subscribed",
                    S.c.id > c.launch_cursor,
                    ~select(X.c.email)
                    .where(X.c.customer_id == c.customer_id, X.c.email == S.c.email)
                    .exists(),
                )
                .order_by(S.c.id)
                .limit(batch_size)
                .subquery()
            )
            upto, size = conn.execute(
                select(func.max(batch.c.id), func.count()).select_from(batch)
            ).one()
            if upto is None:
                _mark_sending(conn, campaign_id, clock())
                # Every message may have gone out while the launch went on.
                mark_done(conn, [campaign_id], clock())
                return queued
            sql = text(_insert_sql(conn.dialect.name)).bindparams(
                bindparam("now", type_=UTCDateTime())
            )
            result = conn.execute(
                sql,
                {
                    "customer_id": c.customer_id,
                    "campaign_id": campaign_id,
                    "list_id": c.list_id,
                    "after": c.launch_cursor,
                    "upto": upto,
                    "now": now,
                },
            )
            conn.execute(
                update(T)
                .where(T.c.id == campaign_id, T.c.launch_cursor < upto)  # never backwards
                .values(launch_cursor=upto, updated_at=clock())
            )
            queued += max(0, result.rowcount or 0)
            last = size < batch_size
            if last:
                _mark_sending(conn, campaign_id, clock())
        if progress is not None:
            progress(queued)
        if last:
            return queued
    return queued


def finish_stalled_launches(
    engine: Engine, now: datetime, *, batch_size: int = 5000, halt: threading.Event | None = None
) -> list[int]:
    """Carry on every launch whose launcher went away; returns the campaigns taken over."""
    finished: list[int] = []
    while not (halt and halt.is_set()):
        with engine.begin() as conn:
            campaign_id = claim_stalled_launch(conn, now)
        if campaign_id is None:
            return finished
        launch_batches(engine, campaign_id, now, batch_size=batch_size, halt=halt)
        finished.append(campaign_id)
    return finished
