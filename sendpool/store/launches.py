"""Launch: one queued message per eligible subscriber, written in batches.

INSERT ... SELECT moves the rows inside the database, so memory stays flat
however long the list is. Each batch commits on its own, so workers start
sending while the launch goes on; a cursor on the campaign and a unique key
on (campaign, subscriber) make an interrupted launch safe to resume, even by
two launchers at once. Each batch also stamps the campaign's ``updated_at``:
a launch whose stamp is older than ``STALE_LAUNCH_SECONDS`` lost its launcher
(a process that died or was stopped) and any worker may take it over.

Every batch costs the same however long the list: it walks the
``(list_id, id)`` index from the cursor (a keyset, never an OFFSET or a sort
of the list), first over the index alone to find where the batch ends, then
over the batch's rows to queue them, probing the suppression list's primary
key once per row. None of it hangs on the planner's statistics: SQLite picks
these index searches with or without them, and PostgreSQL, which with none
(or stale ones) takes the list for a few rows and would read and sort all of
it past the cursor, or hash or scan the suppression list for each batch, runs
a batch's two statements with only index walks allowed (``index_walks``) and
the probe fenced (``OFFSET 0``). As the queue fills, ``ANALYZE messages``
(PostgreSQL) tells the planner there are pending rows, so the workers'
claims, running beside the launch, walk the pending index instead of sorting
every pending row.

All of a campaign's messages carry the campaign's ``part_day`` (set at its
first batch, never changed): on PostgreSQL they sit in one day partition,
and the unique key (campaign, subscriber, part_day) still stops a message
being queued twice (docs/design.md §5.4).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, func, select, text, update

from sendpool.core.states import CampaignStatus, MessageStatus
from sendpool.store.campaign_done import mark_done
from sendpool.store.partitions import day_of
from sendpool.store.tables import Campaign, table
from sendpool.store.types import UTCDateTime

# A batch of 5,000 takes well under a second; a minute without one means nobody is launching.
STALE_LAUNCH_SECONDS = 60.0
# Statistics on messages are refreshed when this many have been queued, then at each
# fourfold (40,000, 160,000, ...) and at the end: a handful of ANALYZEs, however long the list.
FIRST_ANALYZE = 10_000


def _wall_clock() -> datetime:
    return datetime.now(UTC)


# A message's uid starts with its batch's time in milliseconds (as a UUIDv7 does), then 80
# random bits: the unique index on uid then grows at its right edge. Wholly random uids put
# each message on a page of its own in that index, and each batch's commit wrote them all
# again (a launch of a million rewrote gigabytes, more for each batch than the one before).
_UID = {
    "sqlite": "printf('%012x', CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))"
    " || lower(hex(randomblob(10)))",
    "postgresql": "lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint), 12, '0')"
    " || substr(md5(gen_random_uuid()::text), 1, 20)",
}

# Where the batch after ``after`` ends: the index alone, read from the cursor on.
BATCH_END_SQL = """
SELECT max(b.id), count(*) FROM (
    SELECT s.id FROM subscribers s
    WHERE s.list_id = :list_id AND s.id > :after
    ORDER BY s.list_id, s.id
    LIMIT :batch_size
) b
"""

# With statistics that call a table small (none yet, or from when it was), PostgreSQL
# would rather fetch every row of the list past the cursor and sort them to keep the first
# few thousand, or scan the whole suppression list once per subscriber: for a batch's
# statements only walks of an index, in its order, are left to it.
_INDEX_WALKS = (
    "SELECT set_config('enable_seqscan', :on, true), set_config('enable_sort', :on, true), "
    "set_config('enable_bitmapscan', :on, true)"
)


@contextmanager
def index_walks(conn: Connection) -> Iterator[None]:
    """Within the block, PostgreSQL reads rows only by walking an index (SQLite: as it is)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.execute(text(_INDEX_WALKS), {"on": "off"})
    yield
    conn.execute(text(_INDEX_WALKS), {"on": "on"})


def batch_end(
    conn: Connection, list_id: int, after: int, batch_size: int
) -> tuple[int | None, int]:
    """The last id of the batch after ``after`` (None past the end), and the batch's size."""
    params = {"list_id": list_id, "after": after, "batch_size": batch_size}
    with index_walks(conn):
        upto, size = conn.execute(text(BATCH_END_SQL), params).one()
    return upto, int(size)


# OFFSET 0 keeps PostgreSQL from turning the probe into a hash of the whole suppression
# list (an anti-join) for each batch; SQLite has no such plan and no bare OFFSET.
_FENCE = {"sqlite": "", "postgresql": " OFFSET 0"}


