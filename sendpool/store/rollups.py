"""Counts of messages read from the rollups the database keeps, and their upkeep (0016).

Triggers on ``messages`` keep the counts (store/tables_rollups.py). On
PostgreSQL they append deltas; every read here sums the totals and the
deltas not folded yet in one statement, so it is exact at any moment, fold
or no fold. ``fold`` moves the deltas into the totals so reads stay small;
``prune`` drops minute buckets older than any read needs.

"Sent in [since, until]" is exact to the microsecond: whole minutes come from
``sends_by_minute``, and the part-minutes at either end from the messages
themselves, a range read of ``ix_messages_server_sent`` no longer than a
minute at each end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    Table,
    cast,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from sendpool.core.states import PENDING_MESSAGE_STATES, MessageStatus
from sendpool.store.rollup_folds import FOLD_STATEMENTS
from sendpool.store.tables import (
    Campaign,
    CampaignCount,
    CampaignCountDelta,
    EventsByMinute,
    Message,
    QueuedByMinute,
    QueuedDelta,
    SendDelta,
    SendingServer,
    SendsByDay,
    SendsByMinute,
    ServerCount,
    ServerCountDelta,
    TransactionalCount,
    TransactionalCountDelta,
    table,
)

FOLD_LOCK = 0x726F6C6C757073  # "rollups": one fold at a time, the others skip
MINUTE = timedelta(minutes=1)
# Minute buckets are kept this long: "the last 24 hours" with a day to spare.
MINUTES_KEPT = timedelta(days=2)
PENDING = tuple(sorted(PENDING_MESSAGE_STATES))
NO_SERVER = 0
# The partial pending index's own condition, as written there (tables.py): a
# planner uses a partial index only for a query that states its condition.
PENDING_INDEX_WHERE = text("status IN ('queued','deferred','sending')")

Key = tuple[Any, ...]


def summed(
    totals: Table, deltas: Table, keys: Sequence[str], value: str, *where: Any
) -> Select[Any]:
    """sum(value) per key over the totals and the unfolded deltas: one statement, one snapshot."""

    def arm(t: Table) -> Select[Any]:
        conds = [w(t) for w in where]
        return select(*(t.c[k] for k in keys), t.c[value].label("v")).where(*conds)

    u = union_all(arm(totals), arm(deltas)).subquery()
    return select(*(u.c[k] for k in keys), func.sum(u.c.v)).group_by(*(u.c[k] for k in keys))


def nonzero(rows: Iterable[Any]) -> dict[Key, int]:
    out: dict[Key, int] = {}
    for row in rows:
        *key, n = row
        if n:
            out[tuple(key)] = int(n)
    return out


def server_counts(conn: Connection) -> dict[tuple[int, str], int]:
    """(server id, 0 for none; status) -> messages, every campaign and kind."""
    stmt = summed(table(ServerCount), table(ServerCountDelta), ("server_id", "status"), "n")
    return {(int(s), str(st)): n for (s, st), n in nonzero(conn.execute(stmt)).items()}


def campaign_counts(
    conn: Connection, campaign_ids: Iterable[int]
) -> dict[tuple[int, int, str], int]:
    """(campaign id, server id or 0, status) -> messages, for the campaigns named."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    stmt = summed(
        table(CampaignCount),
        table(CampaignCountDelta),
        ("campaign_id", "server_id", "status"),
        "n",
        lambda t: t.c.campaign_id.in_(ids),
    )
    return {(int(c), int(s), str(st)): n for (c, s, st), n in nonzero(conn.execute(stmt)).items()}


def transactional_pending(conn: Connection, customer_ids: Iterable[int]) -> int:
    """The customers' transactional messages queued, deferred or being sent (0020)."""
    ids = list(customer_ids)
    if not ids:
        return 0
    stmt = summed(
        table(TransactionalCount),
        table(TransactionalCountDelta),
        ("customer_id",),
        "n",
        lambda t: t.c.customer_id.in_(ids) & t.c.status.in_(PENDING),
    )
    return sum(nonzero(conn.execute(stmt)).values())


def campaigns_pending(conn: Connection) -> int:
    """How many campaigns have messages queued, deferred or being sent."""
    stmt = summed(
        table(CampaignCount),
        table(CampaignCountDelta),
        ("campaign_id",),
        "n",
        lambda t: t.c.status.in_(PENDING),
    )
    return len(nonzero(conn.execute(stmt)))


