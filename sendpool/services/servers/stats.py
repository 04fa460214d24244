"""Numbers about servers: last-24-hour sends, bounces and complaints, and window usage now.

The 24-hour figures count bounces and complaints by the original send time
(docs/design.md §6), over the messages sent in that window; the sends are
read from the rollups the database keeps (store/rollups.py), exact to the
second, never by counting the messages table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from sendpool.core.rebalance import Activity
from sendpool.core.servers import Usage
from sendpool.core.states import ServerStatus
from sendpool.core.windows import windows_at
from sendpool.pipeline.pool import view_of
from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.store.catalog import server_row
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.records import ServerRow
from sendpool.store.reports import (
    BOUNCE_KINDS,
    COMPLAINT_KIND,
    deferrals_since,
    events_by_sender,
    figures,
    sent_by_sender,
)
from sendpool.store.tables import SendingServer

DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """One server's current hour and day windows; a cap is what may be sent in the window."""

    hour_used: int
    hour_cap: int  # the hourly limit, or the day's cap when there is none
    hour_resets_at: datetime
    day_used: int
    day_cap: int  # min(sending_limit, warm-up cap) while warming
    day_resets_at: datetime
    warming: bool


@dataclass(frozen=True, slots=True)
class ServerStats:
    uid: str
    name: str
    sending_limit: int
    sent_last_24h: int
    bounces_last_24h: int
    bounce_rate_last_24h: float
    complaints_last_24h: int
    usage: WindowUsage
    # The same figures per sending domain (the domain of the messages' From).
    by_sending_domain: tuple[DomainActivity, ...] = ()
    complaint_rate_last_24h: float = 0.0
    deferrals_last_24h: int = 0  # reported in the last 24 hours (DSN delayed, vendor deferred)


@dataclass(frozen=True, slots=True)
class PoolServer:
    uid: str
    name: str
    type: str
    status: str
    health: str
    usage: WindowUsage


@dataclass(frozen=True, slots=True)
class PoolOverview:
    by_type: dict[str, int]
    by_health: dict[str, int]
    servers: list[PoolServer]


def activity_24h(conn: Connection, server_ids: Iterable[int], now: datetime) -> dict[int, Activity]:
    """Per server: messages sent since ``now`` - 24 h, and the bounces and complaints about them.

    Events count by the original send time, so a bounce that arrives tomorrow
    lands on today's send, and the rate is over the sends it is about.
    """
    got = figures(conn, server_ids, now - DAY, now)
    return {
        i: Activity(sent=f.sent, bounces=f.bounces, complaints=f.complaints) for i, f in got.items()
    }


@dataclass(frozen=True, slots=True)
class DomainActivity:
    """One server's last 24 hours for one sending domain (the domain of the messages' From)."""

    server_id: int
    domain: str
    activity: Activity


def activity_by_domain_24h(
    conn: Connection, now: datetime, server_ids: Iterable[int] | None = None
) -> list[DomainActivity]:
    """Sends, bounces and complaints per server and sending domain, by original send time.

    Both come from the rollups (per minute and domain, store/rollups.py and
    store/event_rollups.py); ``server_ids`` narrows both to those servers.
    """
    since = now - DAY
    ids = None if server_ids is None else list(server_ids)
    sent: Counter[tuple[int, str]] = Counter()
    for server_id, domain, n in sent_by_sender(conn, since, now, ids):
        sent[(server_id, domain or "")] += n
    events: Counter[tuple[int, str, str]] = Counter()
    for server_id, domain, kind, n in events_by_sender(conn, since, now, ids):
        events[(server_id, domain, kind)] += n
    keys = sorted(set(sent) | {(s, d) for s, d, _k in events})
    return [
        DomainActivity(
            s,
            d,
            Activity(
                sent=sent[(s, d)],
                bounces=sum(events[(s, d, k)] for k in BOUNCE_KINDS),
                complaints=events[(s, d, COMPLAINT_KIND)],
            ),
        )
        for s, d in keys
    ]


def window_usage(
    conn: Connection,
    rows: Iterable[ServerRow],
    now: datetime,
    used: Mapping[int, Usage] | None = None,
) -> dict[int, WindowUsage]:
    """Each server's windows now against its caps; ``used``: the ledger's usage, if read already."""
    rows = list(rows)
    windows = {r.id: windows_at(now, r.timezone) for r in rows}
    if used is None:
        used = usage_sync(conn, windows)
    out = {}
    for r in rows:
        view = view_of(r)
        caps = view.caps(now)
        w, u = windows[r.id], used[r.id]
        out[r.id] = WindowUsage(
            hour_used=u.hour_used,
            hour_cap=caps.hourly if caps.hourly is not None else caps.daily,
            hour_resets_at=w.hour.end,
            day_used=u.day_used,
            day_cap=caps.daily,
            day_resets_at=w.day.end,
            warming=view.is_warming(now),
        )
    return out


def server_rows(
    conn: Connection, box: SecretBox, ids: Iterable[int], now: datetime
) -> list[ServerRow]:
    from sqlalchemy.orm import Session

    with Session(bind=conn) as session:
        servers = session.scalars(
            select(SendingServer)
            .where(SendingServer.id.in_(list(ids)))
            .order_by(SendingServer.name)
        ).all()
        return [server_row(conn, s, box, now.date()) for s in servers]


def server_stats(conn: Connection, box: SecretBox, ref: str, now: datetime) -> ServerStats:
    server_id = refs.server_id(conn, ref)
    (row,) = server_rows(conn, box, [server_id], now)
    # The totals are the sums of the per-domain figures: one read of the rollups, not two.
    by_domain = activity_by_domain_24h(conn, now, [server_id])
    act = Activity(
        sent=sum(d.activity.sent for d in by_domain),
        bounces=sum(d.activity.bounces for d in by_domain),
        complaints=sum(d.activity.complaints for d in by_domain),
    )
    return ServerStats(
        uid=row.uid,
        name=row.name,
        sending_limit=row.sending_limit,
        sent_last_24h=act.sent,
        bounces_last_24h=act.bounces,
        bounce_rate_last_24h=act.bounce_rate,
        complaints_last_24h=act.complaints,
        complaint_rate_last_24h=act.complaint_rate,
        deferrals_last_24h=deferrals_since(conn, server_id, now - DAY, now),
        usage=window_usage(conn, [row], now)[server_id],
        by_sending_domain=tuple(by_domain),
    )


def pool_overview(conn: Connection, box: SecretBox, now: datetime) -> PoolOverview:
    ids = conn.execute(select(SendingServer.id)).scalars().all()
    rows = server_rows(conn, box, ids, now)
    usage = window_usage(conn, rows, now)
    # A disabled or paused server shows as that, whatever its last check said.
    health = [r.health if r.status == ServerStatus.ACTIVE else r.status for r in rows]
    return PoolOverview(
        by_type=dict(sorted(Counter(r.type for r in rows).items())),
        by_health=dict(sorted(Counter(health).items())),
        servers=[PoolServer(r.uid, r.name, r.type, r.status, r.health, usage[r.id]) for r in rows],
    )
