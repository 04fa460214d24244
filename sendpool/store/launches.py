"""Launch: one queued message per eligible subscriber, written in batches.

INSERT ... SELECT moves the rows inside the database, so memory stays flat
however long the list is. Each batch commits on its own, so workers start
sending while the launch goes on; a cursor on the campaign and a unique key
on (campaign, subscriber) make an interrupted launch safe to resume.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, func, select, text, update

from sendpool.store.tables import Campaign, Subscriber, Suppression, table
from sendpool.store.types import UTCDateTime

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
SELECT {_UID[dialect]}, :customer_id, :campaign_id, s.id, s.email, 'campaign', 'queued',
       0, :now, :now, :now
{_ELIGIBLE} AND s.id <= :upto
ORDER BY s.id
ON CONFLICT DO NOTHING
"""


def eligible_count(conn: Connection, list_id: int, customer_id: int) -> int:
    sql = text("SELECT count(*) " + _ELIGIBLE)
    params = {"list_id": list_id, "after": 0, "customer_id": customer_id}
    return int(conn.execute(sql, params).scalar_one())


def launch_batches(
    engine: Engine,
    campaign_id: int,
    now: datetime,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Queue the campaign's messages batch by batch; returns how many were queued now."""
    queued = 0
    T = table(Campaign)
    while True:
        with engine.begin() as conn:
            c = conn.execute(
                select(T.c.customer_id, T.c.list_id, T.c.launch_cursor).where(T.c.id == campaign_id)
            ).one()
            S = table(Subscriber)
            X = table(Suppression)
            upto = conn.execute(
                select(func.max(text("id"))).select_from(
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
            ).scalar()
            if upto is None:
                conn.execute(
                    update(T)
                    .where(T.c.id == campaign_id, T.c.status == "launching")
                    .values(status="sending", updated_at=now)
                )
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
            conn.execute(update(T).where(T.c.id == campaign_id).values(launch_cursor=upto))
            queued += max(0, result.rowcount or 0)
        if progress is not None:
            progress(queued)