def queue_depth(conn: Connection, now: datetime) -> tuple[int, int]:
    """(due, waiting): pending messages whose time has come, and those held for later.

    One statement: the pending total from the rollups, less the pending rows
    due after ``now``, counted in the partial pending index (an index range,
    never the table). What waits (windows, back-offs, pauses, leases in
    flight) is the smaller part of a big queue; what is due is the rest.
    """
    S, D = table(ServerCount), table(ServerCountDelta)
    u = union_all(
        select(S.c.n.label("v")).where(S.c.status.in_(PENDING)),
        select(D.c.n.label("v")).where(D.c.status.in_(PENDING)),
    ).subquery()
    total = select(func.coalesce(func.sum(u.c.v), 0)).scalar_subquery()
    later = (
        select(func.count())
        .select_from(table(Message))
        .where(PENDING_INDEX_WHERE, Message.due_at > now)
        .scalar_subquery()
    )
    pending, waiting = conn.execute(select(total, later)).one()
    return max(0, int(pending) - int(waiting)), int(waiting)


def sender_domain(conn: Connection, address: ColumnElement[Any]) -> ColumnElement[str]:
    """What follows the last '@' of ``address``, lower-cased: as the triggers compute it."""
    a = func.coalesce(address, "")
    if conn.dialect.name == "postgresql":
        return func.lower(func.regexp_replace(a, "^.*@", ""))
    return func.lower(func.substr(a, func.length(func.rtrim(a, func.replace(a, "@", ""))) + 1))


def message_domain(conn: Connection) -> ColumnElement[str]:
    """A message's sending domain (its campaign's From, else its own), joined to ``Campaign``."""
    return sender_domain(
        conn, func.coalesce(Campaign.from_email, Message.payload["from_email"].as_string())
    )


def named_servers(conn: Connection, server_ids: Iterable[int] | None) -> list[int]:
    """The servers named, or every server there is: each part-minute is then an index range
    per server."""
    return list(server_ids if server_ids is not None else conn.scalars(select(SendingServer.id)))


