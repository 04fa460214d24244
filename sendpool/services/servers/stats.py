"""Numbers about servers: last-24-hour sends, bounces and complaints, and window usage now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from sendpool.core.rebalance import Activity
from sendpool.core.states import MessageStatus, ServerStatus
from sendpool.core.windows import windows_at
from sendpool.pipeline.pool import view_of
from sendpool.secretbox import SecretBox
from sendpool.services import refs
from sendpool.store.catalog import server_row
from sendpool.store.ledger_sql import usage_sync
from sendpool.store.records import ServerRow
from sendpool.store.tables import DeliveryEvent, Message, SendingServer


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
    """Sent messages, hard bounces and complaints per server since ``now`` - 24 h."""
    ids = list(server_ids)
    since = now - timedelta(hours=24)
    sent: dict[int, int] = {}
    for server_id, n in conn.execute(
        select(Message.server_id, func.count())
        .where(
            Message.server_id.in_(ids),
            Message.status == MessageStatus.SENT,
            Message.sent_at >= since,
        )
        .group_by(Message.server_id)
    ):
        if server_id is not None:
            sent[int(server_id)] = int(n)
    events: Counter[tuple[int, str]] = Counter()
    for server_id, kind, n in conn.execute(
        select(DeliveryEvent.server_id, DeliveryEvent.kind, func.count())
        .where(
            DeliveryEvent.server_id.in_(ids),
            DeliveryEvent.kind.in_(("hard_bounce", "complaint")),
            DeliveryEvent.created_at >= since,
        )
        .group_by(DeliveryEvent.server_id, DeliveryEvent.kind)
    ):
        if server_id is not None:
            events[(int(server_id), str(kind))] = int(n)
    return {
        i: Activity(
            sent=int(sent.get(i, 0)),
            bounces=events[(i, "hard_bounce")],
            complaints=events[(i, "complaint")],
        )
        for i in ids
    }


def window_usage(
    conn: Connection, rows: Iterable[ServerRow], now: datetime
) -> dict[int, WindowUsage]:
    rows = list(rows)
    windows = {r.id: windows_at(now, r.timezone) for r in rows}
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
    act = activity_24h(conn, [server_id], now)[server_id]
    return ServerStats(
        uid=row.uid,
        name=row.name,
        sending_limit=row.sending_limit,
        sent_last_24h=act.sent,
        bounces_last_24h=act.bounces,
        bounce_rate_last_24h=act.bounce_rate,
        complaints_last_24h=act.complaints,
        usage=window_usage(conn, [row], now)[server_id],
    )


def pool_overview(conn: Connection, box: SecretBox, now: datetime) -> PoolOverview:
    ids = conn.execute(select(SendingServer.id)).scalars().all()
    rows = server_rows(conn, box, ids, now)
    usage = window_usage(conn, rows, now)
    health = [r.health if r.status == ServerStatus.ACTIVE else ServerStatus.DISABLED for r in rows]
    return PoolOverview(
        by_type=dict(sorted(Counter(r.type for r in rows).items())),
        by_health=dict(sorted(Counter(health).items())),
        servers=[PoolServer(r.uid, r.name, r.type, r.status, r.health, usage[r.id]) for r in rows],
    )
