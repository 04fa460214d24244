"""Counts of delivery events read from the rollups the database keeps (0019).

A trigger on ``delivery_events`` counts each event as it is written, by
server, the sending domain of its message, its kind and the minute (and the
UTC day) of the send it is about: the event's ``sent_at``, or its own
``created_at`` for the events written at the send itself (store/reports.py).
"The events about the sends in [since, until]" is exact to the microsecond,
as the sends' own counts are (store/rollups.py): whole minutes from
``events_by_minute``, the part-minutes at either end from the events
themselves, each a range of an index of ``delivery_events`` no longer than a
minute. So the 24-hour figures cost the minutes of a day, not the events.
"""

from __future__ import annotations

import typing
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, String, Table, cast, func, select, union_all

from sendpool.store.rollups import (
    in_span,
    message_domain,
    minute_spans,
    named_servers,
    nonzero,
    summed,
)
from sendpool.store.tables import (
    Campaign,
    DeliveryEvent,
    EventDelta,
    EventsByDay,
    EventsByMinute,
    Message,
    table,
)


def event_counts(
    conn: Connection,
    since: datetime,
    until: datetime,
    kinds: Sequence[str],
    server_ids: Iterable[int] | None = None,
) -> dict[tuple[int, str, str], int]:
    """(server id, sending domain, kind) -> events of ``kinds`` about the sends in [since, until].

    ``server_ids`` None: every server there is. Minutes are kept two days
    (rollups.MINUTES_KEPT); older windows read ``events_per_day``.
    """
    ids = named_servers(conn, server_ids)
    wanted = list(kinds)
    out: dict[tuple[int, str, str], int] = defaultdict(int)
    if not ids or not wanted:
        return {}
    first, last, spans = minute_spans(since, until)
    if first < last:

        def window(t: Table) -> Any:
            return (
                t.c.server_id.in_(ids)
                & (t.c.minute >= first)
                & (t.c.minute < last)
                & t.c.kind.in_(wanted)
            )

        stmt = summed(
            table(EventsByMinute),
            table(EventDelta),
            ("server_id", "sender_domain", "kind"),
            "n",
            window,
        )
        for (s, d, k), n in nonzero(conn.execute(stmt)).items():
            out[(int(s), str(d), str(k))] += n
    E = DeliveryEvent
    domain = message_domain(conn)
    for span in spans:
        # The send's time where the event knows it, else the event's own.
        for at in (in_span(E.sent_at, span), E.sent_at.is_(None) & in_span(E.created_at, span)):
            rows = conn.execute(
                select(E.server_id, domain, E.kind, func.count())
                .outerjoin(Message, Message.id == E.message_id)
                .outerjoin(Campaign, Campaign.id == Message.campaign_id)
                .where(E.server_id.in_(ids), E.kind.in_(wanted), at)
                .group_by(E.server_id, domain, E.kind)
            )
            for s, d, k, n in rows:  # s: one of the servers named
                out[(typing.cast(int, s), str(d), str(k))] += int(n)
    return {key: n for key, n in out.items() if n}


def events_per_day(
    conn: Connection, server_id: int, first: date, kinds: Sequence[str]
) -> dict[date, int]:
    """One server's events of ``kinds`` per UTC day of the send they are about, from ``first``."""
    T, D = table(EventsByDay), table(EventDelta)
    wanted = list(kinds)
    totals = select(T.c.day, T.c.n.label("v")).where(
        T.c.server_id == server_id, T.c.day >= first.isoformat(), T.c.kind.in_(wanted)
    )
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    day = func.substr(cast(D.c.minute, String), 1, 10).label("day")
    deltas = select(day, D.c.n.label("v")).where(
        D.c.server_id == server_id, D.c.minute >= start, D.c.kind.in_(wanted)
    )
    u = union_all(totals, deltas).subquery()
    out: dict[date, int] = {}
    for d, n in conn.execute(select(u.c.day, func.sum(u.c.v)).group_by(u.c.day)):
        if n:
            out[date.fromisoformat(str(d)[:10])] = int(n)
    return out