def _floor(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


# A part-minute at an end of a window: [lo, hi], or [lo, hi) when not closed.
Span = tuple[datetime, datetime, bool]


def minute_spans(since: datetime, until: datetime) -> tuple[datetime, datetime, list[Span]]:
    """The whole minutes [first, last) in [since, until], and the part-minutes at its ends."""
    first = _floor(since) if _floor(since) == since else _floor(since) + MINUTE
    last = _floor(until)
    if first >= last:
        return first, first, [(since, until, True)]
    spans = [(last, until, True)]
    if since < first:
        spans.append((since, first, False))
    return first, last, spans


def in_span(at: Any, span: Span) -> Any:
    """``at`` within the part-minute ``span``: one index range."""
    lo, hi, closed = span
    return (at >= lo) & ((at <= hi) if closed else (at < hi))


def _edges(since: datetime, until: datetime) -> tuple[datetime, datetime, list[Any]]:
    """The whole minutes [first, last) in [since, until], and the part-minutes as conditions."""
    first, last, spans = minute_spans(since, until)
    return first, last, [in_span(Message.sent_at, s) for s in spans]


def sent_counts(
    conn: Connection,
    since: datetime,
    until: datetime,
    server_ids: Iterable[int] | None = None,
) -> dict[tuple[int, str], int]:
    """(server id, sending domain) -> messages sent in [since, until], exact.

    ``server_ids`` None: every server there is (sends with no server are not counted).
    Minutes older than ``MINUTES_KEPT`` are pruned: older windows read
    ``sends_by_day_since`` instead.
    """
    ids = named_servers(conn, server_ids)
    first, last, edges = _edges(since, until)
    out: dict[tuple[int, str], int] = {}

    def add(rows: Iterable[Any]) -> None:
        for s, d, n in rows:
            if s and n:
                out[(int(s), str(d))] = out.get((int(s), str(d)), 0) + int(n)

    if first < last:

        def window(t: Table) -> Any:
            return t.c.server_id.in_(ids) & (t.c.minute >= first) & (t.c.minute < last)

        stmt = summed(
            table(SendsByMinute), table(SendDelta), ("server_id", "sender_domain"), "sent", window
        )
        add(conn.execute(stmt))
    domain = message_domain(conn)
    for edge in edges:
        mine = [Message.server_id.in_(ids)]
        add(
            conn.execute(
                select(Message.server_id, domain, func.count())
                .outerjoin(Campaign, Campaign.id == Message.campaign_id)
                .where(*mine, edge, Message.status == MessageStatus.SENT)
                .group_by(Message.server_id, domain)
            )
        )
    return out


def sent_by_server(
    conn: Connection, server_ids: Iterable[int], since: datetime, until: datetime
) -> dict[int, int]:
    """Server id -> messages sent in [since, until], exact."""
    ids = list(server_ids)
    out = dict.fromkeys(ids, 0)
    for (s, _d), n in sent_counts(conn, since, until, ids).items():
        out[s] = out.get(s, 0) + n
    return out


def queued_between(
    conn: Connection,
    campaign_ids: Iterable[int],
    customer_ids: Iterable[int],
    since: datetime,
    until: datetime,
) -> int:
    """Messages queued in the minutes from ``since``'s to ``until``'s, of the campaigns
    named and the transactional mail of the customers named.

    Whole minutes: every message queued from ``since``'s minute up to ``until``
    (a message is never queued in the future), exact over that window.
    """
    campaigns, customers = list(campaign_ids), list(customer_ids)
    first = _floor(since)

    def mine(t: Table) -> Any:
        ours = t.c.campaign_id.in_(campaigns) | (
            (t.c.campaign_id == 0) & t.c.customer_id.in_(customers)
        )
        return ours & (t.c.minute >= first) & (t.c.minute <= until)

    stmt = summed(table(QueuedByMinute), table(QueuedDelta), ("customer_id",), "n", mine)
    return sum(nonzero(conn.execute(stmt)).values())


def sends_by_day_since(
    conn: Connection, first: date, server_id: int | None = None
) -> list[tuple[int, date, int, int, int]]:
    """(server id, day, customer id, campaign id or 0, messages sent) for UTC days from ``first``.

    With ``server_id``, that server's alone: a range of the days' primary key.
    """
    T, D = table(SendsByDay), table(SendDelta)
    keys = ("server_id", "day", "customer_id", "campaign_id")
    totals = select(*(T.c[k] for k in keys), T.c.sent.label("v")).where(
        T.c.day >= first.isoformat()
    )
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    day = func.substr(cast(D.c.minute, String), 1, 10).label("day")
    deltas = select(D.c.server_id, day, D.c.customer_id, D.c.campaign_id, D.c.sent.label("v"))
    deltas = deltas.where(D.c.minute >= start)
    if server_id is not None:
        totals = totals.where(T.c.server_id == server_id)
        deltas = deltas.where(D.c.server_id == server_id)
    u = union_all(totals, deltas).subquery()
    stmt = select(*(u.c[k] for k in keys), func.sum(u.c.v)).group_by(*(u.c[k] for k in keys))
    out = []
    for row in conn.execute(stmt):
        s, d, cu, ca, n = tuple(row)
        if n:
            out.append((int(s), date.fromisoformat(str(d)[:10]), int(cu), int(ca), int(n)))
    return out


def sent_per_day(conn: Connection, server_id: int, first: date) -> dict[date, int]:
    """One server's messages sent per UTC day from ``first``, every customer and campaign."""
    out: dict[date, int] = defaultdict(int)
    for _s, day, _customer, _campaign, n in sends_by_day_since(conn, first, server_id):
        out[day] += n
    return dict(out)


def fold(conn: Connection) -> bool:
    """Move the deltas into the totals, in the caller's transaction; False if another fold runs.

    PostgreSQL only (SQLite's triggers write the totals). Each DELETE ...
    RETURNING takes the deltas committed when it starts; deltas written
    meanwhile wait for the next fold. Rows of campaigns deleted since are
    dropped: the campaigns still there are locked FOR KEY SHARE first, so a
    deletion waits for the fold instead of meeting it half-way.
    """
    if conn.dialect.name != "postgresql":
        return False
    if not conn.execute(select(func.pg_try_advisory_xact_lock(FOLD_LOCK))).scalar_one():
        return False
    for statement in FOLD_STATEMENTS:
        conn.exec_driver_sql(statement)
    return True


def prune(conn: Connection, now: datetime) -> int:
    """Drop minute buckets older than ``MINUTES_KEPT`` (the days keep their sends), and zeros.

    A count back at zero (a campaign's queued messages, all sent) is a row no
    read needs; the next change makes it again. So the pending rows of
    ``campaign_counts`` are those of campaigns with mail still to send.
    """
    gone = 0
    for minutes in (SendsByMinute, QueuedByMinute, EventsByMinute):
        T = table(minutes)
        gone += int(conn.execute(T.delete().where(T.c.minute < now - MINUTES_KEPT)).rowcount or 0)
    for model in (CampaignCount, ServerCount, TransactionalCount):
        z = table(model)
        gone += int(conn.execute(z.delete().where(z.c.n == 0)).rowcount or 0)
    return gone


def upkeep(conn: Connection, now: datetime) -> bool:
    """One periodic turn: fold the deltas (PostgreSQL), then prune old minutes."""
    folded = fold(conn)
    prune(conn, now)
    return folded