def _suppressed(dialect: str) -> str:
    return (
        "SELECT 1 FROM suppressions x WHERE x.customer_id = :customer_id AND x.email = s.email"
        + _FENCE[dialect]
    )


def insert_sql(dialect: str) -> str:
    """The batch's messages: subscribers of the list in (after, upto], not suppressed.

    Every message of a campaign takes the campaign's ``part_day``, so the
    unique key (campaign, subscriber, part_day) stops a second message to a
    subscriber as (campaign, subscriber) did, and on PostgreSQL the whole
    campaign sits in one day partition, whenever its launch is resumed.
    """
    return f"""
INSERT INTO messages (uid, customer_id, campaign_id, subscriber_id, recipient, kind, status,
                      attempts, due_at, queued_at, updated_at, part_day)
SELECT {_UID[dialect]}, :customer_id, :campaign_id, s.id, s.email, 'campaign',
       '{MessageStatus.QUEUED}', 0, :now, :now, :now, :part_day
FROM subscribers s
WHERE s.list_id = :list_id AND s.id > :after AND s.id <= :upto AND s.status = 'subscribed'
  AND NOT EXISTS ({_suppressed(dialect)})
ORDER BY s.list_id, s.id
ON CONFLICT DO NOTHING
"""


# One pass over the list; a join either way is linear, so the planner may choose.
ELIGIBLE_COUNT_SQL = """
SELECT count(*) FROM subscribers s
WHERE s.list_id = :list_id AND s.status = 'subscribed'
  AND NOT EXISTS (
      SELECT 1 FROM suppressions x WHERE x.customer_id = :customer_id AND x.email = s.email
  )
"""


def eligible_count(conn: Connection, list_id: int, customer_id: int) -> int:
    params = {"list_id": list_id, "customer_id": customer_id}
    return int(conn.execute(text(ELIGIBLE_COUNT_SQL), params).scalar_one())


def analyze_messages(conn: Connection) -> None:
    """Fresh planner statistics for the queue (PostgreSQL; SQLite plans it by its indexes).

    After a launch the table holds many more pending rows than the statistics
    last said; the claim would then sort them all to take the first few.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("ANALYZE messages"))


def _analyze_due(before: int, after: int) -> bool:
    """Whether queuing ``before`` -> ``after`` messages passed 10,000 or one of its fourfolds."""
    mark = FIRST_ANALYZE
    while mark <= after:
        if before < mark:
            return True
        mark *= 4
    return False


def campaign_day(conn: Connection, campaign_id: int, known: int | None, now: datetime) -> int:
    """The campaign's part_day: the one it has, else the day of ``now``, set once for good.

    COALESCE in the UPDATE: of two launchers setting it at once, the second
    waits for the first's row lock and then keeps the first's day.
    """
    if known is not None:
        return known
    T = table(Campaign)
    return int(
        conn.execute(
            update(T)
            .where(T.c.id == campaign_id)
            .values(part_day=func.coalesce(T.c.part_day, day_of(now)))
            .returning(T.c.part_day)
        ).scalar_one()
    )


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
                select(T.c.customer_id, T.c.list_id, T.c.launch_cursor, T.c.part_day).where(
                    T.c.id == campaign_id
                )
            ).one()
            upto, size = batch_end(conn, c.list_id, c.launch_cursor, batch_size)
            if upto is None:
                _mark_sending(conn, campaign_id, clock())
                # Every message may have gone out while the launch went on.
                mark_done(conn, [campaign_id], clock())
                analyze_messages(conn)
                return queued
            sql = text(insert_sql(conn.dialect.name)).bindparams(
                bindparam("now", type_=UTCDateTime())
            )
            params = {
                "customer_id": c.customer_id,
                "campaign_id": campaign_id,
                "list_id": c.list_id,
                "after": c.launch_cursor,
                "upto": upto,
                "now": now,
                "part_day": campaign_day(conn, campaign_id, c.part_day, now),
            }
            with index_walks(conn):
                result = conn.execute(sql, params)
            conn.execute(
                update(T)
                .where(T.c.id == campaign_id, T.c.launch_cursor < upto)  # never backwards
                .values(launch_cursor=upto, updated_at=clock())
            )
            before = queued
            queued += max(0, result.rowcount or 0)
            last = size < batch_size
            if last:
                _mark_sending(conn, campaign_id, clock())
        if last or _analyze_due(before, queued):
            with engine.begin() as conn:
                analyze_messages(conn)
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
