"""Delivery events as the admin page shows them: each server's last day, then the events.

The rates and their levels are the ones the automatic pause and the server
page read (``services/operations/events``), so a server highlighted here is
the one the pool is about to pause, for the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from sendpool.services.operations import events
from sendpool.services.operations.events import EventRow, Rates, Thresholds, level
from sendpool.services.tenancy import customers
from sendpool.store.tables import DeliveryEvent, SendingServer

DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class ServerDay:
    """One server's last 24 hours: sends, what came back by kind, and how worrying it is."""

    name: str
    uid: str
    status: str
    rates: Rates
    kinds: dict[str, int] = field(default_factory=dict)  # events by kind, last 24 h
    bounce_level: str = "ok"  # ok | near | pause, as the automatic pause reads it
    complaint_level: str = "ok"

    @property
    def hot(self) -> bool:
        return bool({"near", "pause"} & {self.bounce_level, self.complaint_level})


@dataclass(frozen=True, slots=True)
class EventsPage:
    servers: list[ServerDay]
    rows: list[EventRow]
    server_names: list[str]
    customer_names: list[str]
    thresholds: Thresholds


def _kinds_24h(conn: Connection, now: datetime) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for server_id, kind, n in conn.execute(
        select(DeliveryEvent.server_id, DeliveryEvent.kind, func.count())
        .where(DeliveryEvent.created_at >= now - DAY, DeliveryEvent.server_id.is_not(None))
        .group_by(DeliveryEvent.server_id, DeliveryEvent.kind)
    ):
        out.setdefault(int(server_id or 0), {})[str(kind)] = int(n)
    return out


def server_days(conn: Connection, now: datetime, thresholds: Thresholds) -> list[ServerDay]:
    servers = conn.execute(
        select(
            SendingServer.id, SendingServer.uid, SendingServer.name, SendingServer.status
        ).order_by(SendingServer.name)
    ).all()
    rates = events.rates_24h(conn, [int(s.id) for s in servers], now)
    kinds = _kinds_24h(conn, now)
    out = []
    for s in servers:
        r = rates[int(s.id)]
        enough = r.sent >= thresholds.min_volume
        out.append(
            ServerDay(
                name=s.name,
                uid=s.uid,
                status=s.status,
                rates=r,
                kinds=kinds.get(int(s.id), {}),
                bounce_level=level(r.bounce_rate, thresholds.pause_bounce_rate, enough),
                complaint_level=level(r.complaint_rate, thresholds.pause_complaint_rate, enough),
            )
        )
    return out


def events_page(
    conn: Connection,
    *,
    server: str | None = None,
    kind: str | None = None,
    customer: str | None = None,
    since: datetime | None = None,
    limit: int,
    offset: int,
    now: datetime,
    thresholds: Thresholds,
) -> EventsPage:
    """FieldError, naming the filter, for an unknown server, kind or customer."""
    rows = (
        events.list_events(
            conn,
            server=server,
            kind=kind,
            customer=customer,
            since=since,
            limit=limit,
            offset=offset,
        )
        if limit
        else []
    )
    days = server_days(conn, now, thresholds)
    return EventsPage(
        servers=days,
        rows=rows,
        server_names=[d.name for d in days],
        customer_names=[c.name for c in customers.list_customers(conn)],
        thresholds=thresholds,
    )
